"""The desk where an agent's shift meets the clock: a conversation put back in the queue waits
afresh; taking over a live conversation starts a new episode; a clerk who follows their ticket
to a transcript sees only what their role allows; a ticket filed from a conversation is filed
once however often the button is pressed, and only by the agent who holds the conversation; a
household that told two needs gets one case with a referral for each (一门受理);
agent hours up to midnight keep every sweep running."""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select, update

from channels import desk
from channels.gateway import agents_on_duty
from channels.models import Conversation, Message
from hotline.db import utcnow
from hotline.settings import Settings
from hotline.worker import deliver_once
from referral import service
from referral.models import Ticket
from referral.workdays import CHINA
from tests.services.channels.conftest import new_phone, post_twilio, sms
from tests.services.channels.test_desk import act, handed_over, people  # noqa: F401 - fixture

_IDEMPOTENCY = re.compile(r'name="idempotency_key" value="([^"]+)"')


async def _conv(ctx, conv_id: int) -> Conversation:
    async with ctx.sessions() as s:
        return await s.get(Conversation, conv_id)


async def test_a_released_conversation_waits_afresh(app, people):  # noqa: F811
    """Held for 20 minutes and put back: the wait for the next agent starts now, it does not
    become a call-back ticket within seconds because the first wait began long ago."""
    ctx = app["ctx"]
    conv_id = await handed_over(app)
    await act(people["agent_a"], conv_id, "claim")
    async with ctx.sessions() as s, s.begin():  # waited 5 minutes, then held 20
        await s.execute(update(Conversation).where(Conversation.id == conv_id)
                        .values(pending_since=utcnow() - timedelta(minutes=25),
                                claimed_at=utcnow() - timedelta(minutes=20)))
    r = await act(people["agent_a"], conv_id, "release")
    assert r.status_code == 200 and r.json()["status"] == "pending"
    conv = await _conv(ctx, conv_id)
    assert (utcnow() - conv.pending_since).total_seconds() < 5
    assert conv.claimed_at is None and conv.assignee is None
    await desk.call_back_unclaimed(ctx.sessions, ctx.outbound, ctx.settings)
    assert (await _conv(ctx, conv_id)).status == "pending"  # still waiting for an agent
    async with ctx.sessions() as s:
        assert not await s.scalar(select(func.count()).select_from(Ticket).where(
            Ticket.conversation_id == str(conv_id)))


async def test_taking_over_a_live_bot_conversation_starts_a_new_episode(app, people):  # noqa: F811
    ctx = app["ctx"]
    conv_id = await handed_over(app)  # an earlier episode: 转人工, claimed, answered, handed back
    await act(people["agent_a"], conv_id, "claim")
    await act(people["agent_a"], conv_id, "reply", text="您好")
    await act(people["agent_a"], conv_id, "hand_back")
    async with ctx.sessions() as s, s.begin():
        await s.execute(update(Conversation).where(Conversation.id == conv_id)
                        .values(pending_since=utcnow() - timedelta(days=2)))
    r = await act(people["agent_b"], conv_id, "claim")  # an agent takes it from the bot
    assert r.status_code == 200
    conv = await _conv(ctx, conv_id)
    assert (conv.status, conv.assignee) == ("open", people["agent_b"].username)
    assert conv.handoff_reason == "taken_over" and conv.handoff_summary is None
    assert conv.first_agent_reply_at is None and conv.waiting_told_at is None
    assert (utcnow() - conv.pending_since).total_seconds() < 5
    assert (utcnow() - conv.claimed_at).total_seconds() < 5


async def test_a_clerk_following_a_ticket_sees_only_their_own_tickets_and_no_notes(app, people, sessions):  # noqa: F811
    phone = new_phone()
    conv_id = await handed_over(app, phone=phone)
    agent = people["agent_a"]
    await act(agent, conv_id, "claim")
    await act(agent, conv_id, "note", text="坐席内部备注：老人情绪不稳")
    r = await act(agent, conv_id, "ticket", program="dibao", region="430200", street="月塘街道",
                  citizen_name="王秀英", phone=phone[3:], description="老伴瘫痪，家里没有收入")
    ours = r.json()["reference_no"]
    theirs, _ = await service.create_referral(sessions, service.NewReferral(
        program="education", region="430200", citizen_name="王秀英", citizen_phone=phone[3:],
        description="孙子上学的学费", channel="api"), None, "test")
    page = (await people["clerk"].client.get(f"/console/desk/conversations/{conv_id}")).text
    assert f'data-reference="{ours}"' in page  # the clerk's own department's ticket
    assert theirs["reference_no"] not in page  # education's ticket of the same phone is not theirs
    assert "坐席内部备注" not in page  # agents' private notes stay on the desk
    desk_page = (await agent.client.get(f"/console/desk/conversations/{conv_id}")).text
    assert theirs["reference_no"] in desk_page and "坐席内部备注" in desk_page  # the agent sees both


