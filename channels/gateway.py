"""Conversation gateway: the one place that decides whether the bot may answer.

Every channel adapter turns a provider's request into an `Incoming` and calls
`Gateway.receive(incoming, budget_s)`, where the budget is what the provider's deadline leaves
(WeChat drops a request after 5 s, Twilio after 15 s). The gateway

1. stores the citizen's message first (a retried channel message id is the same turn: Redis
   says so across processes at once, the database's unique key makes sure);
2. decides, in the same transaction: words of crisis go to a person at once, first in the
   agents' queue, whatever else the conversation was doing (waiting for the bot, for a person,
   for the citizen's answer to a ticket); a conversation with a person (`pending`, `open`) keeps
   the message for them and tells the citizen once how long the wait is; a reply to a ticket's
   request for information goes to that ticket; otherwise the bot answers;
3. has the bot answer the conversation's messages in order, one conversation at a time (a Redis
   lock), and returns what the bot said within the budget. What comes later goes out through the
   outbound path (channels.outbound), never as a second answer to the same webhook.

Replies are stored `ready`; whichever comes first takes them: the webhook still waiting (they go
back in its own response, `passive`), or the deadline passing (`queued` for delivery). Every
change of state is a guarded update (channels.states): a reply is never given twice, a message
is answered by one turn only, and an agent who takes the conversation while the bot is thinking
wins over the bot's reply.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

import yaml
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from channels import events
from channels.models import PRIORITY, WITH_A_PERSON, Conversation, Message
from channels.phones import citizen_number
from channels.rasa_client import RasaUnavailable, send_to_rasa
from channels.states import move_conversation, move_message, move_messages
from hotline.cache import UNAVAILABLE, breaker
from hotline.db import utcnow
from hotline.privacy import mask_text
from hotline.settings import ALWAYS, ROOT
from referral import complaints
from referral.workdays import CHINA, is_working_day
from rules.regions import regions

log = logging.getLogger(__name__)
DEDUPE_TTL_S = 24 * 3600  # providers retry within minutes; a day is plenty
POLL_S = 0.2  # a waiter in another process than the bot's turn looks this often
LATE_GRACE_S = 0.5
ANSWER_TTL_S = 24 * 3600  # the bot's answer kept in Redis until it is stored (a failed write)
# The sweep's backoff while the bot stays down: a citizen waits at most RETRY_MAX_S after it is back.
RETRY_BASE_S, RETRY_MAX_S = 2.0, 30.0


TURN_MARGIN_S = 10.0  # a turn's database work around the Rasa call
# A turn renews its conversation's lock every this share of the lock's lifetime while Rasa
# works, so only a process that stopped (not one that is slow) lets the lock lapse.
LOCK_RENEW_SHARE = 1 / 3


def turn_lock_s(settings) -> float:
    """The longest a bot turn can hold its conversation: Rasa's own timeout, and the margin."""
    return settings.rasa_timeout_s + TURN_MARGIN_S


def retry_after(attempts: int) -> timedelta:
    return timedelta(seconds=min(RETRY_BASE_S * 2 ** max(attempts - 1, 0), RETRY_MAX_S))


@cache
def texts() -> dict:
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


@dataclass(frozen=True)
class Incoming:
    """A citizen's message from any channel, as the adapters hand it over."""

    channel: str  # web | wechat | sms | voice
    contact_id: str  # openid, E.164 phone number, web sender id
    text: str
    external_id: str | None = None  # the channel's message id: retries carry the same one
    metadata: dict = field(default_factory=dict)  # region preset by the channel …
    # text | subscribe | unsubscribe (WeChat follow / unfollow, SMS 订阅 / 退订) | unsupported
    # (an image, a location …) | unheard (a voice message WeChat could not recognise) | muted
    # (an SMS number that opted out: kept, not answered)
    kind: str = "text"
    phone: str | None = None  # a number that reaches this citizen by SMS
    quiet: bool = False  # the provider has already answered it (Twilio's own STOP reply)


@dataclass
class TurnResult:
    conversation_id: int
    inbound_id: int | None
    replies: list[dict]  # what goes back in the webhook's own response
    duplicate: bool = False
    bot_available: bool = True
    deferred: bool = False  # the bot's answer will come through the outbound path
    status: str = "bot"


def _without_nul(inc: Incoming) -> Incoming:
    """A provider's message with a NUL in it (PostgreSQL stores none) is kept without it: the
    citizen's words are not lost for a character that carries nothing."""
    fields = {name: getattr(inc, name).replace("\x00", "")
              for name in ("contact_id", "text", "external_id") if getattr(inc, name)
              and "\x00" in getattr(inc, name)}
    return replace(inc, **fields) if fields else inc


