"""Conversation gateway: stores every turn, routes it to the bot, records the replies.

Retries of a channel message (same external id) are one turn: the stored replies are
returned and nothing is sent to the bot twice. Turns of one conversation are serialised
with a Redis lock so replies stay in order when a channel delivers concurrently.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml
from sqlalchemy import select

from channels.models import Conversation, Message
from channels.rasa_client import RasaUnavailable, send_to_rasa
from hotline.db import utcnow
from hotline.settings import ROOT

log = logging.getLogger(__name__)


@cache
def texts() -> dict[str, str]:
    return yaml.safe_load(Path(__file__).with_name("replies.yml").read_text(encoding="utf-8"))


@cache
def crisis_words() -> re.Pattern:
    """The bot's own crisis lexicon (regex `crisis_words` in nlu_data/regex.yml), so the gateway
    hands a crisis to a person even when the bot cannot answer."""
    doc = yaml.safe_load((ROOT / "nlu_data/regex.yml").read_text(encoding="utf-8"))
    patterns = [line.strip()[2:] for entry in doc["nlu"] if entry.get("regex") == "crisis_words"
                for line in entry["examples"].splitlines() if line.strip().startswith("- ")]
    if not patterns:
        raise RuntimeError("nlu_data/regex.yml has no crisis_words")
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


def _request_handoff(conv: Conversation, handoff: dict) -> None:
    # An agent takes over from the queue of requested handoffs; until one does, the bot keeps
    # answering so the citizen is never left without a reply.
    conv.status = "handoff"
    conv.meta = {**conv.meta, "handoff": {**handoff, "requested_at": utcnow().isoformat()}}
    log.info("handoff requested for conversation %s: %s", conv.id, handoff.get("reason"))


@dataclass
class TurnResult:
    conversation_id: int
    replies: list[dict]
    duplicate: bool = False
    bot_available: bool = True


async def _get_or_create_conversation(s, channel: str, contact_id: str, metadata: dict):
    conv = await s.scalar(
        select(Conversation).where(Conversation.channel == channel,
                                   Conversation.contact_id == contact_id)
    )
    if conv is None:
        conv = Conversation(channel=channel, contact_id=contact_id, meta=dict(metadata))
        s.add(conv)
        await s.flush()
    elif metadata and any(conv.meta.get(k) != v for k, v in metadata.items()):
        conv.meta = {**conv.meta, **metadata}
    conv.last_activity_at = utcnow()
    return conv


async def _stored_replies(s, message_id: int) -> list[dict]:
    rows = await s.scalars(
        select(Message).where(Message.reply_to_id == message_id).order_by(Message.id)
    )
    return [m.payload or {"text": m.text} for m in rows]


async def handle_incoming(
    app_ctx, channel: str, contact_id: str, text: str,
    external_id: str | None = None, metadata: dict | None = None,
) -> TurnResult:
    metadata = metadata or {}
    sf = app_ctx.sessions
    lock = app_ctx.redis.lock(f"lock:conversation:{channel}:{contact_id}",
                              timeout=120, blocking_timeout=60)
    async with lock:
        async with sf() as s, s.begin():
            conv = await _get_or_create_conversation(s, channel, contact_id, metadata)
            inbound = None
            if external_id:
                inbound = await s.scalar(select(Message).where(
                    Message.conversation_id == conv.id, Message.external_id == external_id))
            if inbound is not None and inbound.payload and inbound.payload.get("answered"):
                return TurnResult(conv.id, await _stored_replies(s, inbound.id), duplicate=True)
            if inbound is None:
                inbound = Message(conversation_id=conv.id, direction="in", author="citizen",
                                  external_id=external_id, text=text, payload={"answered": False})
                s.add(inbound)
                await s.flush()
            conv_id, inbound_id, sender = conv.id, inbound.id, conv.sender_key
            bot_metadata = {**conv.meta, "channel": channel, "conversation_id": conv.id}

        try:
            replies = await send_to_rasa(app_ctx.http, app_ctx.settings.rasa_url, sender, text,
                                         bot_metadata, app_ctx.settings.rasa_timeout_s)
        except RasaUnavailable as exc:
            log.error("bot unavailable for conversation %s: %s", conv_id, exc)
            # The citizen's message is stored unanswered; a retry with the same id re-runs it.
            if not crisis_words().search(text):
                return TurnResult(conv_id, [{"text": texts()["bot_unavailable"]}],
                                  bot_available=False)
            # Words of crisis cannot wait for the bot: a person takes over now.
            async with sf() as s, s.begin():
                _request_handoff(await s.get(Conversation, conv_id),
                                 {"reason": "crisis", "summary": texts()["crisis_handoff_summary"],
                                  "by": "gateway"})
            return TurnResult(conv_id, [{"text": texts()["bot_unavailable_crisis"]}],
                              bot_available=False)

        async with sf() as s, s.begin():
            for r in replies:
                s.add(Message(conversation_id=conv_id, direction="out", author="bot",
                              reply_to_id=inbound_id, text=r.get("text", ""), payload=r))
            msg = await s.get(Message, inbound_id)
            msg.payload = {"answered": True}
            handoff = next((r["custom"]["handoff"] for r in replies
                            if isinstance(r.get("custom"), dict) and "handoff" in r["custom"]), None)
            if handoff is not None:
                _request_handoff(await s.get(Conversation, conv_id), handoff)
        return TurnResult(conv_id, replies)
