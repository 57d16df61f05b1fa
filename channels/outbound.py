"""The one outbound path: bot replies that missed the webhook's deadline, referral notices and
(next) agents' messages. `send()` stores the message `queued`; delivery is tried at once in the
process that stored it and retried by the worker, with exponential backoff and jitter, until it
is sent or dead-lettered (`failed`, with the reason).

A message is claimed before it is sent (queued -> sending, one guarded UPDATE with a lease), so
with several workers each message goes out once. The claim's attempt number is the lease's
fencing token: the worker renews the lease while it sends, records each part as it goes, and
writes the result only while the token is still its own. A worker that stops while sending
leaves a lease that runs out; another then resumes after the last part recorded (a crash
between the provider's "accepted" and that record may repeat that one part: Twilio and WeChat
take no idempotency key). A provider outage only delays a message.

Each channel has a sender (channels.wechat, channels.sms, channels.web, channels.voice) that only
turns a message into the provider's API calls and says what happened (`Outcome`). Fallbacks are
decided here: a WeChat citizen the customer-service window no longer reaches gets an SMS if a
number is known, of what WeChat did not take; the path and the reason are recorded on the
message. A provider's delivery report only moves a message forward (channels.states).
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
from channels.states import claim_message, later_in_delivery, move_message
from hotline.db import utcnow

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=60)
BACKOFF_BASE_S = 5.0
BACKOFF_CAP_S = 3600.0
# What a provider's report may move a message on from. A "sent" report adds nothing to the
# worker's own record; "delivered" and "failed" stand even when they arrive before it.
REPORTS_FROM = {"delivered": ("sending", "sent"), "failed": ("queued", "sending", "sent", "delivered")}


@dataclass(frozen=True)
class Outcome:
    """What a sender made of a message. `state`: sent | delivered | retry (a passing fault) |
    failed (refused for good) | suppressed (the citizen asked for none) | fallback (this channel
    cannot reach them now: try SMS, with `rest`, the text this channel did not take)."""

    state: str
    detail: str = ""
    provider_id: str | None = None
    rest: str | None = None


class LeaseLost(Exception):
    """Another worker holds the message now (this one's lease ran out): stop, write nothing."""


class Lease:
    """One worker's right to send one message. The claim's attempt number fences every write:
    the lease is renewed, and progress and the result recorded, only while it is unchanged."""

    def __init__(self, sf, msg: Message):
        self.sf, self.msg, self.token = sf, msg, msg.attempts
        self.until = msg.lease_until

    def _ours(self):
        return (Message.id == self.msg.id) & (Message.attempts == self.token)

    async def renew(self) -> bool:
        until = utcnow() + LEASE
        async with self.sf() as s, s.begin():
            got = await s.execute(update(Message).where(self._ours(), Message.state == "sending")
                                  .values(lease_until=until))
        if got.rowcount:
            self.until = until
        return bool(got.rowcount)

    async def progress(self, channel: str, sent: int, **fields) -> None:
        """`sent` parts of the message have gone out on `channel` (and `fields`, such as the
        provider's ids): recorded at once, so whoever resumes the message starts after them."""
        payload = dict(self.msg.payload or {})
        payload["sent_parts"] = {**(payload.get("sent_parts") or {}), channel: sent}
        payload.update(fields)

        async def write() -> int:
            async with self.sf() as s, s.begin():
                return (await s.execute(update(Message).where(self._ours()).values(payload=payload))).rowcount

        # The provider has taken the part: a database restarting now must not make it go again
        # (a retry would resume before it), so the record waits for the database as the result's does.
        if not await persist(write, until=self.until - RECORD_MARGIN if self.until else None):
            raise LeaseLost(f"message {self.msg.id} was taken over by another worker")
        self.msg.payload = payload

    def sent_parts(self, channel: str) -> int:
        payload = self.msg.payload or {}
        done = (payload.get("sent_parts") or {}).get(channel)
        if done is None and channel == self.msg.channel:  # recorded before per-channel progress
            done = payload.get("parts_sent", 0)
        return int(done or 0)


Sender = Callable[[Conversation, Message, Lease], Awaitable[Outcome]]


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
            return await claim_message(
                s, message_id, Message.direction == "out",
                or_(Message.state == "queued", Message.lease_until < now),  # a lapsed lease
                or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now),
                ~waiting_before, now=now, lease_until=now + LEASE)

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
        lease = Lease(self.sf, msg)
        async with self.sf() as s:
            conv = await s.get(Conversation, msg.conversation_id)
        path = list((msg.payload or {}).get("path") or [])
        renewing = asyncio.get_running_loop().create_task(self._keep(lease))
        try:
            outcome = await self._via(msg.channel, conv, msg, lease)
            channel = msg.channel
            if outcome.state == "fallback":
                path.append({"channel": msg.channel, "why": outcome.detail})
                channel = "sms"
                if outcome.rest is not None and "sms_text" not in (msg.payload or {}):
                    # the same rest on every later attempt: its SMS parts stay the same parts
                    await lease.progress(msg.channel, lease.sent_parts(msg.channel),
                                         sms_text=outcome.rest)
                outcome = await self._via("sms", conv, msg, lease, why=outcome.detail)
                if outcome.state == "sent" and (msg.payload or {}).get("expects_reply"):
                    await self._expect_reply_by_sms(conv, msg)
        except LeaseLost as exc:
            log.warning("%s: stopped, nothing recorded", exc)
            return None
        except Exception as exc:  # a bug or an unexpected answer: retried, and logged
            log.exception("delivery of message %s failed", message_id)
            outcome, channel = Outcome("retry", f"{type(exc).__name__}: {exc}"[:300]), msg.channel
        finally:
            renewing.cancel()
            await asyncio.gather(renewing, return_exceptions=True)
        return await self._record(msg, lease, conv, channel, outcome, path)

    @staticmethod
    async def _keep(lease: Lease) -> None:
        """Renew the lease while the sender works (many parts to a slow provider take longer
        than one lease), until it is no longer ours."""
        while True:
            await asyncio.sleep(LEASE.total_seconds() / 3)
            try:
                if not await lease.renew():
                    return
            except (DBAPIError, OSError):  # the database is away: the record waits for it
                log.warning("the lease of message %s was not renewed", lease.msg.id, exc_info=True)

    async def _via(self, channel: str, conv: Conversation, msg: Message, lease: Lease,
                   why: str = "") -> Outcome:
        sender = self.senders.get(channel)
        if sender is None:
            return Outcome("failed", f"{why + '; ' if why else ''}渠道 {channel} 未开通")
        outcome = await sender(conv, msg, lease)
        if why and outcome.state in ("sent", "delivered"):
            return Outcome(outcome.state, f"{why}：已改发短信", outcome.provider_id)
        if why:
            return Outcome(outcome.state, f"{why}；短信：{outcome.detail}", outcome.provider_id)
        return outcome

    async def _record(self, msg: Message, lease: Lease, conv: Conversation, channel: str,
                      outcome: Outcome, path: list) -> str | None:
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
                row = await s.get(Message, msg.id, with_for_update=True)  # a report waits for it
                if row.attempts != lease.token:
                    return None  # another worker took it over: its record, not ours
                row.state = _settled(row.state, state)
                if row.state == state:  # else a provider's report came first, and its detail stands
                    row.detail = detail or None
                row.channel = channel
                row.next_attempt_at, row.lease_until, row.updated_at = next_at, None, now
                row.payload = {**(msg.payload or {}), "path": path}
                if outcome.provider_id:
                    row.provider_id = outcome.provider_id
                return row

        # What the provider did must be written down: if it is lost, the lease runs out and the
        # message goes out again (the providers take no idempotency key). A database that is
        # restarting gets most of the lease to come back.
        row = await persist(write, until=lease.until - RECORD_MARGIN if lease.until else None)
        if row is None:
            log.warning("message %s was taken over by another worker; its result is theirs", msg.id)
            return None
        await events.publish(self.redis, "delivery", conv.id, message_id=msg.id, state=row.state,
                             channel=channel, detail=row.detail)
        if row.state not in ("queued", "sending"):
            await self._final(row)
        return row.state

    async def _final(self, row: Message) -> None:
        for hook in self.on_final:
            try:
                await hook(row)
            except Exception:
                log.exception("after-delivery hook failed for message %s", row.id)

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
        """A provider's delivery report (Twilio's status callback). It only moves a message
        forward (reports come out of order, and may come before the worker has recorded the
        send); a report that the message was not delivered runs the final hooks (a referral
        notice flags its ticket: 通知未送达)."""
        async with self.sf() as s, s.begin():
            cond = Message.id == message_id if message_id else Message.provider_id == provider_id
            row = await s.scalar(select(Message).where(cond, Message.direction == "out"))
            if row is None:
                return False
            moved = state in REPORTS_FROM and await move_message(
                s, row.id, REPORTS_FROM[state], state, **({"detail": detail} if detail else {}))
            if moved:
                await s.refresh(row)
        await events.publish(self.redis, "delivery", row.conversation_id, message_id=row.id,
                             state=row.state, channel=row.channel, detail=row.detail)
        if moved:
            await self._final(row)
        return True


def _settled(current: str, outcome: str) -> str:
    """The state a worker records: its own outcome, unless a provider's report came first and
    says more (a failure of some part stands; a delivery is not turned back into 'sent')."""
    if current == "failed":
        return current
    if outcome in ("sent", "delivered") and later_in_delivery(outcome, current):
        return current
    return outcome


def _expect_reply(conv: Conversation, reference_no: str, now: datetime) -> None:
    """The citizen's next message on this conversation answers a ticket's request for
    information (the gateway hands it to the ticket)."""
    conv.meta = {**(conv.meta or {}), "awaiting_reply": {"reference_no": reference_no,
                                                          "since": now.isoformat()}}
