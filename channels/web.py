"""Web chat channel: the chat page and POST /channels/web/messages (also used by tests)."""

from __future__ import annotations

from sanic import Blueprint, Request, json

from channels.gateway import handle_incoming
from hotline.errors import invalid, read_json
from hotline.templating import render

bp = Blueprint("channel_web")

MAX_TEXT = 2000


def _field(data: dict, name: str, limit: int, required: bool = True) -> str | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise invalid(name, f"{name} is required and must be a non-empty string")
    if len(value) > limit:
        raise invalid(name, f"{name} is longer than {limit} characters")
    return value.strip()


@bp.post("/channels/web/messages")
async def post_message(request: Request):
    data = await read_json(request)
    sender = _field(data, "sender", 128)
    text = _field(data, "text", MAX_TEXT)
    message_id = _field(data, "message_id", 128, required=False)
    metadata = data.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise invalid("metadata", "metadata must be an object")
    metadata = {k: v for k, v in metadata.items() if k in ("region",) and isinstance(v, str)}
    result = await handle_incoming(request.app.ctx, "web", sender, text, message_id, metadata)
    return json({"conversation_id": result.conversation_id, "replies": result.replies,
                 "duplicate": result.duplicate}, status=200 if result.bot_available else 503)


@bp.get("/chat")
async def chat_page(request: Request):
    return await render(request, "chat.html")
