"""End to end on every channel, with the real Rasa server, action server, services app and
worker (`python -m hotline stack`) and fake WeChat and Twilio APIs on 127.0.0.1:

- WeChat (safe mode): a citizen files a help request, a clerk asks for information in the
  console, the notice arrives over the WeChat API, the citizen answers, the ticket resumes;
- SMS: the same over Twilio;
- the phone: a caller asks a policy question, then presses 0 for a person.
"""

from __future__ import annotations

import asyncio
import re
import uuid
import xml.etree.ElementTree as ET  # noqa: S405 - parsing our own TwiML in a test

import httpx
import pytest
from sqlalchemy import select

from channels.models import Conversation
from tests.services.channels.conftest import (
    OUR_NUMBER,
    TWILIO_SID,
    TWILIO_TOKEN,
    answer_for,
    new_phone,
    post_twilio,
    post_wechat,
    provider_env,
    read_reply,
    sms,
    twiml_messages,
    wechat_text,
)
from tests.services.fakes import FakeTwilio, FakeWeChat
from tests.services.stack_fixture import create_clerk, running_stack

pytestmark = pytest.mark.e2e
REFERENCE = re.compile(r"12349-\d{8}-\d{4}(?:-\d{3})?")
CLERK_PASSWORD = "Clerk-pass-12349"


@pytest.fixture(scope="module")
async def providers():
    wechat, twilio = await FakeWeChat().start(), await FakeTwilio(TWILIO_SID, TWILIO_TOKEN).start()
    yield {"wechat": wechat, "twilio": twilio}
    await wechat.stop()
    await twilio.stop()


@pytest.fixture(scope="module")
async def stack(settings, tmp_path_factory, providers):
    env = {**provider_env(providers["wechat"].url, providers["twilio"].url),
           "DELIVERY_INTERVAL_S": "1"}
    async with running_stack(settings, tmp_path_factory, env) as running:
        yield running


@pytest.fixture
async def http(stack):
    async with httpx.AsyncClient(base_url=stack["base"], timeout=90) as client:
        yield client


async def eventually(check, seconds: float = 30):
    for _ in range(int(seconds * 5)):
        found = check()
        if found:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError("not within the time allowed")


ANSWERS = [("称呼", "刘桂芬"), ("手机", "13900001111"), ("地区", "株洲"), ("乡镇", "月塘街道"),
           ("困难", "老伴瘫痪在床，家里没有收入，吃饭都成问题")]


async def fill_help_form(say) -> str:
    """The help form, answered as a citizen would whatever order it asks in; the reference no."""
    reply = await say("我要求助")
    for _ in range(8):
        if found := REFERENCE.search(reply):
            return found.group(0)
        answer = answer_for(reply, ANSWERS)
        assert answer, f"unexpected question: {reply}"
        reply = await say(answer)
    raise AssertionError(f"no reference number: {reply}")


async def clerk_requests_information(stack, username: str, ref: str, message: str) -> httpx.AsyncClient:
    await create_clerk(stack, username, CLERK_PASSWORD, "civil_affairs")
    clerk = httpx.AsyncClient(base_url=stack["base"], timeout=60)
    login = await clerk.post("/console/login", json={"username": username, "password": CLERK_PASSWORD})
    assert login.status_code == 200, login.text
    clerk.headers["X-CSRF-Token"] = login.json()["csrf_token"]
    for action, body in (("claim", {}), ("request_info", {"message": message})):
        r = await clerk.post(f"/api/tickets/{ref}/{action}", json=body)
        assert r.status_code == 200, r.text
    assert r.json()["status"] == "waiting_citizen"
    return clerk


