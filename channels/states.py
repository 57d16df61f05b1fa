"""Message and conversation states, and the one way to change them: a guarded update.

Every change of state is one `UPDATE … WHERE state = <expected>` (compare-and-set). Several
processes touch the same rows (app replicas answering webhooks, workers delivering, agents
claiming), so reading a row, deciding and writing it back would let the later writer undo the
earlier one: a bot reply recorded after an agent took the conversation, a message answered by
two turns, a failure report overwritten by the send it raced. Here the database decides: of
two moves from the same state exactly one finds the row still there, and the caller learns it
lost (False, or an empty list) instead of writing over the winner.

The transitions are data (below); asking for one that is not declared is a bug and raises.
How a row is *created* (a message stored `received`, `held`, `ready`, `queued` …) is not a
transition and is left to the code that creates it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from channels.models import Conversation, Message
from hotline.db import utcnow

# Inbound: received (not handled yet) -> answered (the bot replied) | held (a person's to read) |
# attached (a reply to a ticket's request for information).
# Outbound: ready (the bot's reply, waiting for the webhook that may return it) -> passive (it
# went back in that response) | queued (for the outbound path) | unspoken (a caller hung up);
# queued -> sending (claimed by one worker, with a lease) -> sent | delivered | failed |
# suppressed, or queued again to retry; a provider's report moves a sent message on.
MESSAGE_MOVES: dict[str, frozenset[str]] = {
    "received": frozenset({"answered", "held", "attached"}),
    "ready": frozenset({"passive", "queued", "unspoken"}),
    "queued": frozenset({"sending", "failed"}),  # failed: a report of an earlier attempt's part
    # sending -> sending: another worker reclaims a message whose lease ran out
    "sending": frozenset({"sending", "queued", "sent", "delivered", "failed", "suppressed"}),
    "sent": frozenset({"delivered", "failed"}),
    "delivered": frozenset({"failed"}),  # a later part of the same message was not delivered
}

# ARCHITECTURE.md §4.3: bot -> pending -> open -> resolved; a hand-back returns it to bot.
CONVERSATION_MOVES: dict[str, frozenset[str]] = {
    "bot": frozenset({"bot", "pending", "open"}),  # bot -> bot: held steady while a turn records
    "pending": frozenset({"open", "bot", "resolved"}),
    "open": frozenset({"open", "pending", "bot", "resolved"}),  # open -> open: a transfer
    "resolved": frozenset({"bot", "pending"}),
}

# How far along a delivery is: a provider's report only ever moves it forward (reports come
# out of order, and may come before our own record of the send).
DELIVERY_RANK = {"sending": 1, "sent": 2, "delivered": 3, "failed": 4}


class UndeclaredMove(ValueError):
    """A state change the state machine does not have: a bug in the caller."""


def _sources(moves: dict[str, frozenset[str]], frm: str | Iterable[str], to: str) -> list[str]:
    sources = [frm] if isinstance(frm, str) else list(frm)
    if not sources:
        raise UndeclaredMove(f"no source state for a move to {to!r}")
    for source in sources:
        if to not in moves.get(source, ()):
            raise UndeclaredMove(f"{source!r} -> {to!r} is not a declared move")
    return sources


def later_in_delivery(current: str, reported: str) -> bool:
    """Whether a delivery state `reported` is further along than `current`."""
    return DELIVERY_RANK.get(reported, 0) > DELIVERY_RANK.get(current, 0)


def reports_before(state: str) -> list[str]:
    """The delivery states a report of `state` may move a message on from."""
    return [s for s, rank in DELIVERY_RANK.items() if rank < DELIVERY_RANK[state]]


async def move_messages(s: AsyncSession, *where, frm: str | Iterable[str], to: str,
                        now: datetime | None = None, **values) -> list[int]:
    """Move every message matching `where` that is still in `frm` to `to`; returns their ids."""
    sources = _sources(MESSAGE_MOVES, frm, to)
    return list(await s.scalars(
        update(Message).where(*where, Message.state.in_(sources))
        .values(state=to, updated_at=now or utcnow(), **values)
        .returning(Message.id).execution_options(synchronize_session="fetch")))


async def move_message(s: AsyncSession, message_id: int, frm: str | Iterable[str], to: str,
                       *where, **values) -> bool:
    """One message from `frm` to `to` (and `values`), if it is still in `frm`."""
    return bool(await move_messages(s, Message.id == message_id, *where, frm=frm, to=to, **values))


async def claim_message(s: AsyncSession, message_id: int, *where, now: datetime,
                        lease_until: datetime) -> Message | None:
    """An outbound message for one worker to send (queued, or sending under a lease that ran
    out): moved to `sending` with a new lease and the next attempt number, which fences that
    worker's writes (channels.outbound.Lease). None when it is not to be had."""
    _sources(MESSAGE_MOVES, ("queued", "sending"), "sending")
    return await s.scalar(
        update(Message).where(Message.id == message_id, Message.state.in_(("queued", "sending")),
                              *where)
        .values(state="sending", lease_until=lease_until, attempts=Message.attempts + 1,
                updated_at=now)
        .returning(Message).execution_options(synchronize_session=False))


async def move_conversation(s: AsyncSession, conversation_id: int, frm: str | Iterable[str],
                            to: str, *where, **values) -> bool:
    """The conversation from `frm` to `to` (and `values`), if it is still in `frm`. On
    PostgreSQL the updated row stays locked until the transaction ends, so a concurrent move
    (an agent's claim) waits for it and then sees the new state."""
    sources = _sources(CONVERSATION_MOVES, frm, to)
    got = await s.execute(update(Conversation).where(
        Conversation.id == conversation_id, Conversation.status.in_(sources), *where)
        .values(status=to, **values).execution_options(synchronize_session="fetch"))
    return (got.rowcount or 0) > 0
