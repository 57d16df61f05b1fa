"""The one outbound path: bot replies that missed the webhook's deadline, referral notices and
(next) agents' messages. `send()` stores the message `queued`; delivery is tried at once in the
process that stored it and retried by the worker, with exponential backoff and jitter, until it
is sent or dead-lettered (`failed`, with the reason).

A message is claimed before it is sent (queued -> sending, one atomic UPDATE with a lease), so
with several workers each message goes out once. A worker that stops while sending leaves a
lease that runs out; the message is then tried again: a crash may repeat a message, a provider
outage only delays it.

Each channel has a sender (channels.wechat, channels.sms, channels.web, channels.voice) that only
turns a message into the provider's API calls and says what happened (`Outcome`). Fallbacks are
decided here: a WeChat citizen the customer-service window no longer reaches gets an SMS if a
number is known; the path and the reason are recorded on the message.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import aliased

from channels import events
from channels.models import Conversation, Message
from channels.phones import e164, phone_of
from hotline.db import utcnow

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=60)
# How far along a sent message is; a provider's report only moves it forward.
_RANK = {"sending": 1, "sent": 2, "delivered": 3, "failed": 4}
BACKOFF_BASE_S = 5.0
BACKOFF_CAP_S = 3600.0


@dataclass(frozen=True)
class Outcome:
    """What a sender made of a message. `state`: sent | delivered | retry (a passing fault) |
    failed (refused for good) | suppressed (the citizen asked for none) | fallback (this channel
    cannot reach them now: try SMS)."""

    state: str
    detail: str = ""
    provider_id: str | None = None
    progress: dict | None = None  # kept on the message for the next attempt (parts already sent)


Sender = Callable[[Conversation, Message], Awaitable[Outcome]]


RECORD_MARGIN = timedelta(seconds=10)  # of the lease, left when recording a result gives up


async def persist(write: Callable[[], Awaitable], until: datetime | None):
    """`write()` again and again (database errors only) until it succeeds or `until` passes."""
    delay = 0.2
    while True:
        try:
            return await write()
        except (DBAPIError, OSError):
            if until is None or utcnow() + timedelta(seconds=delay) >= until:
                raise
            log.warning("could not record a delivery yet; retrying in %.1f s", delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 3.0)


def backoff(attempts: int) -> timedelta:
    """5 s, 10 s, 20 s … capped at an hour, with full jitter so retries of an outage spread."""
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** max(attempts - 1, 0))
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))


class Outbound:
    def __init__(self, sessions, redis, settings, senders: dict[str, Sender]):
        self.sf, self.redis, self.settings = sessions, redis, settings
        self.senders = senders
        self.on_final: list[Callable[[Message], Awaitable[None]]] = []  # e.g. the referral notice
        self._tasks: set[asyncio.Task] = set()

    # .. storing ...............................................................................

    async def send(self, conversation_id: int, text: str, author: str, *, payload: dict | None = None,
                   dedupe_key: str | None = None, phone: str | None = None) -> Message:
        """Store a message to the citizen and have it delivered on the conversation's channel.
        The same `dedupe_key` twice is one message (a relay that runs again sends nothing new)."""
        now = utcnow()
        try:
            async with self.sf() as s, s.begin():
                conv = await s.get(Conversation, conversation_id)
                if conv is None:
                    raise LookupError(f"conversation {conversation_id} not found")
                body = {"text": text, **(payload or {}), **({"phone": phone} if phone else {})}
                msg = Message(conversation_id=conv.id, direction="out", author=author,
                              channel=conv.channel, state="queued", text=text, payload=body,
                              dedupe_key=dedupe_key, attempts=0, next_attempt_at=now, created_at=now)
                s.add(msg)
                if phone and not conv.phone:
                    conv.phone = e164(phone) or phone
                if (payload or {}).get("expects_reply"):
                    _expect_reply(conv, payload["expects_reply"], now)
                await s.flush()
        except IntegrityError:
            if dedupe_key is None:
                raise
            async with self.sf() as s:
                return await s.scalar(select(Message).where(Message.dedupe_key == dedupe_key))
        await events.publish(self.redis, "message", conversation_id, message_id=msg.id,
                             direction="out", author=author)
        self.kick([msg.id])
        return msg

    async def conversation_for(self, channel: str, contact_id: str, phone: str | None = None) -> int:
        """The conversation of a contact on a channel, created if it never wrote (an SMS notice to
        the number on a ticket filed by an agent)."""
        async with self.sf() as s:
            found = await s.scalar(select(Conversation.id).where(
                Conversation.channel == channel, Conversation.contact_id == contact_id))
        if found:
            return found
        try:
            async with self.sf() as s, s.begin():
                conv = Conversation(channel=channel, contact_id=contact_id, status="bot", priority=0,
                                    window_sent=0, meta={}, phone=phone, created_at=utcnow(),
                                    last_activity_at=utcnow())
                s.add(conv)
                await s.flush()
                return conv.id
        except IntegrityError:  # created by a concurrent call
            async with self.sf() as s:
                return await s.scalar(select(Conversation.id).where(
                    Conversation.channel == channel, Conversation.contact_id == contact_id))

    # .. delivering ..............................................................................

    def kick(self, ids: list[int]) -> None:
        """Try these now, in the background (the worker retries whatever this misses)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        for message_id in ids:
            task = loop.create_task(self.deliver(message_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for the deliveries started in this process (shutdown, tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _claim(self, message_id: int, now: datetime) -> Message | None:
        """Ours to send now: due, not being sent by another worker, and no earlier message of
        the conversation still waiting (a citizen reads them in the order they were written)."""
        earlier = aliased(Message)
        waiting_before = (select(earlier.id).where(
            earlier.conversation_id == Message.conversation_id, earlier.direction == "out",
            earlier.id < Message.id, earlier.state.in_(("queued", "sending"))).exists())
        async with self.sf() as s, s.begin():
            return await s.scalar(
                update(Message).where(
                    Message.id == message_id, Message.direction == "out",
                    or_(Message.state == "queued",
                        (Message.state == "sending") & (Message.lease_until < now)),
                    or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now),
                    ~waiting_before)
                .values(state="sending", lease_until=now + LEASE, attempts=Message.attempts + 1,
                        updated_at=now)
                .returning(Message))

    async def deliver(self, message_id: int) -> str | None:
        """One delivery attempt of a due message, then of the conversation's next one if it
        waited behind it; returns the first one's new state (None: not ours now)."""
        state = await self._deliver_one(message_id)
        follow = message_id
        while state in ("sent", "delivered", "failed", "suppressed") and \
                (follow := await self._next_in_line(follow)) is not None:
            if await self._deliver_one(follow) is None:
                break
        return state

    async def _next_in_line(self, message_id: int) -> int | None:
        async with self.sf() as s:
            conv_id = await s.scalar(select(Message.conversation_id).where(Message.id == message_id))
            return await s.scalar(select(Message.id).where(
                Message.conversation_id == conv_id, Message.direction == "out",
                Message.id > message_id, Message.state == "queued",
                or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= utcnow()))
                .order_by(Message.id).limit(1))

    async def _deliver_one(self, message_id: int) -> str | None:
        now = utcnow()
        msg = await self._claim(message_id, now)
        if msg is None:
            return None
        async with self.sf() as s:
            conv = await s.get(Conversation, msg.conversation_id)
        path = list((msg.payload or {}).get("path") or [])
        try:
            outcome = await self._via(msg.channel, conv, msg)
            channel = msg.channel
            if outcome.state == "fallback":
                path.append({"channel": msg.channel, "why": outcome.detail})
                channel = "sms"
                outcome = await self._via("sms", conv, msg, why=outcome.detail)
                if outcome.state == "sent" and (msg.payload or {}).get("expects_reply"):
                    await self._expect_reply_by_sms(conv, msg)
        except Exception as exc:  # a bug or an unexpected answer: retried, and logged
            log.exception("delivery of message %s failed", message_id)
            outcome, channel = Outcome("retry", f"{type(exc).__name__}: {exc}"[:300]), msg.channel
        return await self._record(msg, conv, channel, outcome, path)

    async def _via(self, channel: str, conv: Conversation, msg: Message, why: str = "") -> Outcome:
        sender = self.senders.get(channel)
        if sender is None:
            return Outcome("failed", f"{why + '; ' if why else ''}渠道 {channel} 未开通")
        outcome = await sender(conv, msg)
        if why and outcome.state in ("sent", "delivered"):
            return Outcome(outcome.state, f"{why}：已改发短信", outcome.provider_id, outcome.progress)
        if why:
            return Outcome(outcome.state, f"{why}；短信：{outcome.detail}", outcome.provider_id,
                           outcome.progress)
        return outcome

    async def _record(self, msg: Message, conv: Conversation, channel: str, outcome: Outcome,
                      path: list) -> str:
        now = utcnow()
        state, next_at = outcome.state, None
        if state == "retry":
            if msg.attempts >= self.settings.delivery_max_attempts:
                state = "failed"
                detail = f"{msg.attempts} 次发送均未成功，已停止重试：{outcome.detail}"
            else:
                state, next_at, detail = "queued", now + backoff(msg.attempts), outcome.detail
        else:
            detail = outcome.detail
        path.append({"channel": channel, "state": state, "at": now.isoformat(), "why": outcome.detail})

        async def write():
            async with self.sf() as s, s.begin():
                row = await s.get(Message, msg.id)
                if not (row.state == "delivered" and state == "sent"):  # the report came first
                    row.state = state
                row.channel, row.detail = channel, detail or None
                row.next_attempt_at, row.lease_until, row.updated_at = next_at, None, now
                row.payload = {**(row.payload or {}), **(outcome.progress or {}), "path": path}
                if outcome.provider_id:
                    row.provider_id = outcome.provider_id
                return row

        # What the provider did must be written down: if it is lost, the lease runs out and the
        # message goes out again (the providers take no idempotency key). A database that is
        # restarting gets most of the lease to come back.
        row = await persist(write, until=msg.lease_until - RECORD_MARGIN if msg.lease_until else None)
        await events.publish(self.redis, "delivery", conv.id, message_id=msg.id, state=row.state,
                             channel=channel, detail=detail)
        if state not in ("queued", "sending"):
            for hook in self.on_final:
                try:
                    await hook(row)
                except Exception:
                    log.exception("after-delivery hook failed for message %s", msg.id)
        return state

    async def _expect_reply_by_sms(self, conv: Conversation, msg: Message) -> None:
        """The notice went by SMS: the citizen's SMS answer is the reply it waits for."""
        phone = phone_of(conv, msg)
        sms_id = await self.conversation_for("sms", phone, phone)
        async with self.sf() as s, s.begin():
            _expect_reply(await s.get(Conversation, sms_id), msg.payload["expects_reply"], utcnow())

    async def deliver_due(self, limit: int = 100) -> dict[str, int]:
        """The worker's sweep: every due message (and any whose sender stopped mid-way)."""
        now = utcnow()
        async with self.sf() as s:
            ids = list(await s.scalars(select(Message.id).where(
                Message.direction == "out",
                or_((Message.state == "queued") & or_(Message.next_attempt_at.is_(None),
                                                      Message.next_attempt_at <= now),
                    (Message.state == "sending") & (Message.lease_until < now)))
                .order_by(Message.id).limit(limit)))
        counts: dict[str, int] = {}
        for message_id in ids:
            state = await self.deliver(message_id)
            if state:
                counts[state] = counts.get(state, 0) + 1
        return counts

    async def update_state(self, message_id: int | None, provider_id: str | None, state: str,
                           detail: str | None = None) -> bool:
        """A provider's delivery report (Twilio's status callback): sent -> delivered / failed."""
        async with self.sf() as s, s.begin():
            cond = Message.id == message_id if message_id else Message.provider_id == provider_id
            row = await s.scalar(select(Message).where(cond, Message.direction == "out"))
            if row is None:
                return False
            if _RANK.get(state, 0) > _RANK.get(row.state, 0):  # reports may come out of order
                row.state = state
                if detail:
                    row.detail = detail
                row.updated_at = utcnow()
            conv_id = row.conversation_id
        await events.publish(self.redis, "delivery", conv_id, message_id=row.id, state=row.state,
                             channel=row.channel, detail=row.detail)
        return True


def _expect_reply(conv: Conversation, reference_no: str, now: datetime) -> None:
    """The citizen's next message on this conversation answers a ticket's request for
    information (the gateway hands it to the ticket)."""
    conv.meta = {**(conv.meta or {}), "awaiting_reply": {"reference_no": reference_no,
                                                          "since": now.isoformat()}}
