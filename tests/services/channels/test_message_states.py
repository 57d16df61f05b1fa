"""One state machine for messages and conversations: every change is a guarded update, so when
two of them meet exactly one wins. An agent's claim during the bot's turn wins over the bot's
reply; a turn that outlives its lock is not answered twice; a delivery whose lease ran out is
not sent again from its first part; a webhook cancelled mid-way leaves no dedupe key behind; a
provider's report is never overwritten by the send it raced; WeChat's quota is spent only on
what WeChat took."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from channels import desk, sms
from channels import gateway as gateway_module
from channels import outbound as outbound_module
from channels.formatting import sms_parts, wechat_parts
from channels.gateway import Gateway, Incoming
from channels.models import Conversation, Message
from channels.outbound import Outbound
from channels.twilio import TwilioApi
from hotline.db import utcnow
from referral import service
from referral.access import Viewer
from referral.models import OutboxMessage
from tests.services.channels.conftest import (
    new_phone,
    post_twilio,
    post_wechat,
    settle,
    wechat_text,
)
from tests.services.channels.test_notices import file, relay, ticket

AGENT = Viewer("agent_states", "agent")
CLERK = Viewer("li", "staff", "civil_affairs")


async def _messages(ctx, conv_id: int) -> list[Message]:
    async with ctx.sessions() as s:
        return list(await s.scalars(select(Message).where(Message.conversation_id == conv_id)
                                    .order_by(Message.id)))


async def _conv_id(ctx, contact_id: str) -> int | None:
    async with ctx.sessions() as s:
        return await s.scalar(select(Conversation.id).where(Conversation.contact_id == contact_id))


async def _until(check, seconds: float = 10.0):
    for _ in range(int(seconds / 0.05)):
        if value := await check():
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {seconds} s")


def _other_process(ctx) -> Gateway:
    """A second app process: its own gateway on the same database and Redis."""
    return Gateway(ctx.sessions, ctx.redis, ctx.rasa_http, ctx.settings, ctx.outbound)


# --- the bot's turn against an agent and against another process ---------------------------------

async def test_an_agents_claim_during_the_bots_turn_wins(app):
    ctx, sender = app["ctx"], f"claimed-{uuid.uuid4().hex[:8]}"
    app["rasa"].delay_s = 1.0
    posting = asyncio.create_task(app["http"].post(
        "/channels/web/messages", json={"sender": sender, "text": "低保怎么申请"}))
    conv_id = await _until(lambda: _conv_id(ctx, sender))

    async def rasa_is_thinking():
        return any(b.get("sender") == f"web:{sender}" for b in app["rasa"].received)
    await _until(rasa_is_thinking)
    await desk.claim(ctx.sessions, ctx.redis, AGENT, conv_id)  # while Rasa is thinking
    r = await posting
    assert "收到：低保怎么申请" not in str(r.json()["replies"])
    await settle(ctx, 0.5)
    rows = await _messages(ctx, conv_id)
    assert [m.state for m in rows if m.direction == "in"] == ["held"]  # the agent's to answer
    assert not [m for m in rows if m.author == "bot" and m.state in
                ("ready", "passive", "queued", "sending", "sent", "delivered")]
    page = await app["http"].get("/channels/web/messages", params={"sender": sender})
    assert "收到" not in str(page.json()["messages"])
    async with ctx.sessions() as s:
        conv = await s.get(Conversation, conv_id)
    assert (conv.status, conv.assignee) == ("open", AGENT.username)


@pytest.mark.parametrize("renewing", [True, False], ids=["lock renewed", "fenced only"])
async def test_a_turn_that_outlives_its_lock_is_answered_once(app, monkeypatch, renewing):
    """A turn whose Rasa call outlasts the conversation's lock (a stalled process, a long GC)
    while another process's sweep comes by: the citizen gets one answer. With the lock renewed
    the other process cannot even start a second turn; without renewal (a frozen process) the
    message's guarded state still lets only one answer through."""
    ctx, sender = app["ctx"], f"lapsed-{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(gateway_module, "turn_lock_s", lambda settings: 0.6)
    if not renewing:
        monkeypatch.setattr(gateway_module, "LOCK_RENEW_SHARE", 100.0)  # never, in this test
    app["rasa"].delay_s = 1.5
    first = await ctx.gateway.receive(Incoming("web", sender, "特困供养的条件"), budget_s=0.1)
    assert first.deferred
    await asyncio.sleep(0.9)  # the first turn's lock has lapsed unless it is renewed
    other = _other_process(ctx)
    async with ctx.sessions() as s, s.begin():  # the webhook has long answered
        await s.execute(update(Message).where(Message.id == first.inbound_id)
                        .values(reply_by=utcnow() - timedelta(minutes=1)))
    await other.answer_unanswered(utcnow() + timedelta(hours=1))
    await asyncio.gather(other.settle(), ctx.gateway.settle())
    await settle(ctx, 0.3)
    asked = [b for b in app["rasa"].received if b.get("sender") == f"web:{sender}"]
    if renewing:
        assert len(asked) == 1  # the other process waited for the lock, and the turn was done
    answers = [m for m in await _messages(ctx, first.conversation_id)
               if m.author == "bot" and m.text and m.reply_to_id == first.inbound_id]
    assert [m.text for m in answers] == ["收到：特困供养的条件"]


