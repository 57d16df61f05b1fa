"""SLA clocks that cannot be gamed or lost: a transfer keeps the resolution clock running from
filing and the escalation it reached; a request for information pauses the clock for a limited
time only; "breached" means the same in the queue's rows, its filter and the dashboard."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from hotline.db import utcnow
from referral import domain, service
from referral.models import SlaEvent, Ticket, TicketEvent
from referral.service import working_days_before
from tests.services.test_referral_service import CLERK, SUPERVISOR, file, ticket


async def _age(sessions, ref: str, working_days: int) -> Ticket:
    """The ticket as if filed `working_days` ago, its clocks set as the filing set them."""
    t = await ticket(sessions, ref)
    filed = working_days_before(utcnow(), working_days)
    sla = domain.sla_for(t.program, t.urgency, t.department)
    first_due, resolution_due = sla.deadlines(filed)
    async with sessions() as s, s.begin():
        await s.execute(update(Ticket).where(Ticket.id == t.id).values(
            created_at=filed, first_response_due=first_due, resolution_due=resolution_due,
            first_response_warn_at=first_due, resolution_warn_at=resolution_due))
    return await ticket(sessions, ref)


async def _sla_events(sessions, ticket_id: int) -> list[tuple]:
    async with sessions() as s:
        return sorted((e.target, e.kind, e.level, e.cycle) for e in await s.scalars(
            select(SlaEvent).where(SlaEvent.ticket_id == ticket_id)))


async def test_a_ticket_bounced_between_departments_still_breaches(sessions):
    ref = await file(sessions)  # 低保: 20 working days to resolve
    filed = await _age(sessions, ref, 18)
    await service.claim(sessions, CLERK, ref)
    await service.transfer(sessions, CLERK, ref, "housing", "住房问题")
    await service.transfer(sessions, SUPERVISOR, ref, "civil_affairs", "还是低保")
    t = await ticket(sessions, ref)
    # back with the same policy: the same resolution deadline, counted from filing
    assert t.resolution_due == filed.resolution_due
    assert t.first_responded_at is None and t.first_response_due > utcnow()  # the new office's
    async with sessions() as s, s.begin():  # the deadline passes
        await s.execute(update(Ticket).where(Ticket.id == t.id).values(
            resolution_due=utcnow() - timedelta(hours=1)))
    await service.sweep_sla(sessions, utcnow())
    events = await _sla_events(sessions, t.id)
    assert ("resolution", "breached", 0, t.sla_cycle) in events
    assert (await ticket(sessions, ref)).escalation_level == 1
    # and a further transfer neither un-breaches nor escalates it twice
    await service.transfer(sessions, SUPERVISOR, ref, "housing", "再转")
    await service.sweep_sla(sessions, utcnow())
    after = await ticket(sessions, ref)
    assert after.escalation_level >= 1 and after.breached(utcnow())
    assert [e for e in await _sla_events(sessions, t.id) if e[1] == "escalated" and e[2] == 1] == [
        ("any", "escalated", 1, t.sla_cycle)]


async def test_a_transfer_from_waiting_keeps_the_time_the_citizen_took(sessions):
    ref = await file(sessions)
    await service.claim(sessions, CLERK, ref)
    await service.request_info(sessions, CLERK, ref, "请补充户口本")
    t = await ticket(sessions, ref)
    async with sessions() as s, s.begin():
        await s.execute(update(Ticket).where(Ticket.id == t.id).values(
            paused_at=utcnow() - timedelta(days=2)))
    await service.transfer(sessions, CLERK, ref, "housing", "住房问题")
    moved = await ticket(sessions, ref)
    sla = domain.sla_for(moved.program, moved.urgency, "housing")
    expected = sla.deadlines(moved.created_at)[1] + timedelta(seconds=moved.paused_total_s)
    assert moved.paused_total_s >= 2 * 86400 - 5 and moved.paused_at is None
    assert abs((moved.resolution_due - expected).total_seconds()) < 1


async def test_an_unanswered_request_for_information_stops_pausing_the_clock(sessions):
    ref = await file(sessions)
    await service.claim(sessions, CLERK, ref)
    await service.request_info(sessions, CLERK, ref, "请补充户口本")
    t = await ticket(sessions, ref)
    limit = domain.waiting_citizen_limit_days()
    paused = working_days_before(utcnow(), limit + 1)
    async with sessions() as s, s.begin():
        await s.execute(update(Ticket).where(Ticket.id == t.id).values(paused_at=paused))
    due_before = t.resolution_due
    counts = await service.sweep_sla(sessions, utcnow())
    assert counts["pause_expired"] >= 1
    again = await service.sweep_sla(sessions, utcnow())  # once
    t = await ticket(sessions, ref)
    assert t.status == "in_progress" and t.paused_at is None and t.resolution_due > due_before
    assert ("any", "pause_expired", 0, t.sla_cycle) in await _sla_events(sessions, t.id)
    async with sessions() as s:
        told = list(await s.scalars(select(TicketEvent).where(
            TicketEvent.ticket_id == t.id, TicketEvent.kind == "pause_expired")))
    assert len(told) == 1 and again["pause_expired"] == 0
    # the citizen's late answer still reaches the ticket
    assert await service.attach_citizen_reply(sessions, ref, "户口本已补", channel="sms") == ref


async def test_breached_means_one_thing_everywhere(sessions):
    now = utcnow()
    states = {  # name -> (status, first responded, first due, resolution due)
        "late_first": ("new", False, now - timedelta(hours=1), now + timedelta(days=3)),
        "late_resolution": ("in_progress", True, now - timedelta(days=9), now - timedelta(hours=1)),
        "answered_in_time": ("accepted", True, now - timedelta(hours=1), now + timedelta(days=3)),
        "paused_past_due": ("waiting_citizen", True, now - timedelta(days=9), now - timedelta(days=1)),
        "done_past_due": ("resolved", True, now - timedelta(days=9), now - timedelta(days=1)),
        "on_time": ("new", False, now + timedelta(hours=1), now + timedelta(days=3)),
    }
    refs = {}
    for name, (status, responded, first_due, resolution_due) in states.items():
        ref = refs[name] = await file(sessions, program="medical", description=f"breach-{name}")
        async with sessions() as s, s.begin():
            await s.execute(update(Ticket).where(Ticket.reference_no == ref).values(
                status=status, first_responded_at=now - timedelta(days=1) if responded else None,
                first_response_due=first_due, resolution_due=resolution_due,
                paused_at=now if status == "waiting_citizen" else None))
    rows, _ = await service.list_tickets(sessions, SUPERVISOR, status="all", q="breach-", limit=50)
    in_rows = {r["reference_no"] for r in rows if r["breached"]}
    flagged, _ = await service.list_tickets(sessions, SUPERVISOR, status="all", q="breach-",
                                            breached=True, limit=50)
    in_filter = {r["reference_no"] for r in flagged}
    in_model = {ref for ref in refs.values() if (await ticket(sessions, ref)).breached(utcnow())}
    expected = {refs["late_first"], refs["late_resolution"]}
    assert in_rows == in_filter == in_model == expected
    board = {d["department"]: d for d in await service.dashboard(sessions, SUPERVISOR)}
    late_in_db, _ = await service.list_tickets(sessions, SUPERVISOR, department="medical",
                                               breached=True, limit=500)
    assert board["medical"]["breached"] == len(late_in_db)