def _reply(text: str) -> dict:
    return {"text": text}


def is_crisis(inc: Incoming) -> bool:
    """Words of crisis in what the citizen wrote or said (an event or a picture has none)."""
    return inc.kind in ("text", "muted") and bool(inc.text and crisis_words().search(inc.text))


def _crisis_summary(text: str, region: str | None) -> str:
    """For the agent: the citizen's words of crisis (numbers masked), and where, if known."""
    where = regions().get(region or "", {}).get("name")
    return texts()["crisis_summary"].format(text=mask_text(text[:60]),
                                            where=f"（{where}）" if where else "")


def _answered_with(inbound: Message, replies: list[Message]) -> None:
    """The latest answer to a message (a retry after the bot was down gets the new one)."""
    inbound.payload = {**(inbound.payload or {}), "answer": [m.id for m in replies]}


async def _passive_answer(s, inbound: Message) -> list[Message]:
    """The turn's latest answer, as far as it went back in a webhook's own response."""
    answer = (inbound.payload or {}).get("answer") or []
    return [] if not answer else list(await s.scalars(select(Message).where(
        Message.id.in_(answer), Message.state == "passive").order_by(Message.id)))


def _shown(reply: dict) -> bool:
    """Something the citizen sees (not only a signal for the gateway such as a handoff)."""
    return bool(reply.get("text") or reply.get("buttons"))


# --- when a person will answer ---------------------------------------------------------------

def agents_on_duty(hours, now: datetime) -> bool:
    """Agent hours (hotline.hours spans, from the settings) are on working days, unless the
    desk is staffed always (AGENT_HOURS=always)."""
    if hours == ALWAYS:
        return True
    local = now.astimezone(CHINA)
    return is_working_day(local.date()) and any(a <= local.time() < b for a, b in hours)


def agents_back_at(hours, now: datetime) -> datetime:
    """The next start of agent hours after `now` (on a working day)."""
    local = now.astimezone(CHINA)
    for days in range(0, 30):
        day = local.date() + timedelta(days=days)
        if not is_working_day(day):
            continue
        for begin, _ in hours:
            start = datetime.combine(day, begin, CHINA)
            if start > local:
                return start
    return local + timedelta(days=1)


def when_back(hours, now: datetime) -> str:
    """When agents are back, as said to a citizen: 今天14点, 明天8点30分, 12月8日8点30分."""
    back = agents_back_at(hours, now)
    local = now.astimezone(CHINA)
    day = ("今天" if back.date() == local.date() else "明天" if back.date() == local.date() +
           timedelta(days=1) else f"{back.month}月{back.day}日")
    return f"{day}{back.hour}点" + (f"{back.minute}分" if back.minute else "")


def waiting_text(settings, now: datetime) -> str:
    t = texts()["waiting"]
    if agents_on_duty(settings.agent_hours, now):
        return t["on_duty"].format(minutes=settings.agent_expected_wait_min)
    return t["off_duty"].format(when=when_back(settings.agent_hours, now))


# --- the gateway -----------------------------------------------------------------------------