async def test_a_cancelled_webhook_leaves_no_dedupe_key(app, monkeypatch):
    """A handler cancelled between Redis and the database (the client went away, the server is
    stopping): the provider's retry of the same message id gets in, it is not "a duplicate" of
    a message that was never stored."""
    ctx, sender, message_id = app["ctx"], f"cancel-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    real, entered = Gateway._store, asyncio.Event()

    async def slow_store(self, *args):
        entered.set()
        await asyncio.sleep(30)
        return await real(self, *args)

    monkeypatch.setattr(Gateway, "_store", slow_store)
    task = asyncio.create_task(ctx.gateway.receive(Incoming("web", sender, "你好", message_id), 5.0))
    await asyncio.wait_for(entered.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    monkeypatch.setattr(Gateway, "_store", real)
    assert not await ctx.redis.exists(f"dedupe:web:{sender}:{message_id}")
    retry = await ctx.gateway.receive(Incoming("web", sender, "你好", message_id), 3.0)
    assert not retry.duplicate and retry.replies and retry.replies[0]["text"] == "收到：你好"


# --- deliveries: leases, parts, reports ---------------------------------------------------------

LONG_SMS = "".join(f"第{i}句：请您带好户口簿、身份证和收入证明，到街道办事处社会救助窗口办理。"
                   for i in range(1, 9))


async def _sms_conversation(ctx) -> tuple[int, str]:
    phone = new_phone()
    return await ctx.outbound.conversation_for("sms", phone, phone), phone


def _bodies(app, phone: str) -> list[str]:
    return [m["Body"] for m in app["twilio"].sent if m["To"] == phone]


async def test_a_slow_delivery_keeps_its_lease_and_no_part_goes_twice(app, monkeypatch):
    ctx = app["ctx"]
    monkeypatch.setattr(outbound_module, "LEASE", timedelta(seconds=1))
    app["twilio"].delay_s = 0.3
    conv_id, phone = await _sms_conversation(ctx)
    parts = sms_parts(LONG_SMS)
    assert len(parts) >= 6  # about two seconds of sending: twice the lease
    msg = await ctx.outbound.send(conv_id, LONG_SMS, "agent")
    other = Outbound(ctx.sessions, ctx.redis, ctx.settings, ctx.outbound.senders)  # another worker
    for _ in range(15):
        await other.deliver_due()
        await asyncio.sleep(0.2)
    await settle(ctx)
    assert _bodies(app, phone) == parts  # each part once, in order
    async with ctx.sessions() as s:
        row = await s.get(Message, msg.id)
    assert row.state == "sent" and row.payload["sent_parts"]["sms"] == len(parts)


class _DiesAfter:
    """An SMS provider whose worker dies after `n` parts (the process is killed mid-message)."""

    def __init__(self, api: TwilioApi, n: int):
        self.real, self.left, self.dead = sms.TwilioSms(api), n, asyncio.Event()

    async def send(self, to, text, **kw):
        if self.left == 0:
            self.dead.set()
            await asyncio.Event().wait()  # never returns: the task is cancelled here
        self.left -= 1
        return await self.real.send(to, text, **kw)


async def test_a_delivery_whose_worker_died_resumes_after_the_last_part_sent(app, monkeypatch):
    ctx = app["ctx"]
    monkeypatch.setattr(outbound_module, "LEASE", timedelta(seconds=1))
    conv_id, phone = await _sms_conversation(ctx)
    parts = sms_parts(LONG_SMS)
    dying_provider = _DiesAfter(TwilioApi(ctx.http, ctx.settings.channels), 2)
    dying = Outbound(ctx.sessions, ctx.redis, ctx.settings, {"sms": sms.sender(ctx, dying_provider)})
    async with ctx.sessions() as s, s.begin():
        msg = Message(conversation_id=conv_id, direction="out", author="agent", channel="sms",
                      state="queued", text=LONG_SMS, payload={"text": LONG_SMS}, attempts=0,
                      next_attempt_at=utcnow(), created_at=utcnow())
        s.add(msg)
    worker = asyncio.create_task(dying.deliver(msg.id))
    await asyncio.wait_for(dying_provider.dead.wait(), 10)
    worker.cancel()
    await asyncio.gather(worker, return_exceptions=True)
    assert _bodies(app, phone) == parts[:2]
    await asyncio.sleep(1.2)  # its lease runs out
    await ctx.outbound.deliver_due()
    await settle(ctx)
    assert _bodies(app, phone) == parts  # the rest, and only the rest


class _DatabaseAway:
    """The sessions of one worker while the database restarts: from `away()` on, every use is
    refused for `down_s` seconds (as asyncpg is, connecting to a server that is not there)."""

    def __init__(self, sf, down_s: float):
        self.sf, self.down_s, self.back = sf, down_s, None

    def away(self) -> None:
        self.back = utcnow() + timedelta(seconds=self.down_s)

    def __call__(self):
        if self.back and utcnow() < self.back:
            raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")
        return self.sf()


class _ThenTheDatabaseGoes:
    """An SMS provider that takes the first part, and then the database goes away."""

    def __init__(self, api: TwilioApi, db: _DatabaseAway):
        self.real, self.db = sms.TwilioSms(api), db

    async def send(self, to, text, **kw):
        sent = await self.real.send(to, text, **kw)
        if self.db.back is None:
            self.db.away()
        return sent


async def test_a_part_the_provider_took_just_before_the_database_went_away_goes_once(app):
    """The record of each part sent waits for the database (as the result's does): a restart
    between Twilio's "accepted" and that record does not send the part again."""
    ctx = app["ctx"]
    conv_id, phone = await _sms_conversation(ctx)
    parts = sms_parts(LONG_SMS)
    db = _DatabaseAway(ctx.sessions, down_s=1.5)
    provider = _ThenTheDatabaseGoes(TwilioApi(ctx.http, ctx.settings.channels), db)
    worker = Outbound(db, ctx.redis, ctx.settings, {"sms": sms.sender(ctx, provider)})
    async with ctx.sessions() as s, s.begin():
        msg = Message(conversation_id=conv_id, direction="out", author="agent", channel="sms",
                      state="queued", text=LONG_SMS, payload={"text": LONG_SMS}, attempts=0,
                      next_attempt_at=utcnow(), created_at=utcnow())
        s.add(msg)
    assert await worker.deliver(msg.id) == "sent"
    assert db.back is not None and _bodies(app, phone) == parts  # each part once, in order
    async with ctx.sessions() as s:
        row = await s.get(Message, msg.id)
    assert row.state == "sent" and row.attempts == 1 and row.payload["sent_parts"]["sms"] == len(parts)


async def _accepted(ctx) -> str:
    """A ticket filed by SMS, just claimed: its 'accepted' notice waits to be relayed."""
    ref = await file(ctx, "sms", None, new_phone())
    await service.claim(ctx.sessions, CLERK, ref)
    return ref


async def _notice_message(ctx, ref: str) -> Message:
    t = await ticket(ctx, ref)

    async def handed():
        async with ctx.sessions() as s:
            mid = await s.scalar(select(OutboxMessage.message_id).where(
                OutboxMessage.ticket_id == t.id, OutboxMessage.message_id.is_not(None)))
            return mid and await s.get(Message, mid)
    return await _until(handed)


def _status(sid: str, state: str, error: str | None = None) -> dict:
    from tests.services.channels.conftest import OUR_NUMBER, TWILIO_SID

    return {"MessageSid": sid, "AccountSid": TWILIO_SID, "MessageStatus": state, "From": OUR_NUMBER,
            **({"ErrorCode": error} if error else {})}


async def test_a_notice_twilio_reports_undelivered_flags_the_ticket(app):
    ctx = app["ctx"]
    ref = await _accepted(ctx)
    await relay(ctx)
    msg = await _notice_message(ctx, ref)
    assert msg.state == "sent" and not (await ticket(ctx, ref)).notice_failed_at
    r = await post_twilio(app["http"], f"/channels/sms/twilio/status?m={msg.id}",
                          _status(msg.provider_id, "undelivered", "30003"))
    assert r.status_code == 204
    t = await ticket(ctx, ref)
    assert t.notice_failed_at is not None  # 通知未送达: the clerk must reach them another way
    detail = await service.get_ticket(ctx.sessions, CLERK, ref)
    assert detail["notice_failed"] and detail["notices"][-1]["status"] == "failed"
    assert "30003" in detail["notices"][-1]["detail"]


async def test_a_failed_report_before_the_send_is_recorded_is_not_overwritten(app):
    """Twilio's callback for a part can arrive while our request for the next part is still
    going: the failure stands; the send's own result does not turn it back into 'sent'."""
    ctx = app["ctx"]
    ref = await _accepted(ctx)
    app["twilio"].delay_s = 0.8
    relaying = asyncio.create_task(relay(ctx))
    msg = await _notice_message(ctx, ref)

    async def sending():
        async with ctx.sessions() as s:
            return (await s.get(Message, msg.id)).state == "sending"
    await _until(sending)
    r = await post_twilio(app["http"], f"/channels/sms/twilio/status?m={msg.id}",
                          _status("SM-early", "failed", "30005"))
    assert r.status_code == 204
    await relaying
    await settle(ctx)
    async with ctx.sessions() as s:
        row = await s.get(Message, msg.id)
    assert row.state == "failed" and "30005" in row.detail
    assert (await ticket(ctx, ref)).notice_failed_at is not None


# --- WeChat's customer-service quota and the passive answer's continuation ------------------------

async def _wechat_citizen(app, window_sent: int = 0) -> tuple[str, int, str]:
    oid, phone = f"o{uuid.uuid4().hex[:27]}", new_phone()
    await post_wechat(app["http"], wechat_text(oid, "你好"))
    conv_id = await _conv_id(app["ctx"], oid)
    async with app["ctx"].sessions() as s, s.begin():
        await s.execute(update(Conversation).where(Conversation.id == conv_id)
                        .values(phone=phone, window_sent=window_sent))
    return oid, conv_id, phone


async def _window_sent(ctx, conv_id: int) -> int:
    async with ctx.sessions() as s:
        return (await s.get(Conversation, conv_id)).window_sent


@pytest.mark.parametrize("failure", ["unavailable", "refused"])
async def test_a_failed_wechat_send_gives_its_slot_back(app, failure):
    ctx = app["ctx"]
    oid, conv_id, _ = await _wechat_citizen(app)
    if failure == "unavailable":
        app["wechat"].down = True
    else:
        app["wechat"].script.append(40003)  # WeChat refuses it for good (an invalid openid)
    await ctx.outbound.send(conv_id, "您的求助已受理。", "agent")
    await settle(ctx)
    assert await _window_sent(ctx, conv_id) == 0


async def test_a_fallback_to_sms_sends_only_what_wechat_did_not_take(app):
    ctx = app["ctx"]
    quota = ctx.settings.channels.wechat_window_quota
    oid, conv_id, phone = await _wechat_citizen(app, window_sent=quota - 2)
    text = "\n".join(f"第{i}段：" + "低保申请需要户口簿、身份证、收入证明和家庭财产情况说明。" * 18
                     for i in range(1, 4))
    parts = wechat_parts(text)
    assert len(parts) == 3
    await ctx.outbound.send(conv_id, text, "agent")
    await settle(ctx)
    assert [m["text"]["content"] for m in app["wechat"].sent if m["touser"] == oid] == parts[:2]
    by_sms = "".join(re.sub(r"^\(\d+/\d+\)", "", b) for b in _bodies(app, phone))
    assert re.sub(r"\s", "", by_sms) == re.sub(r"\s", "", parts[2])


async def test_a_long_passive_answers_continuation_goes_once_per_msgid(app):
    ctx = app["ctx"]
    reply = "".join(f"第{i}条：低保审核确认后按月发放，请留意银行卡到账短信。" for i in range(30))
    parts = wechat_parts(reply)
    assert len(parts) == 2
    app["rasa"].reply_text = reply
    oid, msg_id = f"o{uuid.uuid4().hex[:27]}", str(uuid.uuid4().int % 10**18)
    xml = wechat_text(oid, "低保怎么发", msg_id)
    first = await post_wechat(app["http"], xml)
    again = await post_wechat(app["http"], xml)  # WeChat's retry of the same MsgId
    assert first.status_code == again.status_code == 200
    await settle(ctx, 0.5)
    assert [m["text"]["content"] for m in app["wechat"].sent if m["touser"] == oid] == parts[1:]
