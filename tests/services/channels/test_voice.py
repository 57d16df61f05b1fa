"""The phone line: the Mandarin IVR's TwiML, speech and keys to the bot, replies spoken with
numbers digit by digit, reprompts, 0 and 转人工 to the agents' queue with a summary, and the
hold phrase with <Redirect> when the bot is slower than Twilio's limit."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET  # noqa: S405 - parsing our own TwiML in a test

from sqlalchemy import select

from channels.models import Conversation
from tests.services.channels.conftest import OUR_NUMBER, TWILIO_SID, new_phone, post_twilio

BASE = "/channels/voice/twilio"


def call(phone: str, sid: str, **extra) -> dict:
    return {"CallSid": sid, "AccountSid": TWILIO_SID, "From": phone, "To": OUR_NUMBER,
            "CallStatus": "in-progress", **extra}


def verbs(text: str) -> list[ET.Element]:
    return list(ET.fromstring(text))  # noqa: S314


def said(text: str) -> str:
    return " ".join(e.text or "" for e in ET.fromstring(text).iter("Say"))  # noqa: S314


async def conversation(ctx, phone: str) -> Conversation:
    async with ctx.sessions() as s:
        return await s.scalar(select(Conversation).where(Conversation.channel == "voice",
                                                         Conversation.contact_id == phone))


async def test_a_call_is_greeted_and_listened_to_in_mandarin(app):
    r = await post_twilio(app["http"], BASE, call(new_phone(), f"CA{uuid.uuid4().hex}"))
    assert r.status_code == 200
    root = ET.fromstring(r.text)  # noqa: S314
    say = root.find("Say")
    assert say.get("voice") == "Polly.Zhiyu" and say.get("language") == "zh-CN"
    assert "12349" not in say.text and "幺 二 三 四 九" in say.text  # the hotline read digit by digit
    gather = root.find("Gather")
    assert gather.get("input") == "speech dtmf" and gather.get("language") == "cmn-Hans-CN"
    assert gather.get("action") == f"{BASE}/gather?t=0&r=0"
    menu = gather.find("Say").text
    assert "按1" in menu and "按0" in menu and "按9" in menu


async def test_speech_goes_to_the_bot_and_the_answer_is_spoken(app):
    phone, sid = new_phone(), f"CA{uuid.uuid4().hex}"
    app["rasa"].reply_text = "您的编号是12349-20261202-0001，低保标准是每月700元。"
    r = await post_twilio(app["http"], f"{BASE}/gather?t=0&r=0",
                          call(phone, sid, SpeechResult="我的申请办到哪一步了", Confidence="0.9"))
    sent = app["rasa"].received[-1]
    assert sent["message"] == "我的申请办到哪一步了" and sent["sender"] == f"voice:{phone}"
    spoken = said(r.text)
    assert "幺 二 三 四 九，二 零 二 六 幺 二 零 二，零 零 零 幺" in spoken and "700元" in spoken
    gather = ET.fromstring(r.text).find("Gather")  # noqa: S314
    assert gather.get("action") == f"{BASE}/gather?t=1&r=0"


async def test_keys_choose_the_menu_then_key_in_numbers(app):
    phone, sid = new_phone(), f"CA{uuid.uuid4().hex}"
    await post_twilio(app["http"], f"{BASE}/gather?t=0&r=0", call(phone, sid, Digits="2"))
    assert app["rasa"].received[-1]["message"] == "我要求助"
    await post_twilio(app["http"], f"{BASE}/gather?t=1&r=0", call(phone, sid, Digits="13800001234#"))
    assert app["rasa"].received[-1]["message"] == "13800001234"  # a number keyed where asked


async def test_nine_repeats_and_silence_is_asked_again_twice_then_a_person(app):
    phone, sid = new_phone(), f"CA{uuid.uuid4().hex}"
    before = len(app["rasa"].received)
    r = await post_twilio(app["http"], f"{BASE}/gather?t=0&r=0", call(phone, sid, Digits="9"))
    assert "按1" in said(r.text)
    r = await post_twilio(app["http"], f"{BASE}/gather?t=0&r=0", call(phone, sid))
    assert "没有听清" in said(r.text)
    assert ET.fromstring(r.text).find("Gather").get("action").endswith("r=1")  # noqa: S314
    r = await post_twilio(app["http"], f"{BASE}/gather?t=0&r=1", call(phone, sid))
    assert "没有听清" in said(r.text)
    r = await post_twilio(app["http"], f"{BASE}/gather?t=0&r=2", call(phone, sid))
    assert ET.fromstring(r.text).find("Enqueue").text == "12349-agents"  # noqa: S314
    assert len(app["rasa"].received) == before  # silence is not a message
    conv = await conversation(app["ctx"], phone)
    assert (conv.status, conv.handoff_reason) == ("pending", "no_input")


async def test_zero_sends_the_call_to_the_agents_queue_with_a_summary(app):
    phone, sid = new_phone(), f"CA{uuid.uuid4().hex}"
    await post_twilio(app["http"], f"{BASE}/gather?t=0&r=0",
                      call(phone, sid, SpeechResult="低保怎么申请，我电话13812345678"))
    r = await post_twilio(app["http"], f"{BASE}/gather?t=1&r=0", call(phone, sid, Digits="0"))
    root = ET.fromstring(r.text)  # noqa: S314
    enqueue = root.find("Enqueue")
    assert enqueue.text == "12349-agents" and enqueue.get("waitUrl") == f"{BASE}/queue-wait"
    assert "转接人工" in said(r.text)
    conv = await conversation(app["ctx"], phone)
    assert (conv.status, conv.handoff_reason) == ("pending", "keypad_0")
    assert "按0" in conv.handoff_summary and "低保怎么申请" in conv.handoff_summary
    assert "13812345678" not in conv.handoff_summary and "138****5678" in conv.handoff_summary
    assert phone not in conv.handoff_summary  # the caller's number masked too


async def test_asking_the_bot_for_a_person_transfers_the_call(app):
    phone, sid = new_phone(), f"CA{uuid.uuid4().hex}"
    r = await post_twilio(app["http"], f"{BASE}/gather?t=0&r=0", call(phone, sid, SpeechResult="转人工"))
    assert "正在为您转接人工" in said(r.text)
    assert ET.fromstring(r.text).find("Enqueue") is not None  # noqa: S314
    conv = await conversation(app["ctx"], phone)
    assert (conv.status, conv.handoff_reason, conv.handoff_summary) == \
        ("pending", "request_human", "想找真人")  # the bot's summary kept


async def test_a_slow_bot_holds_the_caller_then_the_answer_is_fetched(app):
    phone, sid = new_phone(), f"CA{uuid.uuid4().hex}"
    app["rasa"].delay_s = 2.0  # over the 1.5 s budget of these tests (Twilio's limit is 15 s)
    r = await post_twilio(app["http"], f"{BASE}/gather?t=0&r=0", call(phone, sid, SpeechResult="特困是什么"))
    root = ET.fromstring(r.text)  # noqa: S314
    assert "请稍等" in said(r.text)
    redirect = root.find("Redirect").text
    assert redirect.startswith(f"{BASE}/wait?m=") and redirect.endswith("&t=0&w=1")
    r = await post_twilio(app["http"], redirect, call(phone, sid))
    assert "收到：特困是什么" in said(r.text)
    assert ET.fromstring(r.text).find("Gather") is not None  # noqa: S314


async def test_another_callers_turn_cannot_be_fetched(app):
    phone, sid = new_phone(), f"CA{uuid.uuid4().hex}"
    app["rasa"].delay_s = 2.0
    r = await post_twilio(app["http"], f"{BASE}/gather?t=0&r=0", call(phone, sid, SpeechResult="你好"))
    redirect = ET.fromstring(r.text).find("Redirect").text  # noqa: S314
    other = await post_twilio(app["http"], redirect, call(new_phone(), f"CA{uuid.uuid4().hex}"))
    assert other.status_code == 404


async def test_an_unsigned_call_is_refused(app):
    from urllib.parse import urlencode

    body = urlencode(call(new_phone(), "CA1")).encode()
    r = await app["http"].post(BASE, content=body,
                               headers={"Content-Type": "application/x-www-form-urlencoded",
                                        "X-Twilio-Signature": "bm90LWl0"})
    assert r.status_code == 403


async def test_after_hours_the_caller_is_told_when_agents_are_back(app, monkeypatch):
    from channels import voice

    monkeypatch.setattr(voice, "agents_on_duty", lambda hours, now: False)
    phone, sid = new_phone(), f"CA{uuid.uuid4().hex}"
    r = await post_twilio(app["http"], f"{BASE}/gather?t=0&r=0", call(phone, sid, Digits="0"))
    root = ET.fromstring(r.text)  # noqa: S314
    assert root.find("Enqueue") is None and root.find("Hangup") is not None
    assert "下班时间" in said(r.text) and "幺 幺 零" in said(r.text)
    conv = await conversation(app["ctx"], phone)
    assert conv.status == "pending"  # waiting for a call-back
