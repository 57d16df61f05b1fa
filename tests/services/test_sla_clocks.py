"""SLA clocks that cannot be gamed or lost: a transfer keeps the resolution clock running from
filing and the escalation it reached; a request for information pauses the clock for a limited
time only; "breached" means the same in the queue's rows, its filter and the dashboard."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update

from hotline.db import utcnow
from referral import domain, service
from referral.models import SlaEvent, Ticket, TicketEvent
from referral.service import working_days_before
from referral.workdays import CHINA, add_working_days, add_working_time, is_working_day, working_time
from tests.services.test_referral_service import CLERK, SUPERVISOR, file, ticket


async def _filed(sessions, ref: str, filed: datetime) -> Ticket:
    """The ticket as if filed at `filed`, its clocks set as the filing set them."""
    t = await ticket(sessions, ref)
    sla = domain.sla_for(t.program, t.urgency, t.department)
    first_due, resolution_due = sla.deadlines(filed)
    async with sessions() as s, s.begin():
        await s.execute(update(Ticket).where(Ticket.id == t.id).values(
            created_at=filed, first_response_due=first_due, resolution_due=resolution_due,
            first_response_warn_at=service._warn_at(filed, first_due),
            resolution_warn_at=service._warn_at(filed, resolution_due)))
    return await ticket(sessions, ref)


async def _waiting_since(sessions, ref: str, paused: datetime) -> None:
    """A request for information sent at `paused`."""
    await service.claim(sessions, CLERK, ref)
    await service.request_info(sessions, CLERK, ref, "请补充户口本")
    async with sessions() as s, s.begin():
        await s.execute(update(Ticket).where(Ticket.reference_no == ref).values(paused_at=paused))


def _local_day(moment: datetime):
    return moment.astimezone(CHINA).date()


async def _sla_events(sessions, ticket_id: int) -> list[tuple]:
    async with sessions() as s:
        return sorted((e.target, e.kind, e.level, e.cycle) for e in await s.scalars(
            select(SlaEvent).where(SlaEvent.ticket_id == ticket_id)))


async def test_a_ticket_bounced_between_departments_still_breaches(sessions):
    ref = await file(sessions)  # 低保: 20 working days to resolve
    filed = await _filed(sessions, ref, working_days_before(utcnow(), 18))
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
    paused = utcnow() - timedelta(days=2)
    await _waiting_since(sessions, ref, paused)
    await service.transfer(sessions, CLERK, ref, "housing", "住房问题")
    moved = await ticket(sessions, ref)
    assert moved.paused_at is None
    assert moved.pauses == [[paused.isoformat(), moved.updated_at.isoformat()]]
    # housing's 15 working days from filing, and the working time of the wait on top
    sla = domain.sla_for(moved.program, moved.urgency, "housing")
    assert moved.resolution_due == add_working_time(sla.resolution.due_from(moved.created_at),
                                                    working_time(paused, moved.updated_at))


async def test_a_pause_the_sweep_ends_is_credited_in_working_days(sessions):
    """The citizen did not answer for 15 days, 12 of them working days, with 中秋 (25–27 Sep 2026)
    ahead: the deadline moves 12 working days (Thursday 10 Sep to Monday 28 Sep, at the same time
    of day), not 15 calendar days into the holiday; its warning time ends on a working day too."""
    ref = await file(sessions)  # 低保: 20 working days
    due = datetime(2026, 9, 10, 10, tzinfo=CHINA)
    filed = await _filed(sessions, ref, working_days_before(due, 20))
    assert filed.resolution_due == due
    await _waiting_since(sessions, ref, datetime(2026, 9, 9, 10, tzinfo=CHINA))
    counts = await service.sweep_sla(sessions, datetime(2026, 9, 24, 10, tzinfo=CHINA))
    t = await ticket(sessions, ref)
    assert counts["pause_expired"] >= 1 and t.status == "in_progress"
    assert t.resolution_due == datetime(2026, 9, 28, 10, tzinfo=CHINA)
    assert is_working_day(_local_day(t.resolution_warn_at))
    # the warning keeps its distance to the deadline in working time
    assert working_time(t.resolution_warn_at, t.resolution_due) == \
        working_time(filed.resolution_warn_at, filed.resolution_due)


async def test_a_transfer_credits_the_pauses_again_in_the_new_policys_unit(sessions):
    """Urgent temporary assistance (30 calendar days) waited from Wednesday 30 Sep 2026, the last
    working day before 国庆, until the sweep ended the wait on 21 Oct: 21 calendar days, 11 working
    days. With 住建 (15 working days) the 11 working days count; back with 民政, the 21 days."""
    ref = await file(sessions, program="temporary", urgency="urgent")
    filed = await _filed(sessions, ref, datetime(2026, 9, 28, 10, tzinfo=CHINA))
    assert filed.applied_sla["resolution"]["unit"] == "calendar_days"
    await _waiting_since(sessions, ref, datetime(2026, 9, 30, 10, tzinfo=CHINA))
    await service.sweep_sla(sessions, datetime(2026, 10, 21, 10, tzinfo=CHINA))
    in_calendar_days = filed.resolution_due + timedelta(days=21)
    assert (await ticket(sessions, ref)).resolution_due == in_calendar_days
    await service.transfer(sessions, CLERK, ref, "housing", "住房问题")
    moved = await ticket(sessions, ref)
    housing_due = domain.sla_for("temporary", "urgent", "housing").resolution.due_from(filed.created_at)
    assert moved.resolution_due == add_working_days(housing_due, 11)
    assert is_working_day(_local_day(moved.resolution_warn_at))
    await service.transfer(sessions, SUPERVISOR, ref, "civil_affairs", "临时救助")
    assert (await ticket(sessions, ref)).resolution_due == in_calendar_days


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
