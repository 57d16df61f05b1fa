"""Web chat channel: the chat page, `POST /channels/web/messages` (a citizen's turn; also used
by tests) and `GET /channels/web/messages` (what was sent to the page since: late replies, a
person's messages, notices). The sender id, made at random by the page, is the key to the
conversation: only who holds it reads it."""

from __future__ import annotations

import asyncio

from sanic import Blueprint, Request, json
from sqlalchemy import select, update

from channels import events
from channels.gateway import Incoming
from channels.models import Conversation, Message
from channels.outbound import Outcome
from hotline.auth import public
from hotline.db import utcnow
from hotline.errors import invalid, read_json
from hotline.templating import render

bp = Blueprint("channel_web")

MAX_TEXT = 2000
LONG_POLL_S = 20.0
WEB_SLACK_S = 2.0  # the page waits for the bot's own timeout and a little more
SHOWN = ("sent", "delivered")


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
@public(limit="chat")
async def post_message(request: Request):
    data = await read_json(request)
    sender = _field(data, "sender", 128)
    text = _field(data, "text", MAX_TEXT)
    message_id = _field(data, "message_id", 128, required=False)
    metadata = data.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise invalid("metadata", "metadata must be an object")
    metadata = {k: v for k, v in metadata.items() if k in ("region",) and isinstance(v, str)}
    ctx = request.app.ctx
    result = await ctx.gateway.receive(Incoming("web", sender, text, message_id, metadata),
                                       ctx.settings.rasa_timeout_s + WEB_SLACK_S)
    return json({"conversation_id": result.conversation_id, "message_id": result.inbound_id,
                 "replies": result.replies, "duplicate": result.duplicate,
                 "status": result.status, "deferred": result.deferred},
                status=200 if result.bot_available else 503)


@bp.get("/channels/web/messages")
@public(limit="read")
async def new_messages(request: Request):
    """Messages sent to this page after `after` (a message id), marked delivered once read.
    With `wait=1` the request waits (up to LONG_POLL_S) until there is one: a person's reply
    shows at once without the page asking every second."""
    sender = (request.args.get("sender") or "").strip()
    if not sender or len(sender) > 128:
        raise invalid("sender", "sender is required")
    try:
        after = int(request.args.get("after", "0"))
    except ValueError:
        raise invalid("after", "after must be a message id") from None
    ctx = request.app.ctx
    loop = asyncio.get_running_loop()
    until = loop.time() + (LONG_POLL_S if request.args.get("wait") == "1" else 0)
    while True:
        since = await _stream_position(ctx.redis)  # before reading: nothing slips in between
        found = await _read(ctx.sessions, sender, after)
        if found["messages"] or loop.time() >= until or found.get("conversation_id") is None:
            found.pop("conversation_id", None)
            return json(found)
        await _wait_for(ctx.redis_stream, found["conversation_id"], since, until - loop.time())


async def _stream_position(redis) -> str:
    last = await redis.xrevrange(events.STREAM, count=1)
    return last[0][0] if last else "0-0"


async def _wait_for(redis, conv_id: int, since: str, seconds: float) -> None:
    """Until an event of this conversation appears on the stream (or `seconds` pass)."""
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    while (left := until - loop.time()) > 0:
        got = await redis.xread({events.STREAM: since}, block=max(int(left * 1000), 1), count=200)
        for entry_id, fields in (got[0][1] if got else []):
            since = entry_id
            if int(fields.get("conversation_id", 0)) == conv_id and fields.get("kind") != "note":
                return


async def _read(sf, sender: str, after: int) -> dict:
    async with sf() as s, s.begin():
        conv = await s.scalar(select(Conversation).where(Conversation.channel == "web",
                                                         Conversation.contact_id == sender))
        if conv is None:
            return {"messages": [], "status": "bot", "conversation_id": None}
        rows = list(await s.scalars(select(Message).where(
            Message.conversation_id == conv.id, Message.direction == "out", Message.id > after,
            Message.state.in_(SHOWN)).order_by(Message.id).limit(100)))
        fresh = [m.id for m in rows if m.state == "sent"]
        if fresh:
            await s.execute(update(Message).where(Message.id.in_(fresh))
                            .values(state="delivered", updated_at=utcnow()))
        return {"status": conv.status, "conversation_id": conv.id, "messages": [
            {"id": m.id, "author": m.author, "text": m.text,
             **({"buttons": m.payload["buttons"]} if (m.payload or {}).get("buttons") else {})}
            for m in rows]}


async def send(conv: Conversation, msg: Message, lease) -> Outcome:
    """The outbound path's web sender: the page fetches it (then it is `delivered`)."""
    return Outcome("sent", "网页对话：群众打开页面时即可看到")


@bp.get("/chat")
@public(limit="read")
async def chat_page(request: Request):
    return await render(request, "chat.html")
