"""The bot runtime's two servers as `make run` and compose start them: `python -m bot.servers
rasa|actions`. Both listen on BOT_INTERFACE (127.0.0.1 unless set, e.g. 0.0.0.0 in compose's
private network) and answer only callers holding their token, read from the environment so it
never shows in a process list:

- rasa: Rasa's HTTP API and the gateway's REST channel (bot.channels) need RASA_AUTH_TOKEN
  (Rasa's token auth, `?token=`); `/` and `/version` stay open for health checks.
- actions: the action server needs ACTIONS_TOKEN, which Rasa sends with every call
  (`token` of the action endpoint); `/health` stays open.

Without its token a server refuses to start: an open bot would let anyone read or rewrite the
citizens' trackers.
"""

from __future__ import annotations

import hmac
import os
import sys

from hotline.privacy import mask_log_records

OPEN_PATHS = {"rasa": ("/", "/version"), "actions": ("/health",)}


def interface() -> str:
    return os.environ.get("BOT_INTERFACE", "127.0.0.1")


def required_token(name: str) -> str:
    token = os.environ.get(name, "")
    if len(token) < 16:
        raise SystemExit(f"{name} is unset or shorter than 16 characters: the bot's servers "
                         "answer only callers holding it (make run generates one)")
    return token


def token_matches(given: str | None, token: str) -> bool:
    return hmac.compare_digest((given or "").encode(), token.encode())


def rasa_argv(token: str, argv: list[str]) -> list[str]:
    # `--auth-token=…` in one piece: a token may begin with "-", which argparse would otherwise
    # take for an option (token_urlsafe makes one in 64 so).
    return ["rasa", "run", "--enable-api", "--interface", interface(), f"--auth-token={token}", *argv]


def run_rasa(argv: list[str]) -> None:
    """`rasa run` itself, given the interface and the token (not on our own command line)."""
    mask_log_records()  # trackers, SQL errors of the tracker store: no number in full
    sys.argv = rasa_argv(required_token("RASA_AUTH_TOKEN"), argv)
    from rasa.__main__ import main

    main()


def run_actions(argv: list[str]) -> None:
    import logging

    from rasa_sdk.endpoint import create_app
    from sanic import response

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s - %(message)s")
    mask_log_records()
    port = int(argv[argv.index("--port") + 1])
    token = required_token("ACTIONS_TOKEN")
    app = create_app("actions", cors_origins=None)

    @app.middleware("request")
    async def _token(request):
        if request.path not in OPEN_PATHS["actions"] and not token_matches(
                request.args.get("token"), token):
            return response.json({"error": "token required"}, status=401)

    app.run(interface(), port, access_log=False, workers=1)


if __name__ == "__main__":
    {"rasa": run_rasa, "actions": run_actions}[sys.argv[1]](sys.argv[2:])
