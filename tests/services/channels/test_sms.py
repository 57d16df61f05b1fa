"""SMS through Twilio: signed webhooks (twilio's own RequestValidator), TwiML replies split at
clause boundaries, MessageSid retries, the 15-second limit, 退订 / START, delivery reports, the
provider interface's retries and dead letters, and every bad input."""

from __future__ import annotations

import asyncio
import re

import pytest
from sqlalchemy import func, select, update

from channels.formatting import SMS_UCS2
from channels.models import Conversation, Message, SmsOptOut
from hotline.db import utcnow
from tests.services.channels.conftest import (
    OUR_NUMBER,
    TWILIO_SID,
    new_phone,
    post_twilio,
    settle,
    sms,
    twiml_messages,
)

PATH = "/channels/sms/twilio"


async def conversation(ctx, phone: str) -> Conversation | None:
    async with ctx.sessions() as s:
        return await s.scalar(select(Conversation).where(Conversation.channel == "sms",
                                                         Conversation.contact_id == phone))


async def count(ctx) -> int:
    async with ctx.sessions() as s:
        return await s.scalar(select(func.count()).select_from(Message))


async def test_a_text_gets_the_bots_answer_in_twiml(app):
    phone = new_phone()
    r = await post_twilio(app["http"], PATH, sms("低保一个月多少钱", phone))
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/xml")
    assert twiml_messages(r.text) == ["收到：低保一个月多少钱"]
    sent = app["rasa"].received[-1]
    assert sent["sender"] == f"sms:{phone}" and sent["metadata"]["channel"] == "sms"
    conv = await conversation(app["ctx"], phone)
    assert conv.phone == phone


async def test_a_long_reply_is_split_at_clauses_never_inside_a_number(app):
    phone = new_phone()
    app["rasa"].reply_text = ("已为您登记求助（最低生活保障），编号12349-20261202-0001，已转给民政。"
                              "工作人员会在12月3日前联系您，最迟12月30日前办结。如有疑问请拨打12349。")
    try:
        r = await post_twilio(app["http"], PATH, sms("我要求助", phone))
    finally:
        app["rasa"].reply_text = None
    parts = twiml_messages(r.text)
    assert len(parts) == 2 and all(len(p) <= SMS_UCS2 for p in parts)
    assert parts[0].startswith("(1/2)") and parts[1].startswith("(2/2)")
    assert "12349-20261202-0001" in parts[0]  # the reference number whole, in one SMS
    assert all(re.search(r"[。，]$", p) or p.endswith("12349。") for p in parts)


async def test_a_retried_message_sid_is_one_turn(app):
    phone, body = new_phone(), sms("临时救助怎么申请", new_phone())
    body["From"] = phone
    before = len(app["rasa"].received)
    replies = await asyncio.gather(*[post_twilio(app["http"], PATH, body) for _ in range(3)])
    assert len(app["rasa"].received) == before + 1
    assert {tuple(twiml_messages(r.text)) for r in replies} == {("收到：临时救助怎么申请",)}
    conv = await conversation(app["ctx"], phone)
    async with app["ctx"].sessions() as s:
        n = await s.scalar(select(func.count()).select_from(Message).where(
            Message.conversation_id == conv.id, Message.direction == "in"))
    assert n == 1


