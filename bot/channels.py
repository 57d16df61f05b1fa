"""The gateway's way into the bot: Rasa's REST channel (same path, /webhooks/rest/webhook, same
replies), answering only requests that carry Rasa's token (RASA_AUTH_TOKEN, `?token=`), as
Rasa's own HTTP API does with `--auth-token`. Without it anyone who reached the port could talk
to the bot past the gateway's states, deduplication and records."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request

from bot.servers import token_matches


class GatewayInput(RestInput):
    @classmethod
    def name(cls) -> str:
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = super().blueprint(on_new_message)
        token = os.environ.get("RASA_AUTH_TOKEN", "")

        @bp.middleware("request")
        async def _token(request: Request):
            if not token or not token_matches(request.args.get("token"), token):
                return response.json({"error": "token required"}, status=401)

        return bp