async def test_a_ticket_from_a_conversation_is_filed_once_however_often_it_is_sent(app, people, sessions):  # noqa: F811
    phone = new_phone()
    conv_id = await handed_over(app, phone=phone)
    agent = people["agent_a"]
    await act(agent, conv_id, "claim")
    page = (await agent.client.get(f"/console/desk/conversations/{conv_id}")).text
    (key,) = _IDEMPOTENCY.findall(page)
    form = {"csrf_token": agent.csrf, "idempotency_key": key, "program": "tekun", "region": "320200",
            "citizen_name": "赵大爷", "phone": phone[3:], "description": "独居老人，腿脚不便"}
    first, second = await asyncio.gather(
        *[agent.client.post(f"/console/desk/conversations/{conv_id}/ticket", data=form,
                            headers={"Accept": "application/json"}) for _ in range(2)])
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    assert first.json()["reference_no"] == second.json()["reference_no"]
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Ticket).where(
            Ticket.conversation_id == str(conv_id))) == 1
    fresh = (await agent.client.get(f"/console/desk/conversations/{conv_id}")).text
    assert _IDEMPOTENCY.findall(fresh) != [key]  # the next ticket is a new one


_NEEDS = {"住院": ("medical", 0.93), "学费": ("education", 0.9)}


def _read_by_words(text: str) -> dict:
    """A classifier that knows one need per word and is unsure of a story with both."""
    hits = [need for word, need in _NEEDS.items() if word in text]
    program, confidence = hits[0] if len(hits) == 1 else ("medical", 0.4)
    return {"intent": {"name": "request_help", "confidence": 0.9}, "entities": [],
            "need": {"program": program, "confidence": confidence}}


async def test_a_household_that_told_two_needs_gets_one_case_with_a_referral_each(app, people, sessions):  # noqa: F811
    phone = new_phone()
    told = "老伴住院花了好几万，孙子上学的学费也交不起了"
    await post_twilio(app["http"], "/channels/sms/twilio", sms(told, phone))
    conv_id = await handed_over(app, phone=phone)
    agent = people["agent_a"]
    await act(agent, conv_id, "claim")
    app["rasa"].parse_for = _read_by_words
    try:
        page = (await agent.client.get(f"/console/desk/conversations/{conv_id}")).text
    finally:
        app["rasa"].parse_for = None
    ticked = set(re.findall(r'name="also" value="(\w+)" checked', page))
    selected = re.search(r'<select name="program"[^>]*>.*?<option value="(\w+)" selected', page, re.S)
    assert {"medical", "education"} <= ticked | {selected and selected[1]}, (ticked, selected)
    (key,) = _IDEMPOTENCY.findall(page)
    form = {"csrf_token": agent.csrf, "idempotency_key": key, "program": "medical", "also": ["education"],
            "region": "430200", "citizen_name": "王秀英", "phone": phone[3:],
            "description": told}
    first, second = await asyncio.gather(
        *[agent.client.post(f"/console/desk/conversations/{conv_id}/ticket", data=form,
                            headers={"Accept": "application/json"}) for _ in range(2)])
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    assert first.json()["reference_no"] == second.json()["reference_no"]
    assert first.json()["referrals"] == 2
    async with sessions() as s:
        filed = (await s.scalars(select(Ticket).where(Ticket.conversation_id == str(conv_id)))).all()
    assert sorted(t.program for t in filed) == ["education", "medical"]  # one each, pressed twice
    assert len({t.case_id for t in filed}) == 1 and len({t.department for t in filed}) == 2
    bad = await act(agent, conv_id, "ticket", **{**form, "also": "education", "idempotency_key": "x" * 16})
    assert bad.status_code == 422  # a list of programs or nothing