class Gateway:
    def __init__(self, sessions, redis, http, settings, outbound=None):
        self.sf, self.redis, self.http, self.settings = sessions, redis, http, settings
        self.outbound = outbound  # channels.outbound.Outbound: late replies and notices
        self._turns: dict[int, asyncio.Task] = {}  # conversation id -> its bot turn loop
        self._again: set[int] = set()  # conversations with a message stored since their loop looked
        self._answered: dict[int, asyncio.Event] = {}  # inbound id -> set when handled
        self._timers: set[asyncio.Task] = set()

    # .. storing ..................................................................................

    async def _conversation(self, s, inc: Incoming) -> Conversation:
        conv = await s.scalar(select(Conversation).where(Conversation.channel == inc.channel,
                                                         Conversation.contact_id == inc.contact_id))
        if conv is None:
            conv = Conversation(channel=inc.channel, contact_id=inc.contact_id, status="bot",
                                priority=0, window_sent=0, meta=dict(inc.metadata),
                                phone=inc.phone)
            s.add(conv)
            await s.flush()
        elif inc.metadata and any(conv.meta.get(k) != v for k, v in inc.metadata.items()):
            conv.meta = {**conv.meta, **inc.metadata}
        if inc.phone and conv.phone != inc.phone:
            conv.phone = inc.phone
        return conv

    def _dedupe_key(self, inc: Incoming) -> str:
        return f"dedupe:{inc.channel}:{inc.contact_id}:{inc.external_id}"

    async def _claim_external_id(self, inc: Incoming) -> bool:
        """True if this request is the first with its channel message id (across processes).
        Without Redis it is let in: the database's unique key still makes it one turn."""
        if not inc.external_id:
            return True
        key = self._dedupe_key(inc)
        return bool(await breaker(self.redis).run(
            "dedupe", lambda: self.redis.set(key, "1", nx=True, ex=DEDUPE_TTL_S), True))

    async def _release_external_id(self, inc: Incoming) -> None:
        if inc.external_id:
            key = self._dedupe_key(inc)
            await breaker(self.redis).run("dedupe release", lambda: self.redis.delete(key), 0)

    async def receive(self, inc: Incoming, budget_s: float) -> TurnResult:
        inc = _without_nul(inc)
        now = utcnow()
        deadline = now + timedelta(seconds=budget_s)
        if not await self._claim_external_id(inc):
            return await self._duplicate(inc, deadline)
        try:
            try:
                stored = await self._store(inc, now, deadline)
            except IntegrityError:  # a concurrent first message made the conversation: again
                stored = await self._store(inc, now, deadline)
        except IntegrityError:  # the same id committed by a concurrent request: one turn
            return await self._duplicate(inc, deadline)
        except BaseException:
            # Not stored (a failure, or the handler cancelled between Redis and the database):
            # the provider's retry must get in, not be taken for a duplicate of nothing.
            await asyncio.shield(self._release_external_id(inc))
            raise
        conv_id, inbound_id, action, replies, status = stored
        await events.publish(self.redis, "message", conv_id, message_id=inbound_id,
                             direction="in", author="citizen")
        if action == "attach":
            return await self._attach_to_ticket(conv_id, inbound_id, inc, deadline)
        if action != "bot":
            if action == "held":
                await events.publish(self.redis, "conversation", conv_id, status=status)
            return TurnResult(conv_id, inbound_id, replies, status=status)
        self._ensure_turns(conv_id)
        return await self.wait_for_replies(conv_id, inbound_id, deadline)

    async def _store(self, inc: Incoming, now: datetime, deadline: datetime):
        """One transaction: the message is stored, whatever happens next. Returns what to do:
        `bot` (the bot answers), `held` (for a person), `attach` (to a ticket), `reply` (a text
        of the gateway's own, or nothing). Words of crisis are decided here, once, before any
        other branch: they reach a person on every path, and with nothing but the database."""
        t = texts()
        async with self.sf() as s, s.begin():
            conv = await self._conversation(s, inc)
            conv.last_activity_at = now
            if inc.channel == "wechat" and inc.kind != "unsubscribe":
                conv.last_inbound_at, conv.window_sent = now, 0  # a new 48-hour window
            if conv.status == "resolved":
                conv.status, conv.assignee = "bot", None  # a new episode starts with the bot
            state, action, replies = "received", "bot", []
            if inc.kind in ("subscribe", "unsubscribe"):
                conv.unsubscribed_at = now if inc.kind == "unsubscribe" else None
                said = t["commands"].get(inc.channel, {}).get(inc.kind)
                state, action, replies = "ignored", "reply", [said] if said and not inc.quiet else []
            elif is_crisis(inc):
                with_agent = conv.status == "open"  # the agent is there and answers it
                self._to_person(conv, "crisis", _crisis_summary(inc.text, conv.meta.get("region")), now)
                state, action = "held", "held"
                if inc.kind != "muted" and not with_agent:  # a muted number may be called, not texted
                    replies, conv.waiting_told_at = [t["crisis"]], now
            elif inc.kind == "muted":
                state, action = "ignored", "reply"
            elif conv.status in WITH_A_PERSON:
                state, action = "held", "held"
                if not self._told(conv):
                    replies, conv.waiting_told_at = [waiting_text(self.settings.channels, now)], now
            elif inc.kind in ("unsupported", "unheard") or not inc.text.strip():
                state, action = "ignored", "reply"
                replies = [t["describe_in_words"] if inc.kind == "unsupported" else
                           t["voice_unheard"] if inc.kind == "unheard" else t["empty"]]
            elif conv.meta.get("awaiting_reply"):
                action = "attach"
            inbound = Message(conversation_id=conv.id, direction="in", author="citizen",
                              channel=inc.channel, state=state, external_id=inc.external_id,
                              text=inc.text or "", payload={"kind": inc.kind}, attempts=0,
                              reply_by=deadline, created_at=now)
            s.add(inbound)
            await s.flush()
            stored = [self._system(s, conv, inbound.id, r, now) for r in replies]
            await s.flush()
            _answered_with(inbound, stored)
            return conv.id, inbound.id, action, [m.payload for m in stored], conv.status

    @staticmethod
    def _told(conv: Conversation) -> bool:
        return bool(conv.waiting_told_at and conv.pending_since and
                    conv.waiting_told_at >= conv.pending_since)

    def _system(self, s, conv: Conversation, reply_to: int | None, text: str, now: datetime) -> Message:
        """A text of the gateway's own (replies.yml), given back in the webhook's response."""
        m = Message(conversation_id=conv.id, direction="out", author="system", channel=conv.channel,
                    state="passive", reply_to_id=reply_to, text=text, payload=_reply(text),
                    attempts=0, created_at=now)
        s.add(m)
        return m

    def _to_person(self, conv: Conversation, reason: str, summary: str | None, now: datetime,
                   urgent: bool = False) -> None:
        """Hand the conversation to a person: pending (or, if a person holds it, raise it)."""
        priority = PRIORITY["crisis"] if reason == "crisis" else \
            PRIORITY["urgent"] if urgent or reason == "emergency" else PRIORITY["normal"]
        if conv.status not in WITH_A_PERSON:
            conv.status, conv.pending_since, conv.assignee = "pending", now, None
            conv.handoff_reason, conv.handoff_summary = reason, summary
            conv.claimed_at = conv.first_agent_reply_at = conv.waiting_told_at = None
        elif priority > conv.priority:
            conv.handoff_reason = reason  # a crisis while waiting: it goes first
            if summary:
                conv.handoff_summary = summary
        conv.priority = max(conv.priority or 0, priority)
        log.info("conversation %s to a person: %s", conv.id, reason)

    async def request_person(self, channel: str, contact_id: str, reason: str, summary: str) -> int:
        """A channel hands the conversation to a person itself (a caller pressed 0)."""
        now = utcnow()
        async with self.sf() as s, s.begin():
            conv = await self._conversation(s, Incoming(channel, contact_id, ""))
            conv.last_activity_at = now
            self._to_person(conv, reason, summary, now)
            conv_id, status = conv.id, conv.status
        await events.publish(self.redis, "conversation", conv_id, status=status, reason=reason)
        return conv_id

    async def _duplicate(self, inc: Incoming, deadline: datetime) -> TurnResult:
        """A retry of a message already stored: the same turn, the same answer, never twice."""
        for _ in range(int(max(deadline - utcnow(), timedelta(0)).total_seconds() / POLL_S) + 1):
            async with self.sf() as s:
                conv = await s.scalar(select(Conversation).where(
                    Conversation.channel == inc.channel, Conversation.contact_id == inc.contact_id))
                inbound = conv and await s.scalar(select(Message).where(
                    Message.conversation_id == conv.id, Message.external_id == inc.external_id))
            if inbound is not None:
                break
            await asyncio.sleep(POLL_S)  # the first request has not committed yet
        else:
            return TurnResult(0, None, [], duplicate=True, deferred=True)
        if inbound.state == "received":  # the bot is still on it, or was down: try again
            self._ensure_turns(conv.id)
            result = await self.wait_for_replies(conv.id, inbound.id, deadline,
                                                 seen_attempts=inbound.attempts)
            result.duplicate = True
            return result
        async with self.sf() as s:
            passive = await _passive_answer(s, inbound)
        return TurnResult(conv.id, inbound.id, [m.payload or _reply(m.text) for m in passive],
                          duplicate=True, deferred=not passive, status=conv.status)

    # .. the bot's turns ..........................................................................

    def _ensure_turns(self, conv_id: int) -> None:
        """A turn loop for the conversation, unless one runs; either way it will look again (a
        message stored just as a loop found nothing left is not missed)."""
        self._again.add(conv_id)
        task = self._turns.get(conv_id)
        if task is None or task.done():
            self._turns[conv_id] = asyncio.get_running_loop().create_task(self._turn_loop(conv_id))

    async def _turn_loop(self, conv_id: int) -> None:
        """Answer the conversation's waiting messages in order, while the bot holds it. A Redis
        lock per turn keeps other processes' turns of the same conversation out meanwhile; its
        lifetime is one turn's longest (turn_lock_s) and the turn renews it while Rasa works, so
        it lapses only when its process stopped, blocking the conversation for one lifetime at
        most. Should it lapse all the same (a frozen process), the message's guarded state lets
        only one turn's answer through. Without Redis there is no lock and no turn: the citizen
        is told the message is kept (the worker's sweep answers it once Redis is back). Whatever
        goes wrong here, the messages are stored already: the sweep answers them."""
        lifetime = turn_lock_s(self.settings)
        try:
            while conv_id in self._again:
                self._again.discard(conv_id)
                more = True
                while more:
                    lock = self.redis.lock(f"lock:conversation:{conv_id}", timeout=lifetime,
                                           blocking_timeout=lifetime)
                    if breaker(self.redis).is_open:  # failed just now: not tried, not re-tripped
                        # (re-tripping on every retry would keep it open while citizens write)
                        await self._bot_down(conv_id, ConnectionError("Redis unavailable (recent failure)"))
                        return
                    try:
                        taken = await lock.acquire()
                    except UNAVAILABLE as exc:
                        breaker(self.redis).trip("conversation lock", exc)
                        await self._bot_down(conv_id, exc)
                        return
                    if not taken:
                        log.warning("conversation %s is held by another turn; the sweep will "
                                    "answer what waits", conv_id)
                        return
                    renewing = asyncio.get_running_loop().create_task(self._renew(lock, lifetime))
                    try:
                        more = await self._answer_next(conv_id)
                    finally:
                        renewing.cancel()
                        await asyncio.gather(renewing, return_exceptions=True)
                        await self._unlock(lock)
        except Exception:
            log.exception("bot turns of conversation %s failed; the sweep will answer them", conv_id)
        finally:
            self._turns.pop(conv_id, None)

    @staticmethod
    async def _renew(lock, lifetime: float) -> None:
        """Keep the turn's lock while the turn works (a slow Rasa is not a dead process)."""
        while True:
            await asyncio.sleep(lifetime * LOCK_RENEW_SHARE)
            try:
                await lock.reacquire()
            except Exception as exc:  # lost or Redis gone: the message's guarded state fences
                log.warning("a turn's lock could not be renewed: %s", exc)
                return

    @staticmethod
    async def _unlock(lock) -> None:
        try:
            await lock.release()
        except Exception as exc:  # lapsed, or Redis gone: it expires by itself
            log.warning("a turn's lock was not released: %s", exc)

    async def _answer_next(self, conv_id: int) -> bool:
        async with self.sf() as s:
            conv = await s.get(Conversation, conv_id)
            msg = await s.scalar(select(Message).where(
                Message.conversation_id == conv_id, Message.direction == "in",
                Message.state == "received").order_by(Message.id).limit(1))
            if msg is None:
                return False
            if conv.status != "bot":  # a person took over while it waited: theirs now
                await self._hold_waiting(conv_id)
                return False
            bot_metadata = {**conv.meta, "channel": conv.channel, "conversation_id": conv.id}
            sender = conv.sender_key
        replies = await self._kept_answer(msg.id)
        if replies is None:
            try:
                replies = await send_to_rasa(self.http, self.settings.rasa_url, sender, msg.text,
                                             bot_metadata, self.settings.rasa_timeout_s)
            except RasaUnavailable as exc:
                await self._bot_down(conv_id, exc)
                return False
            await self._keep_answer(msg.id, replies)
        await self._record_replies(conv_id, msg, replies)
        await self._forget_answer(msg.id)
        return True

    # The bot's answer is kept in Redis from the moment Rasa gives it until it is stored: if the
    # write fails (the database restarting), the next try stores it instead of sending the turn
    # to Rasa a second time (its tracker would hold the message twice).
    async def _kept_answer(self, inbound_id: int) -> list[dict] | None:
        raw = await breaker(self.redis).run(
            "kept answer", lambda: self.redis.get(f"bot:answer:{inbound_id}"), None)
        return json.loads(raw) if raw else None

    async def _keep_answer(self, inbound_id: int, replies: list[dict]) -> None:
        body = json.dumps(replies, ensure_ascii=False)
        await breaker(self.redis).run("keep answer", lambda: self.redis.set(
            f"bot:answer:{inbound_id}", body, ex=ANSWER_TTL_S), None)

    async def _forget_answer(self, inbound_id: int) -> None:
        # It expires by itself; a stored turn is never answered twice (its guarded state).
        await breaker(self.redis).run(
            "forget answer", lambda: self.redis.delete(f"bot:answer:{inbound_id}"), 0)

    async def answer_unanswered(self, now: datetime, limit: int = 200) -> int:
        """The worker's sweep: conversations whose citizen wrote while the bot was down (or a
        process stopped mid-turn) get their turns again, oldest message first, once each retry
        is due. The bot's answers then go out through the outbound path. Returns how many
        conversations it started."""
        grace = now - timedelta(seconds=self.settings.rasa_timeout_s + 5)  # a live turn's own
        async with self.sf() as s:
            due = list(await s.scalars(
                select(Message.conversation_id).join(Conversation, Conversation.id == Message.conversation_id)
                .where(Message.direction == "in", Message.state == "received",
                       Message.created_at < grace, Conversation.status == "bot",
                       or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now))
                .group_by(Message.conversation_id).order_by(func.min(Message.id)).limit(limit)))
        for conv_id in due:
            self._ensure_turns(conv_id)
        return len(due)

    async def settle(self) -> None:
        """Until every turn loop this process started has finished (the worker's sweep)."""
        while running := [t for t in self._turns.values() if not t.done()]:
            await asyncio.gather(*running, return_exceptions=True)

    async def _hold_waiting(self, conv_id: int) -> None:
        """Messages that waited for the bot while a person took over are theirs now."""
        async with self.sf() as s, s.begin():
            held = await move_messages(s, Message.conversation_id == conv_id,
                                       Message.direction == "in", frm="received", to="held")
        for message_id in held:
            self._wake(message_id)

    async def _bot_down(self, conv_id: int, exc: BaseException) -> None:
        """Every waiting message of the conversation stays `received` (the worker's sweep, a
        retry or the next message tries the bot again, and the bot answers them in order); the
        citizen is told once that they are kept, for the messages not told yet. (Words of
        crisis never wait here: the gateway gave them to a person when it stored them.)"""
        log.error("bot unavailable for conversation %s: %s", conv_id, exc)
        now = utcnow()
        async with self.sf() as s, s.begin():
            waiting = list(await s.scalars(select(Message).where(
                Message.conversation_id == conv_id, Message.direction == "in",
                Message.state == "received").order_by(Message.id)))
            conv = await s.get(Conversation, conv_id)
            untold = [m for m in waiting if m.attempts == 0]
            for m in waiting:
                m.attempts += 1
                m.detail = f"bot unavailable: {type(exc).__name__}"
                m.next_attempt_at = now + retry_after(m.attempts)
            queued = []
            if untold:
                notice = self._ready(conv, untold[-1], _reply(texts()["bot_unavailable"]), "system")
                s.add(notice)
                await s.flush()
                for m in untold:
                    _answered_with(m, [notice])
                queued = [notice.id] if notice.state == "queued" else []
        for m in waiting:
            self._wake(m.id)
        if queued and self.outbound:
            self.outbound.kick(queued)

    def _ready(self, conv: Conversation, inbound: Message, reply: dict, author: str) -> Message:
        # Past the webhook's deadline a reply is queued for delivery; a caller's stays ready for
        # the call's next request (voice: …/wait), since a call cannot be reached later.
        late = (inbound.reply_by is not None and utcnow() >= inbound.reply_by
                and conv.channel != "voice")
        return Message(conversation_id=conv.id, direction="out", author=author, channel=conv.channel,
                       state="queued" if late else "ready", reply_to_id=inbound.id,
                       text=reply.get("text", ""), payload=reply, attempts=0,
                       next_attempt_at=utcnow() if late else None, created_at=utcnow())

    async def _record_replies(self, conv_id: int, msg: Message, replies: list[dict]) -> None:
        """The bot's answer, if it still may be given: the conversation is still the bot's (an
        agent who claimed it while Rasa was thinking wins: the message is theirs, the reply is
        dropped) and the message is still unanswered (another process's turn did not answer it
        first). Both are guarded updates in this transaction; on PostgreSQL the first holds the
        conversation's row, so a claim racing it waits and then finds the reply recorded."""
        now = utcnow()
        handoff = next((r["custom"]["handoff"] for r in replies
                        if isinstance(r.get("custom"), dict) and "handoff" in r["custom"]), None)
        if not any(_shown(r) for r in replies):
            log.error("the bot gave no reply to message %s", msg.id)
            replies = [_reply(texts()["bot_silent"]), *replies]
        async with self.sf() as s, s.begin():
            if not await move_conversation(s, conv_id, "bot", "bot"):
                held = await move_message(s, msg.id, "received", "held")
                log.info("conversation %s was taken by a person during the bot's turn: its reply "
                         "to message %s is dropped%s", conv_id, msg.id, "" if held else " (answered)")
                answered = False
            else:
                answered = await move_message(s, msg.id, "received", "answered", detail=None)
                if not answered:
                    log.warning("message %s was answered by another turn: this reply is dropped",
                                msg.id)
            if not answered:
                out, queued, status = [], [], None
            else:
                out, queued, status = await self._store_replies(s, conv_id, msg.id, replies,
                                                                handoff, now)
        for m in out:
            if m.state == "internal":
                continue
            await events.publish(self.redis, "message", conv_id, message_id=m.id, direction="out",
                                 author=m.author)
        if answered and (handoff is not None or status in WITH_A_PERSON):
            await events.publish(self.redis, "conversation", conv_id, status=status)
        self._wake(msg.id)
        if queued and self.outbound:
            self.outbound.kick(queued)
        elif answered and msg.reply_by is not None:
            self._after(msg.reply_by, self._late, msg.id)

    async def _store_replies(self, s, conv_id: int, inbound_id: int, replies: list[dict],
                             handoff: dict | None, now: datetime):
        """The bot's replies stored `ready` (or `queued`, past the webhook's deadline), a handoff
        it asked for carried out. Returns (messages, ids queued, the conversation's status)."""
        conv = await s.get(Conversation, conv_id)
        inbound = await s.get(Message, inbound_id)
        if handoff is not None:
            self._to_person(conv, handoff.get("reason") or "request_human",
                            handoff.get("summary"), now, urgent=handoff.get("reason") == "emergency")
            # What the bot knew, for the agents' queue: the program and region it detected.
            conv.meta = {**conv.meta, "handoff": {k: handoff[k] for k in ("program", "region")
                                                  if handoff.get(k)}}
        out = [self._ready(conv, inbound, r, "bot") for r in replies]
        for m, r in zip(out, replies, strict=True):
            # The bot's signals (handoff …) are for the gateway; the web API returns them too.
            if not _shown(r) and conv.channel != "web":
                m.state, m.next_attempt_at = "internal", None
        if handoff is not None and handoff.get("reason") == "complaint":
            out.append(self._ready(conv, inbound, _reply(await self._file_complaint(
                s, conv, inbound, handoff, now)), "system"))
        if conv.status in WITH_A_PERSON and not self._told(conv):
            out.append(self._ready(conv, inbound, _reply(waiting_text(self.settings.channels, now)),
                                   "system"))
            conv.waiting_told_at = now
        s.add_all(out)
        await s.flush()
        _answered_with(inbound, out)
        return out, [m.id for m in out if m.state == "queued"], conv.status

    @staticmethod
    async def _file_complaint(s, conv: Conversation, inbound: Message, handoff: dict,
                              now: datetime) -> str:
        """The bot's `complain`: a complaint case about the conversation's latest referral (else
        civil affairs), filed once for the message; the citizen is told its number and clock.
        The agent who takes the conversation hears the rest."""
        said = (inbound.text or "").strip()
        if len(said) < 10 and handoff.get("summary"):  # "我要投诉": the summary tells more
            said = f"{said}\n{handoff['summary']}".strip()
        phone = citizen_number(conv)
        c, _ = await complaints.file(
            s, what_happened=said or "（未说明）", source_key=f"conv:{conv.id}:msg:{inbound.id}",
            filed_by="bot", channel=conv.channel, conversation_id=conv.id, phone=phone, now=now,
            ticket=await complaints.latest_ticket_of_conversation(s, conv.id))
        return complaints.filed_text(c)

    def _after(self, when: datetime, fn, *args) -> None:
        async def later():
            await asyncio.sleep(max((when - utcnow()).total_seconds(), 0) + LATE_GRACE_S)
            try:
                await fn(*args)
            except Exception:  # the worker's sweep releases what this could not
                log.warning("late replies of message %s left to the worker", args, exc_info=True)
        task = asyncio.get_running_loop().create_task(later())
        self._timers.add(task)
        task.add_done_callback(self._timers.discard)

    async def _late(self, inbound_id: int) -> None:
        """The webhook's deadline passed: what it did not take goes out through the outbound path."""
        ids = await release_late_replies(self.sf, utcnow(), reply_to_id=inbound_id)
        if ids and self.outbound:
            self.outbound.kick(ids)

    # .. waiting for the answer .....................................................................

    def _wake(self, inbound_id: int) -> None:
        event = self._answered.get(inbound_id)
        if event is not None:
            event.set()

    async def wait_for_replies(self, conv_id: int, inbound_id: int, deadline: datetime,
                               seen_attempts: int = 0) -> TurnResult:
        """The replies to `inbound_id` if the bot gives them before `deadline` (they are then
        this webhook's to return); else deferred: they will be delivered later. `seen_attempts`
        is how many times the bot had already failed on it when this wait began."""
        event = self._answered.setdefault(inbound_id, asyncio.Event())
        try:
            while True:
                left = (deadline - utcnow()).total_seconds()
                try:
                    await asyncio.wait_for(event.wait(), timeout=max(min(left, POLL_S), 0.01))
                except TimeoutError:
                    pass
                result = await self._take(conv_id, inbound_id, seen_attempts)
                if result is not None:
                    return result
                if utcnow() >= deadline:
                    return TurnResult(conv_id, inbound_id, [], deferred=True)
        finally:
            self._answered.pop(inbound_id, None)

    async def _take(self, conv_id: int, inbound_id: int, seen_attempts: int) -> TurnResult | None:
        async with self.sf() as s, s.begin():
            inbound = await s.get(Message, inbound_id)
            if inbound.state == "received" and inbound.attempts <= seen_attempts:
                return None  # the bot has not answered (or failed) yet
            conv = await s.get(Conversation, conv_id)
            await move_messages(s, Message.reply_to_id == inbound_id, frm="ready", to="passive")
            # A retry racing the first request gets the same answer (the provider shows one).
            taken = await _passive_answer(s, inbound)
            down = inbound.attempts > seen_attempts and inbound.state != "answered"
            return TurnResult(conv_id, inbound_id, [m.payload or _reply(m.text) for m in taken],
                              bot_available=not down, deferred=not taken, status=conv.status)

    # .. replies to a ticket's request for information ................................................

    async def _attach_to_ticket(self, conv_id: int, inbound_id: int, inc: Incoming,
                                deadline: datetime) -> TurnResult:
        from referral import service as referral  # the referral service layer, inside the app

        async with self.sf() as s:
            conv = await s.get(Conversation, conv_id)
            awaiting = dict(conv.meta.get("awaiting_reply") or {})
        ref = await referral.attach_citizen_reply(self.sf, awaiting.get("reference_no", ""),
                                                  inc.text, channel=inc.channel,
                                                  message_id=inbound_id)
        async with self.sf() as s, s.begin():
            conv = await s.get(Conversation, conv_id)
            conv.meta = {k: v for k, v in conv.meta.items() if k != "awaiting_reply"}
            # ref None: the ticket no longer waits for the citizen; the message stays received
            # and the bot answers it, within what is left of the provider's deadline.
            if ref is not None and await move_message(s, inbound_id, "received", "attached",
                                                      detail=f"attached to {ref}"):
                inbound = await s.get(Message, inbound_id)
                reply = self._system(s, conv, inbound_id,
                                     texts()["reply_attached"].format(reference_no=ref), utcnow())
                await s.flush()
                _answered_with(inbound, [reply])
                return TurnResult(conv_id, inbound_id, [reply.payload])
        self._ensure_turns(conv_id)
        return await self.wait_for_replies(conv_id, inbound_id, deadline)