async def test_a_slow_bot_gets_empty_twiml_then_a_rest_message_and_its_report(app):
    phone = new_phone()
    app["rasa"].delay_s = 3.0  # over the 1.5 s budget of these tests (Twilio's limit is 15 s)
    r = await post_twilio(app["http"], PATH, sms("特困供养怎么申请", phone))
    assert r.status_code == 200 and twiml_messages(r.text) == []
    for _ in range(60):
        await asyncio.sleep(0.1)
        if any(m["To"] == phone for m in app["twilio"].sent):
            break
    await settle(app["ctx"])
    (sent,) = [m for m in app["twilio"].sent if m["To"] == phone]
    assert sent["From"] == OUR_NUMBER and sent["Body"] == "收到：特困供养怎么申请"
    callback = sent["StatusCallback"]
    assert callback.startswith("https://hotline.example.gov.cn/channels/sms/twilio/status?m=")
    path = callback.removeprefix("https://hotline.example.gov.cn")
    report = {"MessageSid": sent["sid"], "MessageStatus": "delivered", "AccountSid": TWILIO_SID,
              "To": phone}
    r = await post_twilio(app["http"], path, report)
    assert r.status_code == 204
    message_id = int(path.split("m=")[1])
    async with app["ctx"].sessions() as s:
        row = await s.get(Message, message_id)
    assert (row.state, row.provider_id) == ("delivered", sent["sid"])
    late = {**report, "MessageStatus": "sent"}  # reports out of order move nothing back
    await post_twilio(app["http"], path, late)
    async with app["ctx"].sessions() as s:
        assert (await s.get(Message, message_id)).state == "delivered"


@pytest.mark.parametrize("stop", ["退订", "TD", "td", "STOP", " 退订。"])
async def test_tuiding_stops_every_sms_until_start(app, stop):
    phone = new_phone()
    r = await post_twilio(app["http"], PATH, sms(stop, phone))
    (confirm,) = twiml_messages(r.text)
    assert "已退订" in confirm and "订阅" in confirm
    async with app["ctx"].sessions() as s:
        assert await s.get(SmsOptOut, phone) is not None
    before = len(app["rasa"].received)
    r = await post_twilio(app["http"], PATH, sms("低保怎么办", phone))
    assert twiml_messages(r.text) == [] and len(app["rasa"].received) == before  # kept, not answered
    conv = await conversation(app["ctx"], phone)
    msg = await app["ctx"].outbound.send(conv.id, "您的求助已受理。", "system")
    await settle(app["ctx"])
    async with app["ctx"].sessions() as s:
        row = await s.get(Message, msg.id)
    assert row.state == "suppressed" and "退订" in row.detail
    assert not [m for m in app["twilio"].sent if m["To"] == phone]
    r = await post_twilio(app["http"], PATH, sms("订阅", phone))
    assert "恢复" in twiml_messages(r.text)[0]
    async with app["ctx"].sessions() as s:
        assert await s.get(SmsOptOut, phone) is None


async def test_twilios_own_opt_out_is_remembered_without_a_second_reply(app):
    phone = new_phone()
    r = await post_twilio(app["http"], PATH, sms("STOP", phone, OptOutType="STOP"))
    assert twiml_messages(r.text) == []  # Twilio has confirmed it already
    async with app["ctx"].sessions() as s:
        row = await s.get(SmsOptOut, phone)
    assert row.source == "twilio"


async def test_a_crisis_from_an_opted_out_number_still_reaches_a_person(app):
    phone = new_phone()
    await post_twilio(app["http"], PATH, sms("退订", phone))
    await post_twilio(app["http"], PATH, sms("我不想活了", phone))
    conv = await conversation(app["ctx"], phone)
    assert (conv.status, conv.handoff_reason) == ("pending", "crisis")


async def test_twilio_reporting_an_unsubscribed_number_records_the_opt_out(app):
    phone = new_phone()
    await post_twilio(app["http"], PATH, sms("你好", phone))
    conv = await conversation(app["ctx"], phone)
    app["twilio"].script.append((400, 21610))
    msg = await app["ctx"].outbound.send(conv.id, "您的求助已办结。", "system")
    await settle(app["ctx"])
    async with app["ctx"].sessions() as s:
        assert (await s.get(Message, msg.id)).state == "suppressed"
        assert (await s.get(SmsOptOut, phone)).source == "twilio"


