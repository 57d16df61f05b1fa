"""What happens in conversations, as a stream the agents' desk follows: a new message, a
delivery state, a conversation changing state. A Redis stream rather than plain pub/sub, so a
page that reconnects resumes from the last event id it saw and loses nothing, whichever app
process serves it."""

from __future__ import annotations

import json

from hotline.cache import breaker

STREAM = "events:conversations"
KEEP = 20_000  # about a day of a busy hotline; a page away longer reloads instead


async def publish(redis, kind: str, conversation_id: int, **data) -> None:
    """Best effort: the database is the record; a lost event only delays a screen, and a Redis
    that does not answer must not hold up a citizen's turn (hotline.cache.Breaker)."""
    fields = {"kind": kind, "conversation_id": str(conversation_id),
              "data": json.dumps(data, ensure_ascii=False, default=str)}
    await breaker(redis).run(f"event {kind} of conversation {conversation_id}",
                             lambda: redis.xadd(STREAM, fields, maxlen=KEEP, approximate=True), None)


def decode(entry_id: str, fields: dict) -> dict:
    return {"id": entry_id, "kind": fields["kind"], "conversation_id": int(fields["conversation_id"]),
            **json.loads(fields.get("data") or "{}")}