async def test_filing_and_attaching_need_the_conversation_held_and_the_ticket_allowed(app, people, sessions):  # noqa: F811
    phone = new_phone()
    conv_id = await handed_over(app, phone=phone)
    await act(people["agent_a"], conv_id, "claim")
    body = {"program": "dibao", "region": "430200", "citizen_name": "王秀英", "phone": phone[3:],
            "description": "家里没有收入"}
    refused = await act(people["agent_b"], conv_id, "ticket", **body)  # agent_a holds it
    assert refused.status_code == 409
    mine, _ = await service.create_referral(sessions, service.NewReferral(
        program="tekun", region="320200", citizen_name="王秀英", citizen_phone=phone[3:],
        description="独居", channel="api"), None, "test")
    strangers, _ = await service.create_referral(sessions, service.NewReferral(
        program="tekun", region="320200", citizen_name="李四", citizen_phone=new_phone()[3:],
        description="另一位群众", channel="api"), None, "test")
    assert (await act(people["agent_b"], conv_id, "attach",
                      reference_no=mine["reference_no"])).status_code == 409
    other = await act(people["agent_a"], conv_id, "attach", reference_no=strangers["reference_no"])
    assert other.status_code == 422 and "没有这个编号" in other.json()["error"]["message"]
    assert strangers["reference_no"] not in other.text and "李" not in other.text
    ok = await act(people["agent_a"], conv_id, "attach", reference_no=mine["reference_no"])
    assert ok.status_code == 200 and ok.json()["reference_no"] == mine["reference_no"]
    async with sessions() as s:
        t = await s.scalar(select(Ticket).where(Ticket.reference_no == strangers["reference_no"]))
    assert t.conversation_id is None  # nothing changed on the stranger's ticket


# --- agent hours -------------------------------------------------------------------------------------

def test_agent_hours_until_midnight_are_one_span_for_every_reader():
    settings = Settings.from_env({"AGENT_HOURS": "08:00-24:00"}).channels
    monday_late = datetime(2026, 12, 7, 23, 50, tzinfo=CHINA)  # a working day
    assert agents_on_duty(settings.agent_hours, monday_late)
    assert not agents_on_duty(settings.agent_hours, monday_late.replace(hour=7))
    due = desk.claim_deadline(monday_late, 15, settings.agent_hours)
    assert due == datetime(2026, 12, 8, 8, 5, tzinfo=CHINA)  # 23:50-24:00, then 08:00-08:05
    assert desk.claim_deadline(monday_late.replace(minute=30), 15, settings.agent_hours) == \
        monday_late.replace(minute=45)


@pytest.mark.parametrize("spec", ["08:00-25:00", "17:00-08:00", "8点-17点", "08:00",
                                  "12:00-13:00,12:30-14:00"])
def test_bad_agent_hours_stop_the_start_naming_the_setting(spec):
    with pytest.raises(ValueError, match="AGENT_HOURS"):
        Settings.from_env({"AGENT_HOURS": spec})


async def test_a_desk_open_until_midnight_keeps_every_delivery_sweep_running(app):
    ctx = app["ctx"]
    late = Settings.from_env({"AGENT_HOURS": "08:00-24:00"}).channels
    ctx_late = SimpleNamespace(**{name: getattr(ctx, name) for name in (
        "sessions", "redis", "http", "rasa_http", "gateway", "outbound")})
    ctx_late.settings = replace(ctx.settings, channels=replace(ctx.settings.channels,
                                                               agent_hours=late.agent_hours))
    conv_id = await handed_over(app)
    async with ctx.sessions() as s, s.begin():
        await s.execute(update(Conversation).where(Conversation.id == conv_id)
                        .values(pending_since=utcnow() - timedelta(days=3)))
    oid = await ctx.outbound.conversation_for("web", f"late-{uuid.uuid4().hex[:6]}")
    queued = await ctx.outbound.send(oid, "您好", "agent")
    counts = await deliver_once(ctx_late)
    assert counts["call_backs"] >= 1  # the call-back sweep ran, with hours up to 24:00
    async with ctx.sessions() as s:
        assert (await s.get(Message, queued.id)).state == "sent"  # and so did the deliveries
