"""投诉 as tracked cases (referral/complaints.py): the bot's `complain` files one about the
citizen's referral; it reaches the supervisors, never the clerk complained about; a second
complaint about the same referral is linked to the first; the supervisor's outcome reaches the
citizen on their channel, once; past its clock it is escalated once; the dashboard counts it."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta

import pytest
from sqlalchemy import select

from channels import outreach as channel_outreach
from channels.models import Conversation, Message
from hotline.db import utcnow
from referral import complaints, service
from referral.access import PermissionDenied, Viewer
from referral.models import Complaint, Outreach
from referral.workdays import CHINA, add_working_days
from tests.services.channels.conftest import new_phone, post_twilio, sms, twiml_messages

PATH = "/channels/sms/twilio"
BOSS = Viewer("zhang_duban", "supervisor")
CLERK = Viewer("li_minzheng", "staff", "civil_affairs")
COMPLAINT_NO = re.compile(r"TS\d{8}-\d{4}")


def daytime(days: int = 1) -> datetime:
    """10:00 in China, `days` from today: outside the quiet hours whenever the test runs (and,
    tomorrow, after anything queued today)."""
    return datetime.combine(utcnow().astimezone(CHINA).date() + timedelta(days=days), time(10), CHINA)


async def sms_citizen_with_a_referral(app) -> tuple[str, int, str]:
    phone = new_phone()
    await post_twilio(app["http"], PATH, sms("你好", phone))
    async with app["ctx"].sessions() as s:
        conv = await s.scalar(select(Conversation).where(Conversation.contact_id == phone))
    body, _ = await service.create_referral(app["ctx"].sessions, service.NewReferral(
        program="dibao", region="430200", citizen_name="刘桂芬", citizen_phone=phone,
        description="老伴走了没有收入", channel="sms", conversation_id=str(conv.id)), None, "test")
    return phone, conv.id, body["reference_no"]


async def test_a_complaint_the_bot_files_reaches_a_supervisor_and_the_outcome_reaches_the_citizen(app):
    ctx, twilio = app["ctx"], app["twilio"]
    phone, conv_id, ref = await sms_citizen_with_a_referral(app)

    said = "我要投诉，申请低保两个月了民政一直没人联系我"
    first = sms(said, phone)
    r = await post_twilio(app["http"], PATH, first)
    told = "".join(twiml_messages(r.text))
    number = COMPLAINT_NO.search(told).group(0)  # the citizen is told the complaint's number
    assert "5个工作日内答复" in told
    rows = await complaints.list_complaints(ctx.sessions, BOSS)
    mine = next(c for c in rows if c["reference_no"] == number)
    assert mine["ticket"] == ref and mine["department"] == "civil_affairs"
    assert mine["what_happened"].startswith(said) and mine["status"] == "open"
    assert mine["masked_phone"] != phone and phone not in str(mine)  # masked in the list
    with pytest.raises(PermissionDenied):  # the clerk complained about never sees it
        await complaints.list_complaints(ctx.sessions, CLERK)
    async with ctx.sessions() as s:
        c = await s.scalar(select(Complaint).where(Complaint.reference_no == number))
        conv = await s.get(Conversation, conv_id)
    assert c.filed_by == "bot" and c.due_at == add_working_days(c.created_at, 5)
    assert conv.status == "pending" and conv.handoff_reason == "complaint"  # a person hears it too

    # The same message retried by Twilio files nothing new; the agent who takes the
    # conversation files what the citizen says next, and it is linked to the first.
    assert (await post_twilio(app["http"], PATH, first)).status_code == 200
    agent = Viewer("wu_zuoxi", "agent")
    await complaints.file_by_staff(
        ctx.sessions, agent, what_happened="群众说上周打过电话也没人管", wants="尽快入户核查",
        ticket_ref=None, department=None, conversation_id=conv_id, phone=phone, channel="sms",
        source_key=f"desk:complaint:{conv_id}:k1")
    async with ctx.sessions() as s:
        filed = list(await s.scalars(select(Complaint).where(Complaint.conversation_id == conv_id)
                                     .order_by(Complaint.id)))
    assert len(filed) == 2 and filed[1].linked_to_id == filed[0].id
    rows = await complaints.list_complaints(ctx.sessions, BOSS)
    assert next(x for x in rows if x["reference_no"] == number)["repeats"] == 1
    page = await complaints.get_complaint(ctx.sessions, BOSS, filed[1].reference_no)
    assert [f["reference_no"] for f in page["linked_complaints"]] == [number]
    assert page["citizen_phone"] == phone  # the whole complaint for the supervisor

    counts = await complaints.counts(ctx.sessions, BOSS)
    assert counts["civil_affairs"]["open"] >= 2

    answered = await complaints.answer(ctx.sessions, BOSS, number,
                                       "已责成平桥乡民政所三日内入户核查")
    assert answered["status"] == "answered"
    async with ctx.sessions() as s:
        assert {x.status for x in await s.scalars(
            select(Complaint).where(Complaint.conversation_id == conv_id))} == {"answered"}
        queued = list(await s.scalars(select(Outreach).where(
            Outreach.complaint_id.in_([f.id for f in filed]))))
    assert len(queued) == 1  # one citizen, told once for both complaints
    with pytest.raises(service.InvalidTransition):
        await complaints.answer(ctx.sessions, BOSS, number, "再答一次")

    before = len(twilio.sent)
    await channel_outreach.relay(ctx.outbound, daytime(1))
    await channel_outreach.relay(ctx.outbound, daytime(1))  # a second pass sends nothing again
    await ctx.outbound.drain()
    to_citizen = [m for m in twilio.sent[before:] if m["To"] == phone]
    assert len(to_citizen) == 1
    assert number in to_citizen[0]["Body"] and "已责成平桥乡民政所三日内入户核查" in to_citizen[0]["Body"]
    async with ctx.sessions() as s:
        msg = await s.scalar(select(Message).where(Message.dedupe_key == f"outreach:{queued[0].id}"))
    assert msg.conversation_id == conv_id and msg.payload["notice"] == "complaint_answered"


async def test_a_complaint_past_its_clock_is_escalated_once(app):
    ctx = app["ctx"]
    async with ctx.sessions() as s, s.begin():
        c, created = await complaints.file(
            s, what_happened="窗口工作人员态度恶劣", source_key=f"test:{new_phone()}",
            filed_by="supervisor:zhang", channel="web", department="housing")
    assert created and c.department == "housing" and c.ticket_id is None
    assert await complaints.sweep(ctx.sessions, c.due_at - timedelta(minutes=1)) >= 0
    async with ctx.sessions() as s:
        assert (await s.get(Complaint, c.id)).escalation_level == 0
    await complaints.sweep(ctx.sessions, c.due_at + timedelta(minutes=1))
    await complaints.sweep(ctx.sessions, c.due_at + timedelta(hours=1))
    page = await complaints.get_complaint(ctx.sessions, BOSS, c.reference_no)
    assert page["escalation_level"] == 1
    assert [e["kind"] for e in page["events"]] == ["filed", "escalated"]
    with pytest.raises(service.ValidationError):
        async with ctx.sessions() as s, s.begin():
            await complaints.file(s, what_happened="x", source_key="test:bad-dept",
                                  filed_by="bot", channel="web", department="nowhere")
