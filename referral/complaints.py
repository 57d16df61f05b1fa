"""投诉 as tracked cases. A complaint (the bot's `complain`, an agent on the desk, a supervisor in
the console) says what happened and what the citizen wants, about a referral or a department.
It goes to the supervisors (the department complained about, else civil affairs), never to the
clerk complained about: staff cannot see complaints at all. It has its own clock (working days,
referral/sla_policies.yml `complaint_answer`) and is escalated to the civil-affairs
coordinator once when the clock runs out; a later complaint about the same referral is linked
to the first. The outcome is written to the citizen on their channel (an outreach message,
referral/outreach.py) and counted per department on the dashboard.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.db import for_update, utcnow
from hotline.privacy import mask_phone
from referral import domain, outreach
from referral.access import PermissionDenied, Viewer
from referral.models import AuditEntry, Complaint, ComplaintEvent, Ticket
from referral.service import ValidationError, _next_sequence, _notification_texts, _text, iso_local
from referral.workdays import CHINA, add_working_days

STATUSES = ("open", "answered")


class NotFound(LookupError):
    pass


def _ensure(viewer: Viewer) -> None:
    """Supervisors only: a clerk never sees a complaint (it may be about them)."""
    if viewer.role != "supervisor":
        raise PermissionDenied(f"{viewer.username} may not see complaints")


async def _number(s: AsyncSession, now: datetime) -> str:
    day = now.astimezone(CHINA).date()
    return f"TS{day:%Y%m%d}-{await _next_sequence(s, day):04d}"


async def file(s: AsyncSession, *, what_happened: str, source_key: str, filed_by: str,
               channel: str, wants: str | None = None, ticket: Ticket | None = None,
               department: str | None = None, conversation_id: int | None = None,
               phone: str | None = None, now: datetime | None = None) -> tuple[Complaint, bool]:
    """File one complaint in `s` (the caller's transaction); (complaint, created). The same
    source_key (a retried message, a double-submitted form) returns the first one."""
    now = now or utcnow()
    known = await s.scalar(select(Complaint).where(Complaint.source_key == source_key))
    if known is not None:
        return known, False
    what_happened = _text(what_happened, "what_happened", 2000)
    if department is not None and department not in domain.departments():
        raise ValidationError("department", "unknown department")
    department = ticket.department if ticket is not None else (department or "civil_affairs")
    first = None
    if ticket is not None:  # the same referral complained about again: linked to the first
        first = await s.scalar(select(Complaint).where(
            Complaint.ticket_id == ticket.id, Complaint.linked_to_id.is_(None))
            .order_by(Complaint.id).limit(1))
    c = Complaint(reference_no=await _number(s, now), ticket_id=ticket.id if ticket else None,
                  department=department, linked_to_id=first.id if first else None,
                  what_happened=what_happened, wants=(wants or "").strip()[:1000] or None,
                  citizen_phone=phone or (ticket.citizen_phone if ticket else None),
                  channel=channel, conversation_id=conversation_id, filed_by=filed_by,
                  source_key=source_key, status="open", escalation_level=0,
                  due_at=add_working_days(now, domain.complaint_answer_days()),
                  created_at=now, updated_at=now)
    s.add(c)
    await s.flush()
    s.add(ComplaintEvent(complaint_id=c.id, actor=filed_by, kind="filed", created_at=now,
                         data={"ticket": ticket.reference_no if ticket else None,
                               "linked_to": first.reference_no if first else None}))
    return c, True


def filed_text(c: Complaint) -> str:
    return _notification_texts()["complaint_filed"].format(
        complaint_no=c.reference_no, department_name=domain.department_name(c.department),
        days=domain.complaint_answer_days())


async def latest_ticket_of_conversation(s: AsyncSession, conversation_id: int) -> Ticket | None:
    return await s.scalar(select(Ticket).where(Ticket.conversation_id == str(conversation_id))
                          .order_by(Ticket.id.desc()).limit(1))


async def file_by_staff(sf: async_sessionmaker, viewer: Viewer, *, what_happened: str,
                        wants: str | None, ticket_ref: str | None, department: str | None,
                        conversation_id: int | None, phone: str | None, channel: str,
                        source_key: str) -> dict:
    """An agent (from a conversation) or a supervisor files a complaint for a citizen."""
    if not (viewer.on_desk or viewer.role == "supervisor"):
        raise PermissionDenied(f"{viewer.username} may not file complaints")
    async with sf() as s, s.begin():
        ticket = None
        if ticket_ref:
            ticket = await s.scalar(select(Ticket).where(Ticket.reference_no == ticket_ref.strip()))
            if ticket is None:
                raise ValidationError("ticket", "没有这个编号的转介")
        elif conversation_id is not None:
            ticket = await latest_ticket_of_conversation(s, conversation_id)
        c, _ = await file(s, what_happened=what_happened, wants=wants, ticket=ticket,
                          department=department, conversation_id=conversation_id, phone=phone,
                          channel=channel, filed_by=viewer.actor, source_key=source_key)
        return _row(c, utcnow(), ticket.reference_no if ticket else None)


def _overdue(c: Complaint, now: datetime) -> bool:
    return c.status == "open" and c.due_at < now


def _row(c: Complaint, now: datetime, ticket_ref: str | None) -> dict:
    return {"reference_no": c.reference_no, "department": c.department,
            "department_name": domain.department_name(c.department), "ticket": ticket_ref,
            "status": c.status, "what_happened": c.what_happened, "wants": c.wants,
            "masked_phone": mask_phone(c.citizen_phone) if c.citizen_phone else None,
            "channel": c.channel, "filed_by": c.filed_by, "due_at": iso_local(c.due_at),
            "overdue": _overdue(c, now), "escalation_level": c.escalation_level,
            "linked": c.linked_to_id is not None, "created_at": iso_local(c.created_at)}


async def _ticket_refs(s: AsyncSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict((await s.execute(select(Ticket.id, Ticket.reference_no)
                                 .where(Ticket.id.in_(ids)))).all())


async def list_complaints(sf: async_sessionmaker, viewer: Viewer, status: str | None = "open",
                          department: str | None = None, limit: int = 100) -> list[dict]:
    _ensure(viewer)
    now = utcnow()
    async with sf() as s:
        stmt = select(Complaint)
        if status in STATUSES:
            stmt = stmt.where(Complaint.status == status)
        if department:
            stmt = stmt.where(Complaint.department == department)
        rows = list(await s.scalars(stmt.order_by(Complaint.escalation_level.desc(),
                                                  Complaint.due_at, Complaint.id).limit(limit)))
        refs = await _ticket_refs(s, {c.ticket_id for c in rows if c.ticket_id})
        counts = dict((await s.execute(
            select(Complaint.linked_to_id, func.count()).where(
                Complaint.linked_to_id.in_([c.id for c in rows])).group_by(Complaint.linked_to_id))).all())
    return [{**_row(c, now, refs.get(c.ticket_id)), "repeats": counts.get(c.id, 0)} for c in rows]


async def _load(s: AsyncSession, reference_no: str, lock: bool = False) -> Complaint:
    stmt = select(Complaint).where(Complaint.reference_no == reference_no)
    c = await s.scalar(for_update(s, stmt) if lock else stmt)
    if c is None:
        raise NotFound(reference_no)
    return c


async def _detail(s: AsyncSession, c: Complaint) -> dict:
    now = utcnow()
    root_id = c.linked_to_id or c.id
    family = list(await s.scalars(select(Complaint).where(
        (Complaint.id == root_id) | (Complaint.linked_to_id == root_id)).order_by(Complaint.id)))
    events = list(await s.scalars(select(ComplaintEvent).where(ComplaintEvent.complaint_id == c.id)
                                  .order_by(ComplaintEvent.id)))
    refs = await _ticket_refs(s, {c.ticket_id} if c.ticket_id else set())
    return {**_row(c, now, refs.get(c.ticket_id)), "citizen_phone": c.citizen_phone,
            "outcome": c.outcome, "answered_by": c.answered_by,
            "answered_at": iso_local(c.answered_at),
            "linked_complaints": [{"reference_no": f.reference_no, "status": f.status,
                                   "what_happened": f.what_happened,
                                   "created_at": iso_local(f.created_at)}
                                  for f in family if f.id != c.id],
            "events": [{"at": iso_local(e.created_at), "actor": e.actor, "kind": e.kind,
                        "data": e.data} for e in events]}


async def get_complaint(sf: async_sessionmaker, viewer: Viewer, reference_no: str,
                        ip: str | None = None) -> dict:
    """The whole complaint, the citizen's number included: each view is audited."""
    _ensure(viewer)
    async with sf() as s, s.begin():
        c = await _load(s, reference_no)
        s.add(AuditEntry(actor=viewer.actor, action="complaint_view", ticket_id=c.ticket_id, ip=ip,
                         detail={"complaint": reference_no}, created_at=utcnow()))
        return await _detail(s, c)


async def answer(sf: async_sessionmaker, viewer: Viewer, reference_no: str, outcome: str,
                 ip: str | None = None) -> dict:
    """The supervisor's outcome: the complaint and the open complaints linked to it are
    answered, and each citizen who complained is told once, on their channel."""
    _ensure(viewer)
    outcome = _text(outcome, "outcome", 500)
    now = utcnow()
    async with sf() as s, s.begin():
        c = await _load(s, reference_no, lock=True)
        if c.status != "open":
            raise domain.InvalidTransition("answer", c.status)
        root_id = c.linked_to_id or c.id
        family = list(await s.scalars(select(Complaint).where(
            ((Complaint.id == root_id) | (Complaint.linked_to_id == root_id)),
            Complaint.status == "open").order_by(Complaint.id)))
        told: set = set()
        for f in family:
            f.status, f.outcome, f.answered_by, f.answered_at, f.updated_at = (
                "answered", outcome, viewer.actor, now, now)
            s.add(ComplaintEvent(complaint_id=f.id, actor=viewer.actor, kind="answered",
                                 created_at=now, data={"outcome": outcome,
                                                       "via": c.reference_no}))
            contact = (f.conversation_id, f.citizen_phone)
            if contact in told or contact == (None, None):
                continue
            told.add(contact)
            await outreach.queue(s, f"complaint:{f.id}:answered", "complaint_answered", now,
                                 complaint_id=f.id, ticket_id=f.ticket_id, channel=f.channel,
                                 conversation_id=f.conversation_id, phone=f.citizen_phone,
                                 params={"complaint_no": f.reference_no, "outcome": outcome,
                                         "department_name": domain.department_name(f.department)})
        s.add(AuditEntry(actor=viewer.actor, action="complaint_answer", ticket_id=c.ticket_id,
                         ip=ip, detail={"complaint": reference_no, "answered": len(family)},
                         created_at=now))
        await s.flush()
        return await _detail(s, c)


async def sweep(sf: async_sessionmaker, now: datetime) -> int:
    """Open complaints past their clock: escalated once to the civil-affairs coordinator."""
    async with sf() as s, s.begin():
        late = list(await s.scalars(select(Complaint).where(
            Complaint.status == "open", Complaint.escalation_level < 1, Complaint.due_at < now)))
        for c in late:
            c.escalation_level, c.escalated_at, c.updated_at = 1, now, now
            s.add(ComplaintEvent(complaint_id=c.id, actor="system:sla", kind="escalated",
                                 created_at=now, data={"to": "civil_affairs_coordinator"}))
        return len(late)


async def counts(sf: async_sessionmaker, viewer: Viewer) -> dict[str, dict]:
    """Complaints per department: all, open, overdue (the supervisors' dashboard)."""
    _ensure(viewer)
    now = utcnow()
    async with sf() as s:
        rows = (await s.execute(select(
            Complaint.department, func.count(),
            func.sum(case((Complaint.status == "open", 1), else_=0)),
            func.sum(case(((Complaint.status == "open") & (Complaint.due_at < now), 1), else_=0)),
        ).group_by(Complaint.department))).all()
    return {d: {"total": int(t), "open": int(o or 0), "overdue": int(late or 0)}
            for d, t, o, late in rows}