async def test_an_outage_is_retried_with_backoff_then_dead_lettered(app):
    phone = new_phone()
    await post_twilio(app["http"], PATH, sms("你好", phone))
    conv = await conversation(app["ctx"], phone)
    max_attempts = app["ctx"].settings.delivery_max_attempts
    app["twilio"].script.extend([(503, None)] * max_attempts)
    msg = await app["ctx"].outbound.send(conv.id, "办理进度：已受理。", "system")
    await settle(app["ctx"])
    waits = []
    for _ in range(max_attempts - 1):
        async with app["ctx"].sessions() as s:
            row = await s.get(Message, msg.id)
        assert row.state == "queued"
        waits.append((row.next_attempt_at - utcnow()).total_seconds())
        async with app["ctx"].sessions() as s, s.begin():
            await s.execute(update(Message).where(Message.id == msg.id).values(next_attempt_at=utcnow()))
        await app["ctx"].outbound.deliver_due()
    async with app["ctx"].sessions() as s:
        row = await s.get(Message, msg.id)
    assert row.state == "failed" and row.attempts == max_attempts and "503" in row.detail
    assert waits[-1] > waits[0]  # backing off
    assert not [m for m in app["twilio"].sent if m["To"] == phone]


async def test_several_workers_deliver_a_message_once(app):
    phone = new_phone()
    await post_twilio(app["http"], PATH, sms("你好", phone))
    conv = await conversation(app["ctx"], phone)
    async with app["ctx"].sessions() as s, s.begin():
        rows = [Message(conversation_id=conv.id, direction="out", author="system", channel="sms",
                        state="queued", text=f"通知 {i}", payload={"text": f"通知 {i}"}, attempts=0,
                        next_attempt_at=utcnow(), created_at=utcnow()) for i in range(10)]
        s.add_all(rows)
    await asyncio.gather(*[app["ctx"].outbound.deliver_due() for _ in range(4)])
    for _ in range(50):  # the app's own delivery loop may still be finishing one
        bodies = [m["Body"] for m in app["twilio"].sent if m["To"] == phone]
        if len(bodies) >= 10:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)
    bodies = [m["Body"] for m in app["twilio"].sent if m["To"] == phone]
    assert bodies == [f"通知 {i}" for i in range(10)]  # each exactly once, in order


@pytest.mark.parametrize("case, status", [
    ("wrong signature", 403), ("signed for another URL", 403), ("another account", 403),
    ("not our number", 403), ("no MessageSid", 400), ("no From", 400), ("over 64 KB", 413),
    ("not utf-8", 400),
])
async def test_bad_requests_are_refused_and_nothing_is_stored(app, case, status):
    from urllib.parse import urlencode

    from tests.services.channels.conftest import twilio_signed

    http, ctx = app["http"], app["ctx"]
    before, sent = await count(ctx), len(app["rasa"].received)
    params = sms("你好", new_phone())
    headers = None
    if case == "wrong signature":
        headers = twilio_signed(PATH, params, token="another-auth-token")
    elif case == "signed for another URL":
        headers = {**twilio_signed("/channels/sms/other", params)}
    elif case == "another account":
        params["AccountSid"] = "AC" + "9" * 32
    elif case == "not our number":
        params["To"] = "+8610000000000"
    elif case == "no MessageSid":
        params.pop("MessageSid")
    elif case == "no From":
        params.pop("From")
    elif case == "over 64 KB":
        params["Body"] = "长" * 30_000
    body = urlencode(params).encode()
    if case == "not utf-8":
        body = "Body=你好".encode("gbk")
        headers = twilio_signed(PATH, {})
    r = await http.post(PATH, content=body, headers=headers or twilio_signed(PATH, params))
    assert r.status_code == status, (case, r.text)
    assert await count(ctx) == before and len(app["rasa"].received) == sent


async def test_an_empty_sms_and_a_picture_are_asked_in_words(app):
    phone = new_phone()
    before = len(app["rasa"].received)
    r = await post_twilio(app["http"], PATH, sms("", phone, NumMedia="1"))
    assert "文字" in twiml_messages(r.text)[0]
    r = await post_twilio(app["http"], PATH, sms("   ", phone))
    assert "文字" in twiml_messages(r.text)[0]
    assert len(app["rasa"].received) == before