async def release_late_replies(sf, now: datetime, reply_to_id: int | None = None) -> list[int]:
    """Replies left `ready` past their webhook's deadline become `queued` for the outbound path
    (a voice reply becomes `unspoken`: a call cannot be reached later). Also run by the worker,
    for a process that stopped between the bot's answer and the deadline."""
    cond = [Message.state == "ready", Message.direction == "out"]
    if reply_to_id is not None:
        cond.append(Message.reply_to_id == reply_to_id)
    async with sf() as s, s.begin():
        rows = list(await s.execute(select(Message.id, Message.channel, Message.reply_to_id)
                                    .where(*cond)))
        if not rows:
            return []
        deadlines = dict((await s.execute(select(Message.id, Message.reply_by).where(
            Message.id.in_({r.reply_to_id for r in rows})))).all())
        due = [r for r in rows if deadlines.get(r.reply_to_id) is None
               or deadlines[r.reply_to_id] + timedelta(seconds=LATE_GRACE_S) <= now]
        voice = [r.id for r in due if r.channel == "voice"
                 and deadlines.get(r.reply_to_id) and deadlines[r.reply_to_id] + VOICE_HOLD <= now]
        late = [r.id for r in due if r.channel != "voice"]
        if late:  # what the webhook took meanwhile is passive, and stays so
            late = await move_messages(s, Message.id.in_(late), frm="ready", to="queued", now=now,
                                       next_attempt_at=now)
        if voice:
            await move_messages(s, Message.id.in_(voice), frm="ready", to="unspoken", now=now,
                                detail="the caller had hung up")
    return late


# A caller on hold hears a short phrase and Twilio fetches the answer again (<Redirect>); after
# this long nobody is listening.
VOICE_HOLD = timedelta(minutes=2)