async def test_wechat_help_request_information_and_answer(stack, http, providers):
    wechat, oid = providers["wechat"], f"o{uuid.uuid4().hex[:27]}"

    def sent_to_citizen() -> list[str]:
        return [m["text"]["content"] for m in wechat.sent if m["touser"] == oid]

    async def say(text: str) -> str:
        before = len(sent_to_citizen())
        r = await post_wechat(http, wechat_text(oid, text))
        assert r.status_code == 200, r.text
        if r.text != "success":
            return read_reply(r.text)["Content"]
        return " ".join(await eventually(lambda: sent_to_citizen()[before:]))  # a late answer

    ref = await fill_help_form(say)
    clerk = await clerk_requests_information(stack, "e2e_wx_clerk", ref, "请补充医院的收费单据")
    notice = await eventually(lambda: [t for t in sent_to_citizen() if "请补充医院的收费单据" in t])
    assert ref in notice[0]
    reply = await say("收费单据我明天拿去村委会复印")
    assert ref in reply and "承办人员" in reply
    ticket = (await clerk.get(f"/api/tickets/{ref}")).json()
    assert ticket["status"] == "in_progress" and ticket["channel"] == "wechat"
    answer = [e for e in ticket["events"] if e["kind"] == "citizen_reply"]
    assert answer[0]["data"]["text"] == "收费单据我明天拿去村委会复印"
    assert [n["status"] for n in ticket["notices"]] == ["sent", "sent"]
    await clerk.aclose()


async def test_sms_help_request_information_and_answer(stack, http, providers):
    twilio, phone = providers["twilio"], new_phone()

    def sent_to_citizen() -> list[str]:
        return [m["Body"] for m in twilio.sent if m["To"] == phone]

    async def say(text: str) -> str:
        before = len(sent_to_citizen())
        r = await post_twilio(http, "/channels/sms/twilio", sms(text, phone))
        assert r.status_code == 200, r.text
        parts = twiml_messages(r.text)
        if parts:
            return "".join(re.sub(r"^\(\d/\d\)", "", p) for p in parts)
        return "".join(await eventually(lambda: sent_to_citizen()[before:]))

    ref = await fill_help_form(say)  # the number it texts from is not asked for
    clerk = await clerk_requests_information(stack, "e2e_sms_clerk", ref, "请补充低保证复印件")
    notice = await eventually(lambda: [t for t in sent_to_citizen() if "低保证复印件" in t])
    assert ref in "".join(notice) or ref in "".join(sent_to_citizen())
    reply = await say("低保证复印件周五送过去")
    assert ref in reply
    ticket = (await clerk.get(f"/api/tickets/{ref}")).json()
    assert ticket["status"] == "in_progress" and ticket["citizen_phone"] == phone[3:]
    await clerk.aclose()


async def test_a_caller_asks_a_policy_question_then_presses_0(stack, http, sessions):
    phone, sid = new_phone(), f"CA{uuid.uuid4().hex}"
    call = {"CallSid": sid, "AccountSid": TWILIO_SID, "From": phone, "To": OUR_NUMBER}
    r = await post_twilio(http, "/channels/voice/twilio", call)
    assert ET.fromstring(r.text).find("Gather") is not None  # noqa: S314

    async def speak(text: str | None = None, digits: str | None = None, turn: int = 0) -> str:
        params = {**call, **({"SpeechResult": text} if text else {}),
                  **({"Digits": digits} if digits else {})}
        r = await post_twilio(http, f"/channels/voice/twilio/gather?t={turn}&r=0", params)
        for _ in range(5):  # the bot slower than Twilio's limit: the hold phrase, then …/wait
            root = ET.fromstring(r.text)  # noqa: S314
            redirect = root.find("Redirect")
            if redirect is None:
                return r.text
            r = await post_twilio(http, redirect.text, call)
        raise AssertionError(r.text)

    said = await speak("低保一个月能领多少钱", turn=0)
    if "地区" in said:
        said = await speak("株洲", turn=1)
    assert "低保（" in said and "Gather" in said  # a policy answer, spoken, then it listens again
    transferred = ET.fromstring(await speak(digits="0", turn=2))  # noqa: S314
    assert transferred.find("Enqueue") is not None
    async with sessions() as s:
        conv = await s.scalar(select(Conversation).where(Conversation.channel == "voice",
                                                         Conversation.contact_id == phone))
    assert (conv.status, conv.handoff_reason) == ("pending", "keypad_0")
    assert "低保一个月能领多少钱" in conv.handoff_summary and phone not in conv.handoff_summary
