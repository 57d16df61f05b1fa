"""Referral use cases against the real database: lifecycle, role matrix, pauses, transfers,
SLA sweeps and escalation, outbox and audit."""

import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from hotline.db import utcnow
from referral import service
from referral.access import Viewer
from referral.domain import InvalidTransition
from referral.models import AuditEntry, OutboxMessage, SlaEvent, Ticket
from referral.workdays import CHINA, is_working_day

CLERK = Viewer("li", "staff", "civil_affairs")
OTHER_CLERK = Viewer("zhao", "staff", "education")
SUPERVISOR = Viewer("boss", "supervisor")


async def file(sessions, **over) -> str:
    fields = dict(program="dibao", region="341503", citizen_name="王秀英",
                  citizen_phone="13800001234", description=f"测试 {uuid.uuid4()}",
                  street="平桥乡人民政府", channel="web", conversation_id="web:abc")
    fields.update(over)
    body, created = await service.create_referral(sessions, service.NewReferral(**fields), None,
                                                  "test")
    assert created
    return body["reference_no"]


async def ticket(sessions, ref) -> Ticket:
    async with sessions() as s:
        return await s.scalar(select(Ticket).where(Ticket.reference_no == ref))


async def test_routing_to_the_street_office_and_by_keywords(sessions):
    t = await ticket(sessions, await file(sessions))
    assert (t.department, t.handling_unit) == ("civil_affairs", "平桥乡人民政府")
    assert t.sla_policy == "program:dibao/normal"
    assert t.applied_sla["resolution"]["value"] == 20
    sick = await ticket(sessions, await file(sessions, program="temporary",
                                             description="孩子白血病，治疗费凑不齐"))
    assert sick.department == "charity"


async def test_full_lifecycle_with_notifications(sessions):
    ref = await file(sessions)
    d = await service.claim(sessions, CLERK, ref)
    assert (d["status"], d["assignee"]) == ("accepted", "li") and d["first_responded_at"]
    d = await service.add_note(sessions, CLERK, ref, "已电话联系")
    assert d["events"][-1]["kind"] == "note"
    d = await service.request_info(sessions, CLERK, ref, "请提供户口本照片")
    assert d["status"] == "waiting_citizen" and d["paused"]
    d = await service.resume(sessions, CLERK, ref)
    assert d["status"] == "in_progress" and not d["paused"]
    d = await service.resolve(sessions, CLERK, ref, "已纳入低保，每月发放")
    assert d["status"] == "resolved" and d["result"].startswith("已纳入")
    d = await service.close(sessions, CLERK, ref)
    d = await service.reopen(sessions, CLERK, ref, "群众反映未到账")
    assert d["status"] == "reopened"
    async with sessions() as s:
        t = await ticket(sessions, ref)
        outbox = list(await s.scalars(select(OutboxMessage).where(OutboxMessage.ticket_id == t.id)
                                      .order_by(OutboxMessage.id)))
    assert [m.kind for m in outbox] == ["accepted", "waiting_citizen", "resolved"]
    assert ref in outbox[1].text and "户口本" in outbox[1].text
    assert all(m.status == "pending" and m.phone == "13800001234" for m in outbox)
    assert [e["kind"] for e in d["events"]] == ["created", "claim", "note", "request_info",
                                                "resume", "resolve", "close", "reopen"]


async def test_illegal_transitions_are_refused(sessions):
    ref = await file(sessions)
    with pytest.raises(InvalidTransition):
        await service.close(sessions, CLERK, ref)
    with pytest.raises(service.ValidationError):
        await service.resolve(sessions, CLERK, ref, "   ")


async def test_waiting_for_the_citizen_pauses_the_clock(sessions):
    ref = await file(sessions)
    await service.claim(sessions, CLERK, ref)
    await service.request_info(sessions, CLERK, ref, "请补充收入证明")
    before = await ticket(sessions, ref)
    async with sessions() as s, s.begin():  # the citizen took three days to answer
        await s.execute(update(Ticket).where(Ticket.id == before.id)
                        .values(paused_at=before.paused_at - timedelta(days=3)))
    await service.resume(sessions, CLERK, ref)
    after = await ticket(sessions, ref)
    ((paused, resumed),) = [(datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in after.pauses]
    assert paused == before.paused_at - timedelta(days=3)
    # the working time in those three days (a weekend or a holiday in them gives nothing back),
    # added to the deadline on working days: counted here day by day (the calendar itself is
    # test_calendar's)
    credit = sum((min(resumed, end) - max(paused, start) for start, end in _days(paused, resumed)
                  if is_working_day(start.astimezone(CHINA).date())), timedelta(0))
    assert credit < timedelta(days=3) or all(
        is_working_day(d.astimezone(CHINA).date()) for d, _ in _days(paused, resumed))
    due, left = before.resolution_due, credit
    for start, end in _days(due, due + timedelta(days=60)):
        if left > timedelta(0) and is_working_day(start.astimezone(CHINA).date()):
            step = min(left, end - max(start, due))
            due, left = max(start, due) + step, left - step
    assert abs(after.resolution_due - due) < timedelta(seconds=1), (after.resolution_due, due)


def _days(begin: datetime, end: datetime):
    """(start, end) of each day in China from the one holding `begin` to the one holding `end`."""
    day = begin.astimezone(CHINA).replace(hour=0, minute=0, second=0, microsecond=0)
    while day < end:
        following = (day + timedelta(days=1)).replace(hour=0)
        yield day, following
        day = following


async def test_role_matrix(sessions):
    ref = await file(sessions)
    with pytest.raises(service.NotFound):
        await service.get_ticket(sessions, OTHER_CLERK, ref)
    with pytest.raises(service.NotFound):
        await service.claim(sessions, OTHER_CLERK, ref)
    rows, _ = await service.list_tickets(sessions, OTHER_CLERK, status="all", limit=200)
    assert all(r["department"] == "education" for r in rows)
    street_clerk = Viewer("sun", "staff", "civil_affairs", ("341503100",))  # 苏埠镇
    with pytest.raises(service.NotFound):
        await service.get_ticket(sessions, street_clerk, ref)
    own_unit = Viewer("qian", "staff", "civil_affairs", ("341503204",))  # 平桥乡
    assert (await service.get_ticket(sessions, own_unit, ref))["citizen_phone"] == "13800001234"
    assert (await service.get_ticket(sessions, SUPERVISOR, ref))["reference_no"] == ref
    rows, total = await service.list_tickets(sessions, CLERK, q=ref)
    assert total == 1 and rows[0]["masked_phone"] == "138****1234"
    assert "citizen_phone" not in rows[0]


async def test_every_view_is_audited(sessions):
    ref = await file(sessions)
    await service.get_ticket(sessions, CLERK, ref, ip="10.1.2.3")
    t = await ticket(sessions, ref)
    async with sessions() as s:
        entries = list(await s.scalars(select(AuditEntry).where(AuditEntry.ticket_id == t.id)))
    assert [(e.actor, e.action, e.ip) for e in entries] == [("staff:li", "view", "10.1.2.3")]


async def test_transfer_applies_the_new_departments_clock(sessions):
    ref = await file(sessions)
    await service.claim(sessions, CLERK, ref)
    d = await service.transfer(sessions, CLERK, ref, "housing", "主要是住房问题")
    assert d["department"] == "housing" and d["status"] == "transferred"
    assert d["assignee"] is None and d["applied_sla"]["policy"] == "default"
    assert d["events"][-1]["data"]["reason"] == "主要是住房问题"
    # the clerk of the old department no longer sees it
    with pytest.raises(service.NotFound):
        await service.get_ticket(sessions, CLERK, ref)
    with pytest.raises(service.ValidationError):
        await service.transfer(sessions, SUPERVISOR, ref, "nowhere", "x")


async def test_sweep_records_breaches_once_and_escalates(sessions):
    ref = await file(sessions)
    t = await ticket(sessions, ref)
    now = utcnow()
    async with sessions() as s, s.begin():
        await s.execute(update(Ticket).where(Ticket.id == t.id).values(
            first_response_due=now - timedelta(hours=1), first_response_warn_at=now - timedelta(hours=2),
            resolution_due=now + timedelta(days=5), resolution_warn_at=now + timedelta(days=4)))
    await service.sweep_sla(sessions, now)
    await service.sweep_sla(sessions, now)  # idempotent
    async with sessions() as s:
        events = {(e.target, e.kind, e.level) for e in
                  await s.scalars(select(SlaEvent).where(SlaEvent.ticket_id == t.id))}
        n = len(list(await s.scalars(select(SlaEvent).where(SlaEvent.ticket_id == t.id))))
    assert events == {("first_response", "breached", 0), ("any", "escalated", 1)}
    assert n == 2
    t2 = await ticket(sessions, ref)
    assert (t2.escalation_level, t2.priority) == (1, 1)
    # long overdue: the civil-affairs coordinator is called in
    async with sessions() as s, s.begin():
        await s.execute(update(Ticket).where(Ticket.id == t.id).values(
            resolution_due=now - timedelta(days=10), resolution_warn_at=now - timedelta(days=12)))
    await service.sweep_sla(sessions, now)
    t3 = await ticket(sessions, ref)
    assert (t3.escalation_level, t3.priority) == (2, 2)


async def test_paused_tickets_do_not_breach(sessions):
    ref = await file(sessions)
    await service.claim(sessions, CLERK, ref)
    await service.request_info(sessions, CLERK, ref, "请补充材料")
    t = await ticket(sessions, ref)
    now = utcnow()
    async with sessions() as s, s.begin():
        await s.execute(update(Ticket).where(Ticket.id == t.id).values(
            resolution_due=now - timedelta(days=1)))
    await service.sweep_sla(sessions, now)
    async with sessions() as s:
        assert list(await s.scalars(select(SlaEvent).where(SlaEvent.ticket_id == t.id))) == []


async def test_approaching_deadline_is_flagged(sessions):
    ref = await file(sessions)
    t = await ticket(sessions, ref)
    now = utcnow()
    async with sessions() as s, s.begin():
        await s.execute(update(Ticket).where(Ticket.id == t.id).values(
            first_responded_at=now, resolution_warn_at=now - timedelta(minutes=1)))
    await service.sweep_sla(sessions, now)
    async with sessions() as s:
        kinds = [(e.target, e.kind) for e in
                 await s.scalars(select(SlaEvent).where(SlaEvent.ticket_id == t.id))]
    assert kinds == [("resolution", "approaching")]


async def test_dashboard_counts_backlog_and_breaches(sessions):
    ref = await file(sessions, program="housing", description="漏雨的危房")
    t = await ticket(sessions, ref)
    async with sessions() as s, s.begin():
        await s.execute(update(Ticket).where(Ticket.id == t.id).values(
            resolution_due=utcnow() - timedelta(hours=1)))
    board = {d["department"]: d for d in await service.dashboard(sessions, SUPERVISOR)}
    assert board["housing"]["open"] >= 1 and board["housing"]["breached"] >= 1
    own = await service.dashboard(sessions, OTHER_CLERK)
    assert [d["department"] for d in own] == ["education"]


async def test_search_treats_wildcards_as_text(sessions):
    ref = await file(sessions, description="编号a_b%c的情况")
    rows, total = await service.list_tickets(sessions, SUPERVISOR, q="a_b%c")
    assert [r["reference_no"] for r in rows] == [ref] and total == 1
    _, none = await service.list_tickets(sessions, SUPERVISOR, q="a%c_zz")
    assert none == 0
