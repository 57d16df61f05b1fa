"""Referral use cases: one function per use case, each in its own unit of work.

Staff-facing functions take a `Viewer` (referral.access) and raise `NotFound` both for unknown
tickets and for tickets the viewer may not see, so nobody learns that another department's
ticket exists.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path

import yaml
from sqlalchemy import and_, case, func, literal, literal_column, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.db import UTCDateTime, for_update, upsert_insert, utcnow
from hotline.privacy import mask_name, mask_phone, phone_last4
from referral import domain, units
from referral.access import PermissionDenied, Viewer, can_view
from referral.domain import InvalidTransition  # noqa: F401 - part of this module's API
from referral.models import (
    BELOW_COORDINATOR,
    IS_OPEN,
    IS_RUNNING,
    OPEN_STATUSES,
    RUNNING_STATUSES,
    AuditEntry,
    CallBack,
    Case,
    IdempotencyRecord,
    OutboxMessage,
    ReferenceCounter,
    SlaEvent,
    Ticket,
    TicketEvent,
    UnitEdit,
)
from referral.workdays import CHINA, is_working_day, shifted_by_pauses
from rules.regions import regions


class NotFound(Exception):
    pass


class ValidationError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class IdempotencyConflict(Exception):
    """The same Idempotency-Key was sent with a different request body."""


@dataclass(frozen=True)
class NewReferral:
    program: str
    region: str
    citizen_name: str
    citizen_phone: str
    description: str
    urgency: str = "normal"
    street: str | None = None
    citizen_id_masked: str | None = None
    channel: str = "api"
    conversation_id: str | None = None
    needs_routing: bool = False  # nobody could tell the program: a person routes it (待分派)
    amount_yuan: int | None = None  # what the citizen asks for (救急难 tiers route by it)


@cache
def _notification_texts() -> dict[str, str]:
    path = Path(__file__).with_name("notifications.yml")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def iso_local(dt: datetime | None) -> str | None:
    return dt.astimezone(CHINA).isoformat(timespec="minutes") if dt else None


def _warn_at(start: datetime, due: datetime) -> datetime:
    return due - (due - start) * domain.approaching_fraction()


def _path(t: Ticket) -> domain.Pathway:
    """The region's path for the ticket while the program's owner holds it (pathways.yml)."""
    if t.department != domain.department_for(t.program):
        return domain.Pathway()
    return domain.pathway(t.program, t.region, t.urgency, t.amount_yuan)


def _apply_sla(t: Ticket, start: datetime) -> None:
    sla = domain.sla_for(t.program, t.urgency, t.department)
    path = _path(t)
    if (own := path.resolution()) is not None:
        sla = domain.AppliedSla(f"{sla.policy}+pathway", sla.first_response, own)
    t.pathway = path.plain()
    t.fast_path_due = path.first_help_due(start)
    first_due, resolution_due = sla.deadlines(start)
    t.sla_policy, t.applied_sla = sla.policy, sla.plain()
    t.first_response_due, t.resolution_due = first_due, resolution_due
    t.first_response_warn_at = _warn_at(start, first_due)
    t.resolution_warn_at = _warn_at(start, resolution_due)
    t.first_response_warned_at = t.resolution_warned_at = None  # a new clock cycle
    t.first_response_breached_at = t.resolution_breached_at = None


# --- views ------------------------------------------------------------------------------------

def created_view(t: Ticket) -> dict:
    return {
        "reference_no": t.reference_no,
        "department": t.department,
        "department_name": domain.department_name(t.department),
        "status": t.status,
        "sla": {"first_response_due": iso_local(t.first_response_due),
                "resolution_due": iso_local(t.resolution_due)},
    }


def citizen_view(t: Ticket) -> dict:
    """What a citizen may see of a ticket: no personal data, plain status."""
    return {**created_view(t), "program": t.program, "urgency": t.urgency,
            "created_at": iso_local(t.created_at), "updated_at": iso_local(t.updated_at)}


@cache
def _case_texts() -> dict:
    return yaml.safe_load(Path(__file__).with_name("case_texts.yml").read_text(encoding="utf-8"))


def referral_sentence(t: Ticket) -> str:
    """One plain sentence of where a referral stands, for the citizen (case_texts.yml)."""
    texts = _case_texts()
    result = t.result or ""
    short = result if len(result) <= 40 else result[:39] + "…"
    return texts["status"].get(t.status, texts["status"]["new"]).format(
        department_name=texts["departments"].get(t.department, domain.department_name(t.department)),
        program_name=texts["programs"].get(t.program, t.program), result=short)


def case_view(case: Case, tickets: list[Ticket]) -> dict:
    """The case as the citizen may see it: its number, and each referral in one sentence."""
    return {"reference_no": case.reference_no, "status": case.status,
            "created_at": iso_local(case.created_at), "closed_at": iso_local(case.closed_at),
            "referrals": [{"department": t.department,
                           "department_name": domain.department_name(t.department),
                           "program": t.program, "status": t.status,
                           "first_response_due": iso_local(t.first_response_due),
                           "resolution_due": iso_local(t.resolution_due),
                           "sentence": referral_sentence(t)} for t in tickets],
            "summary": "".join(referral_sentence(t) for t in tickets)}


def _due_in_s(t: Ticket, now: datetime) -> int:
    due = t.resolution_due if t.first_responded_at else min(t.first_response_due, t.resolution_due)
    reference = t.paused_at or now  # a paused clock stands still
    return int((due - reference).total_seconds())


def _fast_path_pending(t: Ticket) -> bool:
    """An open referral on a 先行救助 path whose first help is not recorded as given."""
    return t.fast_path_due is not None and t.fast_path_given_at is None and t.status in OPEN_STATUSES


def row_view(t: Ticket, now: datetime) -> dict:
    """A queue row: masked personal data only."""
    due_in_s, pending = _due_in_s(t, now), _fast_path_pending(t)
    return {
        "reference_no": t.reference_no, "program": t.program, "department": t.department,
        "department_name": domain.department_name(t.department), "handling_unit": t.handling_unit,
        "unit_code": t.unit_code, "unplaced": t.unplaced,
        "region": t.region, "region_name": regions().get(t.region, {}).get("name", t.region),
        "street": t.street, "masked_name": mask_name(t.citizen_name),
        "masked_phone": mask_phone(t.citizen_phone), "urgency": t.urgency, "priority": t.priority,
        "escalation_level": t.escalation_level, "status": t.status, "assignee": t.assignee,
        "first_response_due": iso_local(t.first_response_due), "resolution_due": iso_local(t.resolution_due),
        "due_in_s": due_in_s,
        "breached": t.breached(now),
        "fast_path_due": iso_local(t.fast_path_due),
        "fast_path_given_at": iso_local(t.fast_path_given_at),
        "fast_path_pending": pending,
        "fast_path_overdue": pending and t.fast_path_due < now,
        "notice_failed": t.notice_failed_at is not None,
        "paused": t.paused_at is not None, "created_at": iso_local(t.created_at),
    }


def detail_view(t: Ticket, events: list[TicketEvent], sla_events: list[SlaEvent],
                now: datetime) -> dict:
    return {
        **row_view(t, now),
        "citizen_name": t.citizen_name, "citizen_phone": t.citizen_phone,
        "citizen_id_masked": t.citizen_id_masked, "description": t.description,
        "result": t.result, "channel": t.channel, "conversation_id": t.conversation_id,
        "applied_sla": t.applied_sla, "first_responded_at": iso_local(t.first_responded_at),
        "benefit_kind": t.benefit_kind, "review_on": t.review_on and t.review_on.isoformat(),
        "benefit_ends_on": t.benefit_ends_on and t.benefit_ends_on.isoformat(),
        "resolved_at": iso_local(t.resolved_at),
        "events": [{"at": iso_local(e.created_at), "actor": e.actor, "kind": e.kind, "data": e.data}
                   for e in events],
        "sla_events": [{"at": iso_local(e.created_at), "target": e.target, "kind": e.kind,
                        "level": e.level, "data": e.data} for e in sla_events],
    }


# --- creating and citizen lookup ---------------------------------------------------------------

async def _next_sequence(session: AsyncSession, day) -> int:
    stmt = (
        upsert_insert(session)(ReferenceCounter)
        .values(day=day, last=1)
        .on_conflict_do_update(index_elements=["day"], set_={"last": ReferenceCounter.last + 1})
        .returning(ReferenceCounter.last)
    )
    return (await session.execute(stmt)).scalar_one()


async def _replay(sf: async_sessionmaker, key: str, request_hash: str) -> dict | None:
    async with sf() as s:
        rec = await s.get(IdempotencyRecord, key)
    if rec is None:
        return None
    if rec.request_hash != request_hash:
        raise IdempotencyConflict(key)
    return rec.response


async def create_referral(
    sf: async_sessionmaker, req: NewReferral, idempotency_key: str | None, actor: str
) -> tuple[dict, bool]:
    """File a case of one referral. Returns (response, created); a retried key returns the
    first response."""
    return await create_case(sf, [req], idempotency_key, actor, view=created_view)


def _case_request(reqs: list[NewReferral], screen: dict | None) -> str:
    return hashlib.sha256(json.dumps([[asdict(r) for r in reqs], screen or {}], sort_keys=True,
                                     ensure_ascii=False).encode()).hexdigest()


async def create_case(
    sf: async_sessionmaker, reqs: list[NewReferral], idempotency_key: str | None, actor: str,
    screen: dict | None = None, view=None,
) -> tuple[dict, bool]:
    """一门受理: one case for the household, a referral per department and program (the same
    household, contact and channel on each), one number for the citizen: the first referral's.
    Each referral is routed and clocked on its own. Returns (response, created); a retried key
    returns the first response. `view(first_ticket)` shapes the response (else the case)."""
    if not reqs:
        raise ValidationError("referrals", "a case needs at least one referral")
    first = reqs[0]
    household = ("region", "citizen_name", "citizen_phone", "channel", "conversation_id")
    if any(getattr(r, k) != getattr(first, k) for r in reqs for k in household):
        raise ValidationError("referrals", "every referral of a case is for the same household")
    if len({(r.program, domain.department_for(r.program)) for r in reqs}) != len(reqs):
        raise ValidationError("referrals", "one referral per program")
    request_hash = hashlib.sha256(
        json.dumps(asdict(first), sort_keys=True, ensure_ascii=False).encode()
    ).hexdigest() if len(reqs) == 1 and not screen else _case_request(reqs, screen)
    if idempotency_key and (done := await _replay(sf, idempotency_key, request_hash)):
        return done, False
    now = utcnow()
    today = now.astimezone(CHINA).date()
    region_name = regions().get(first.region, {}).get("name", "")
    try:
        async with sf() as s, s.begin():
            directory = await unit_directory(s)
            tickets = []
            for req in reqs:
                r = _route_new(req, region_name, directory)
                seq = await _next_sequence(s, today)
                tickets.append(Ticket(
                    reference_no=domain.format_reference_no(today, seq, secrets.randbelow(1000)),
                    department=r.department, handling_unit=r.handling_unit, unit_code=r.unit_code,
                    unplaced=r.unplaced, priority=1 if req.urgency == "urgent" else 0,
                    escalation_level=0, sla_cycle=0, status="new", created_at=now, updated_at=now,
                    **{k: v for k, v in asdict(req).items() if k != "needs_routing"}))
                tickets[-1].route_source = r.source
            case_row = Case(reference_no=tickets[0].reference_no, region=first.region,
                            citizen_name=first.citizen_name, citizen_phone=first.citizen_phone,
                            citizen_id_masked=first.citizen_id_masked, channel=first.channel,
                            conversation_id=first.conversation_id, screen=screen or {},
                            opened_by=actor, status="open", created_at=now, updated_at=now)
            s.add(case_row)
            for ticket in tickets:
                ticket.case = case_row
                _apply_sla(ticket, now)
                s.add(ticket)
            await s.flush()
            for ticket in tickets:
                s.add(TicketEvent(ticket_id=ticket.id, actor=actor, kind="created", created_at=now,
                                  data={"channel": ticket.channel, "department": ticket.department,
                                        "handling_unit": ticket.handling_unit,
                                        "route": ticket.route_source, "unit_code": ticket.unit_code,
                                        "unplaced": ticket.unplaced, "sla_policy": ticket.sla_policy,
                                        "case": case_row.reference_no, **ticket.pathway}))
            response = view(tickets[0]) if view else case_view(case_row, tickets)
            if idempotency_key:
                s.add(IdempotencyRecord(key=idempotency_key, request_hash=request_hash,
                                        ticket_id=tickets[0].id, response=response, created_at=now))
                await s.flush()
    except IntegrityError:
        # A concurrent request with the same key committed first; ours rolled back whole.
        if idempotency_key and (done := await _replay(sf, idempotency_key, request_hash)):
            return done, False
        raise
    return response, True


def _route_new(req: NewReferral, region_name: str, directory) -> domain.Route:
    """Where a new referral goes: the routing rules, unless its tier says the region's office."""
    r = domain.route(req.program, req.region, req.street, req.description, region_name,
                     directory, unsure=req.needs_routing)
    path = domain.pathway(req.program, req.region, req.urgency, req.amount_yuan)
    if path.unit == "office" and r.department == domain.department_for(req.program):
        return domain.Route(r.department, f"{region_name}{domain.department_name(r.department)}",
                            path.tier["source"])
    return r


async def get_for_citizen(sf: async_sessionmaker, reference_no: str, last4: str) -> dict | None:
    """The ticket if the phone's last 4 digits match; None for unknown and mismatch alike.
    With it, its case: every referral of the household in one plain sentence each."""
    async with sf() as s:
        t = await s.scalar(select(Ticket).where(Ticket.reference_no == reference_no))
        if t is None or not last4 or phone_last4(t.citizen_phone) != last4:
            return None
        siblings = await _referrals(s, t.case_id)
    return {**citizen_view(t), "case": case_view(t.case, siblings)}


async def get_case_for_citizen(sf: async_sessionmaker, reference_no: str, last4: str) -> dict | None:
    """The case by its number (or any of its referrals'), if the phone's last 4 digits match."""
    found = await get_for_citizen(sf, reference_no, last4)
    return found and found["case"]


async def _referrals(s: AsyncSession, case_id: int) -> list[Ticket]:
    return list(await s.scalars(select(Ticket).where(Ticket.case_id == case_id).order_by(Ticket.id)))


async def get_case(sf: async_sessionmaker, viewer: Viewer, reference_no: str) -> dict:
    """The case view for staff: every referral side by side; a clerk sees in full only the
    referrals they may see, and of the others only that they exist (department, status)."""
    async with sf() as s:
        t = await s.scalar(select(Ticket).where(Ticket.reference_no == reference_no))
        if t is None:
            raise NotFound(reference_no)
        referrals = await _referrals(s, t.case_id)
        if not any(can_view(viewer, r.department, r.unit_code) for r in referrals):
            raise NotFound(reference_no)
        now = utcnow()
        case_row = t.case
        return {
            "reference_no": case_row.reference_no, "status": case_row.status,
            "opened_by": case_row.opened_by, "created_at": iso_local(case_row.created_at),
            "closed_at": iso_local(case_row.closed_at),
            "masked_name": mask_name(case_row.citizen_name),
            "masked_phone": mask_phone(case_row.citizen_phone),
            "region_name": regions().get(case_row.region, {}).get("name", case_row.region),
            "departments": len({r.department for r in referrals}),
            "referrals": [
                {**row_view(r, now), "pathway": r.pathway,
                 "fast_path_due": iso_local(r.fast_path_due), "visible": True}
                if can_view(viewer, r.department, r.unit_code) else
                {"visible": False, "department": r.department, "program": r.program,
                 "department_name": domain.department_name(r.department), "status": r.status}
                for r in referrals]}


# --- the audit trail of other packages (the agents' desk) ---------------------------------------

async def record_audit(sf: async_sessionmaker, actor: str, action: str, detail: dict,
                       ip: str | None = None, reference_no: str | None = None) -> None:
    """One line of the audit log: who did what, from where (a view of a transcript, a claim …)."""
    async with sf() as s, s.begin():
        ticket_id = None
        if reference_no:
            ticket_id = await s.scalar(select(Ticket.id).where(Ticket.reference_no == reference_no))
        s.add(AuditEntry(actor=actor, action=action[:32], ticket_id=ticket_id, ip=ip, detail=detail,
                         created_at=utcnow()))


def _of_citizen(conversation_id: int, phone: str | None):
    """Tickets filed from this conversation or under the same mobile number."""
    cond = Ticket.conversation_id == str(conversation_id)
    digits = "".join(ch for ch in (phone or "") if ch.isdigit())[-11:]
    if len(digits) == 11:
        cond = or_(cond, Ticket.citizen_phone.like(f"%{digits}"))
    return cond


async def tickets_of_conversation(sf: async_sessionmaker, conversation_id: int,
                                  phone: str | None, viewer: Viewer | None = None) -> list[dict]:
    """The citizen's tickets as the desk shows them (masked rows): filed from this conversation
    or under the same mobile number; for a clerk (`viewer`), only those they may see."""
    cond = _of_citizen(conversation_id, phone)
    if viewer is not None:
        cond = and_(cond, _visible_to(viewer))
    now = utcnow()
    async with sf() as s:
        rows = await s.scalars(select(Ticket).where(cond).order_by(Ticket.id.desc()).limit(20))
        return [row_view(t, now) for t in rows]


async def tickets_by_reference(sf: async_sessionmaker, reference_no: str) -> list[str | None]:
    """The conversation ids a reference number was filed from (the desk's search)."""
    async with sf() as s:
        return list(await s.scalars(select(Ticket.conversation_id).where(
            Ticket.reference_no == reference_no.strip())))


async def conversation_ticket_visible(sf: async_sessionmaker, viewer: Viewer, conversation_id: int) -> bool:
    """Whether the viewer may see a ticket filed from this conversation (its clerk may then
    read the transcript the ticket links to)."""
    async with sf() as s:
        rows = (await s.execute(select(Ticket.department, Ticket.unit_code).where(
            Ticket.conversation_id == str(conversation_id)))).all()
    return any(can_view(viewer, d, u) for d, u in rows)


async def attach_conversation(sf: async_sessionmaker, viewer: Viewer, reference_no: str,
                              conversation_id: int, phone: str | None, ip: str | None = None) -> dict:
    """An agent links a conversation to an existing ticket (its page then links the transcript).
    Only a ticket the agent may see: one of this citizen's (filed from the conversation or under
    its phone number `phone`), or one their role shows them; any other is NotFound, as if it
    did not exist. Attaching again is a no-op."""
    now = utcnow()
    async with sf() as s, s.begin():
        t = await s.scalar(select(Ticket).where(Ticket.reference_no == reference_no,
                                                or_(_of_citizen(conversation_id, phone),
                                                    _visible_to(viewer))))
        if t is None:
            raise NotFound(reference_no)
        if t.conversation_id == str(conversation_id):
            return row_view(t, now)  # a double submit: attached already
        if t.conversation_id:
            raise ValidationError("reference_no", "这件转介已关联另一段会话")
        t.conversation_id, t.updated_at = str(conversation_id), now
        s.add(TicketEvent(ticket_id=t.id, actor=viewer.actor, kind="conversation", created_at=now,
                          data={"conversation_id": conversation_id}))
        s.add(AuditEntry(actor=viewer.actor, action="attach_conversation", ticket_id=t.id, ip=ip,
                         detail={"reference_no": reference_no, "conversation_id": conversation_id},
                         created_at=now))
        return row_view(t, now)


# --- staff: reading -----------------------------------------------------------------------------

def _visible_to(viewer: Viewer):
    """SQL filter equivalent to access.can_view."""
    if viewer.sees_all:
        return literal(True)
    if viewer.role != "staff" or not viewer.department:
        return literal(False)
    cond = Ticket.department == viewer.department
    if viewer.units:
        cond = and_(cond, Ticket.unit_code.in_(viewer.units))
    return cond


async def _load(s: AsyncSession, viewer: Viewer, reference_no: str, lock: bool = False) -> Ticket:
    stmt = select(Ticket).where(Ticket.reference_no == reference_no)
    t = await s.scalar(for_update(s, stmt) if lock else stmt)
    if t is None or not can_view(viewer, t.department, t.unit_code):
        raise NotFound(reference_no)
    return t


async def list_tickets(
    sf: async_sessionmaker, viewer: Viewer, *, department: str | None = None,
    status: str | None = None, program: str | None = None, urgency: str | None = None,
    q: str | None = None, breached: bool | None = None, unplaced: bool | None = None,
    limit: int = 50, offset: int = 0,
) -> tuple[list[dict], int]:
    """Tickets the viewer may see, most urgent first: open ones by priority then deadline."""
    now = utcnow()
    conds = [_visible_to(viewer)]
    if department:
        conds.append(Ticket.department == department)
    if status == "open" or status is None:
        conds.append(IS_OPEN)
    elif status != "all":
        conds.append(Ticket.status == status)
    if program:
        conds.append(Ticket.program == program)
    if urgency:
        conds.append(Ticket.urgency == urgency)
    if unplaced is not None:
        conds.append(Ticket.unplaced.is_(unplaced))
    if breached is not None:
        conds.append(Ticket.breached(now) if breached else ~Ticket.breached(now))
    if q:
        q = q.strip()
        if q.isdigit() and len(q) == 4:  # last 4 digits of the phone, as citizens quote them
            conds.append(Ticket.citizen_phone.like(f"%{q}"))
        else:
            like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            conds.append(or_(*(col.like(like, escape="\\") for col in
                               (Ticket.reference_no, Ticket.description, Ticket.street))))
    where = and_(*conds)
    async with sf() as s:
        total = await s.scalar(select(func.count()).select_from(Ticket).where(where))
        rows = await s.scalars(select(Ticket).where(where)
                               .order_by(Ticket.priority.desc(), Ticket.resolution_due, Ticket.id)
                               .limit(min(max(limit, 1), 200)).offset(max(offset, 0)))
        return [row_view(t, now) for t in rows], total


async def _detail(s: AsyncSession, t: Ticket) -> dict:
    events = list(await s.scalars(select(TicketEvent).where(TicketEvent.ticket_id == t.id)
                                  .order_by(TicketEvent.id)))
    sla_events = list(await s.scalars(select(SlaEvent).where(SlaEvent.ticket_id == t.id)
                                      .order_by(SlaEvent.id)))
    referrals = await s.scalar(select(func.count()).select_from(Ticket)
                               .where(Ticket.case_id == t.case_id))
    return {**detail_view(t, events, sla_events, utcnow()), "notices": await _notices(s, t),
            "case": {"reference_no": t.case.reference_no, "status": t.case.status,
                     "referrals": referrals},
            "pathway": t.pathway or {}, "amount_yuan": t.amount_yuan}


async def get_ticket(sf: async_sessionmaker, viewer: Viewer, reference_no: str, *,
                     ip: str | None = None) -> dict:
    """Full detail including personal data; every view is written to the audit log."""
    async with sf() as s, s.begin():
        t = await _load(s, viewer, reference_no)
        s.add(AuditEntry(actor=viewer.actor, action="view", ticket_id=t.id, ip=ip,
                         detail={"reference_no": reference_no}, created_at=utcnow()))
        return await _detail(s, t)


# --- staff: changing ----------------------------------------------------------------------------

def _queue_notification(s: AsyncSession, t: Ticket, kind: str, now: datetime, **fields) -> None:
    """A notice is a named template and its placeholders (an SMS provider on the mainland sends
    only approved templates); the rendered text serves the free-text channels."""
    params = {"reference_no": t.case.reference_no,  # the one number the citizen knows
              "department_name": domain.department_name(t.department), **fields}
    s.add(OutboxMessage(
        dedupe_key=f"{t.reference_no}:{kind}:{now.isoformat()}", ticket_id=t.id, kind=kind,
        params=params, channel=t.channel, conversation_id=t.conversation_id, phone=t.citizen_phone,
        text=_notification_texts()[kind].format(**params), status="pending", attempts=0,
        next_attempt_at=now, created_at=now))


# --- notices to the citizen (the worker hands them to channels.notices) ----------------------

async def pending_notifications(sf: async_sessionmaker, limit: int = 50) -> list[dict]:
    async with sf() as s:
        rows = (await s.execute(
            select(OutboxMessage, Ticket.reference_no).join(Ticket, Ticket.id == OutboxMessage.ticket_id)
            .where(OutboxMessage.status == "pending").order_by(OutboxMessage.id).limit(limit))).all()
    return [{"id": o.id, "kind": o.kind, "params": o.params or {}, "text": o.text,
             "channel": o.channel, "conversation_id": o.conversation_id, "phone": o.phone,
             "reference_no": ref} for o, ref in rows]


async def notification_handed(sf: async_sessionmaker, outbox_id: int, message_id: int) -> None:
    async with sf() as s, s.begin():
        await s.execute(update(OutboxMessage).where(OutboxMessage.id == outbox_id,
                                                    OutboxMessage.status == "pending")
                        .values(status="handed", message_id=message_id))


NOTICE_REACHED = ("sent", "delivered", "passive")


async def notification_result(sf: async_sessionmaker, outbox_id: int, state: str, detail: str) -> None:
    """What became of a notice: on the ticket's history, and a failed one flags the ticket for
    the clerk (the citizen must be reached another way)."""
    now = utcnow()
    reached = state in NOTICE_REACHED
    async with sf() as s, s.begin():
        row = await s.get(OutboxMessage, outbox_id)
        # Reported already; but a notice sent and then reported undelivered (Twilio's callback
        # comes later) did not reach the citizen after all.
        if row is None or row.status in ("failed", "suppressed") or (row.status == "sent" and reached):
            return
        row.status, row.detail = ("sent" if reached else state), detail[:1000] or None
        row.sent_at = now if reached else None
        t = await s.get(Ticket, row.ticket_id)
        latest = await s.scalar(select(func.max(OutboxMessage.id))
                                .where(OutboxMessage.ticket_id == t.id))
        if latest == row.id:  # only the newest notice says whether the citizen can be reached
            t.notice_failed_at = None if reached else now
        if state == "failed":  # an agent phones them: the call-back list
            await add_call_back(s, f"notice:{row.id}", "notice_failed", now, ticket_id=t.id,
                                phone=t.citizen_phone,
                                reason=f"{t.reference_no} 的通知未送达：{row.detail or '原因不明'}"[:500])
        s.add(TicketEvent(ticket_id=t.id, actor="system:notice", kind="notice", created_at=now,
                          data={"notice": row.kind, "state": row.status, "detail": row.detail}))


async def add_call_back(s: AsyncSession, source_key: str, kind: str, now: datetime, *,
                        reason: str, ticket_id: int | None = None,
                        conversation_id: int | None = None, phone: str | None = None,
                        created_by: str = "system") -> bool:
    """A citizen for an agent to phone, once per source (a notice, a handoff, a clerk's flag)."""
    res = await s.execute(upsert_insert(s)(CallBack).values(
        source_key=source_key, kind=kind, ticket_id=ticket_id, conversation_id=conversation_id,
        phone=phone, reason=reason, status="open", attempts=[], created_by=created_by,
        created_at=now, updated_at=now).on_conflict_do_nothing())
    return bool(res.rowcount)


CALL_BACK_RESULTS = ("reached", "no_answer", "wrong_number")
CALL_BACK_TRIES = 3  # unanswered this often: taken off the list (the last result kept)


def _call_back_row(c: CallBack, ticket_ref: str | None, full: bool = False) -> dict:
    return {"id": c.id, "kind": c.kind, "reason": c.reason, "status": c.status, "result": c.result,
            "ticket": ticket_ref, "conversation_id": c.conversation_id,
            "phone": c.phone if full else None, "masked_phone": mask_phone(c.phone) if c.phone else None,
            "attempts": c.attempts or [], "created_by": c.created_by,
            "created_at": iso_local(c.created_at)}


def _ensure_desk(viewer: Viewer) -> None:
    if not viewer.on_desk:
        raise PermissionDenied(f"{viewer.username} does not work the desk")


async def list_call_backs(sf: async_sessionmaker, viewer: Viewer, status: str = "open",
                          limit: int = 100) -> list[dict]:
    """The agents' call-back list, oldest first (numbers masked: the row's page shows it)."""
    _ensure_desk(viewer)
    async with sf() as s:
        rows = (await s.execute(select(CallBack, Ticket.reference_no)
                                .outerjoin(Ticket, Ticket.id == CallBack.ticket_id)
                                .where(CallBack.status == status)
                                .order_by(CallBack.created_at, CallBack.id).limit(limit))).all()
    return [_call_back_row(c, ref) for c, ref in rows]


async def get_call_back(sf: async_sessionmaker, viewer: Viewer, call_back_id: int,
                        ip: str | None = None) -> dict:
    """One call-back with the number to dial; the view is audited."""
    _ensure_desk(viewer)
    async with sf() as s, s.begin():
        found = (await s.execute(select(CallBack, Ticket.reference_no)
                                 .outerjoin(Ticket, Ticket.id == CallBack.ticket_id)
                                 .where(CallBack.id == call_back_id))).first()
        if found is None:
            raise LookupError(call_back_id)
        c, ref = found
        s.add(AuditEntry(actor=viewer.actor, action="call_back_view", ticket_id=c.ticket_id, ip=ip,
                         detail={"call_back": c.id}, created_at=utcnow()))
        return _call_back_row(c, ref, full=True)


async def call_back_result(sf: async_sessionmaker, viewer: Viewer, call_back_id: int, result: str,
                           note: str = "", ip: str | None = None) -> dict:
    """An attempt's result: reached or a wrong number take it off the list; no answer keeps it
    for another try (CALL_BACK_TRIES in all). A result on the referral's history too."""
    _ensure_desk(viewer)
    if result not in CALL_BACK_RESULTS:
        raise ValidationError("result", "result must be reached, no_answer or wrong_number")
    now = utcnow()
    async with sf() as s, s.begin():
        c = await s.scalar(for_update(s, select(CallBack).where(CallBack.id == call_back_id)))
        if c is None:
            raise LookupError(call_back_id)
        if c.status != "open":
            raise InvalidTransition("call_back_result", c.status)
        c.attempts = [*(c.attempts or []), {"at": now.isoformat(), "by": viewer.actor,
                                            "result": result, "note": (note or "").strip()[:200]}]
        c.result, c.updated_at = result, now
        if result != "no_answer" or len(c.attempts) >= CALL_BACK_TRIES:
            c.status = "done"
        if c.ticket_id is not None:
            s.add(TicketEvent(ticket_id=c.ticket_id, actor=viewer.actor, kind="call_back_result",
                              created_at=now, data={"result": result, "note": note or ""}))
        s.add(AuditEntry(actor=viewer.actor, action="call_back_result", ticket_id=c.ticket_id, ip=ip,
                         detail={"call_back": c.id, "result": result}, created_at=now))
        await s.flush()
        ref = await s.scalar(select(Ticket.reference_no).where(Ticket.id == c.ticket_id)) \
            if c.ticket_id else None
        return _call_back_row(c, ref)


async def attach_citizen_reply(sf: async_sessionmaker, reference_no: str, text: str, *,
                               channel: str, message_id: int | None = None) -> str | None:
    """The citizen answered a request for information on their channel: the answer goes on the
    ticket and its clock resumes. None when the ticket no longer waits for them."""
    now = utcnow()
    async with sf() as s, s.begin():
        t = await s.scalar(for_update(s, select(Ticket).where(Ticket.reference_no == reference_no)))
        if t is None or t.status not in OPEN_STATUSES:  # late (the pause expired) still counts
            return None
        was = t.status
        if was == "waiting_citizen":
            t.status = domain.next_status("resume", t.status)
            _unpause(t, now)
        t.updated_at = now
        actor = f"citizen:{channel}"
        s.add(TicketEvent(ticket_id=t.id, actor=actor, kind="citizen_reply", created_at=now,
                          data={"from": was, "to": t.status, "text": text[:2000],
                                "message_id": message_id}))
        s.add(AuditEntry(actor=actor, action="citizen_reply", ticket_id=t.id, created_at=now,
                         detail={"reference_no": reference_no, "from": was, "to": t.status}))
        return t.reference_no


async def _notices(s: AsyncSession, t: Ticket) -> list[dict]:
    rows = await s.scalars(select(OutboxMessage).where(OutboxMessage.ticket_id == t.id)
                           .order_by(OutboxMessage.id))
    return [{"kind": o.kind, "status": o.status, "detail": o.detail, "text": o.text,
             "at": iso_local(o.sent_at or o.created_at)} for o in rows]


async def _change(sf: async_sessionmaker, viewer: Viewer, reference_no: str, action: str | None,
                  mutate, ip: str | None = None, **data) -> dict:
    """Load with a row lock, check the transition, apply, record history and audit, commit."""
    now = utcnow()
    async with sf() as s, s.begin():
        t = await _load(s, viewer, reference_no, lock=True)
        before = t.status
        # The case's row written before its referrals are read: two clerks finishing the last
        # two at once go one at a time (a row lock on PostgreSQL, the write lock on SQLite).
        await s.execute(update(Case).where(Case.id == t.case_id).values(updated_at=now))
        t.case_referrals = await _referrals(s, t.case_id)  # the case's, for its notices
        if action is not None:
            t.status = domain.next_status(action, t.status)
        mutate(s, t, now)
        t.updated_at = now
        if (before in OPEN_STATUSES) != (t.status in OPEN_STATUSES):
            await _sync_case(s, t, now)
        kind = action or data.pop("kind")
        s.add(TicketEvent(ticket_id=t.id, actor=viewer.actor, kind=kind, created_at=now,
                          data={"from": before, "to": t.status, **data}))
        s.add(AuditEntry(actor=viewer.actor, action=kind, ticket_id=t.id, ip=ip,
                         detail={"reference_no": reference_no, "from": before, "to": t.status},
                         created_at=now))
        await s.flush()
        return await _detail(s, t)


async def _sync_case(s: AsyncSession, t: Ticket, now: datetime) -> None:
    """A referral was done or reopened: the case is closed when every referral is done (the
    citizen of a case of several told then, once, with each outcome), open while one is not.
    The case's row is locked before its referrals are read (_change), so two clerks finishing
    the last two referrals at once cannot both miss the close."""
    c, referrals = t.case, t.case_referrals
    still_open = any(r.status in OPEN_STATUSES for r in referrals)
    c.updated_at = now
    if still_open and c.status == "closed":
        c.status, c.closed_at = "open", None
    elif not still_open and c.status == "open":
        c.status, c.closed_at = "closed", now
        if len(referrals) > 1 and t.status == "resolved":
            _queue_notification(s, t, "case_closed", now,
                                outcomes="".join(referral_sentence(r) for r in referrals))


def _responded(t: Ticket, now: datetime) -> None:
    if t.first_responded_at is None:
        t.first_responded_at = now


def _pauses(t: Ticket) -> list[tuple[datetime, datetime]]:
    return [(datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in t.pauses or []]


def _credited(t: Ticket, due: datetime, pauses) -> datetime:
    """`due` moved by the working time the citizen took in `pauses`, in the unit of the
    ticket's resolution target (a pause over 国庆 gives back one working day, not eight)."""
    unit = (t.applied_sla or {}).get("resolution", {}).get("unit", "working_days")
    return shifted_by_pauses(due, pauses, unit, domain.office_hours())


def _unpause(t: Ticket, now: datetime) -> None:
    """Waiting for the citizen does not count against the department: the deadlines move by the
    working time that passed, and the pause is kept so that a transfer credits it again in the
    new policy's unit."""
    if t.paused_at is None:
        return
    pause = (t.paused_at, now)
    t.resolution_due = _credited(t, t.resolution_due, [pause])
    t.resolution_warn_at = _credited(t, t.resolution_warn_at, [pause])
    t.pauses = [*(t.pauses or []), [t.paused_at.isoformat(), now.isoformat()]]
    t.paused_at = None


def _text(value: str | None, field: str, limit: int = 4000) -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationError(field, f"{field} is required")
    if len(value) > limit:
        raise ValidationError(field, f"{field} is longer than {limit} characters")
    return value


async def claim(sf, viewer: Viewer, ref: str, ip: str | None = None) -> dict:
    def mutate(s, t, now):
        t.assignee = viewer.username
        _responded(t, now)
        _queue_notification(s, t, "accepted", now)
    return await _change(sf, viewer, ref, "claim", mutate, ip, assignee=viewer.username)


async def add_note(sf, viewer: Viewer, ref: str, text: str, ip: str | None = None) -> dict:
    note = _text(text, "text")

    def mutate(s, t, now):
        if t.status not in OPEN_STATUSES:
            raise InvalidTransition("note", t.status)
    return await _change(sf, viewer, ref, None, mutate, ip, kind="note", text=note)


async def request_info(sf, viewer: Viewer, ref: str, message: str, ip: str | None = None) -> dict:
    message = _text(message, "message", 200)

    def mutate(s, t, now):
        _responded(t, now)
        t.paused_at = now
        _queue_notification(s, t, "waiting_citizen", now, message=message)
    return await _change(sf, viewer, ref, "request_info", mutate, ip, message=message)


async def resume(sf, viewer: Viewer, ref: str, ip: str | None = None) -> dict:
    return await _change(sf, viewer, ref, "resume", lambda s, t, now: _unpause(t, now), ip)


async def start(sf, viewer: Viewer, ref: str, ip: str | None = None) -> dict:
    return await _change(sf, viewer, ref, "start", lambda s, t, now: _responded(t, now), ip)


async def first_help(sf, viewer: Viewer, ref: str, given: str, ip: str | None = None) -> dict:
    """先行救助已给予: the clerk records what was given first (the checks come after); it answers
    the citizen, stops the fast path's clock, and the referral stays open to be completed."""
    given = _text(given, "given", 200)

    def mutate(s, t, now):
        if not _fast_path_pending(t):
            raise InvalidTransition("first_help", t.status)
        _responded(t, now)
        t.fast_path_given_at = now
        _queue_notification(s, t, "first_help", now, given=given)
    return await _change(sf, viewer, ref, None, mutate, ip, kind="first_help", given=given)


def _parse_day(value: str | None, field: str) -> date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(field, f"{field} must be a date, YYYY-MM-DD") from None


async def set_dates(sf, viewer: Viewer, ref: str, kind: str, day: str,
                    ip: str | None = None) -> dict:
    """The clerk records when what was granted ends (渐退期, a temporary benefit) or is
    reviewed; the citizen is reminded before. Any status: dates are set when help is granted."""
    if kind not in domain.REMINDER_KINDS:
        raise ValidationError("kind", "kind must be phase_out, temporary or review")
    day = _parse_day(day, "day")
    if day is None:
        raise ValidationError("day", "day is required")

    def mutate(s, t, now):
        if day <= now.astimezone(CHINA).date():
            raise ValidationError("day", "the date must be after today")
        if kind == "review":
            t.review_on = day
        else:
            t.benefit_kind, t.benefit_ends_on = kind, day
    return await _change(sf, viewer, ref, None, mutate, ip, kind="dates", date_kind=kind,
                         on=day.isoformat())


async def flag_call_back(sf, viewer: Viewer, ref: str, reason: str, ip: str | None = None) -> dict:
    """A clerk asks the 12349 agents to phone this household (the call-back list)."""
    reason = _text(reason, "reason", 500)

    def mutate(s, t, now):
        s.add(CallBack(source_key=f"flag:{t.id}:{now.isoformat()}", kind="flagged", ticket_id=t.id,
                       phone=t.citizen_phone, reason=f"{t.reference_no}：{reason}", status="open",
                       attempts=[], created_by=viewer.actor, created_at=now, updated_at=now))
    return await _change(sf, viewer, ref, None, mutate, ip, kind="call_back", reason=reason)


async def resolve(sf, viewer: Viewer, ref: str, result: str, ip: str | None = None) -> dict:
    result = _text(result, "result", 2000)

    def mutate(s, t, now):
        _unpause(t, now)
        _responded(t, now)
        t.result, t.resolved_at = result, now
        short = result if len(result) <= 60 else result[:59] + "…"
        if len(t.case_referrals) <= 1:  # of a case of several: told once, when all are done
            _queue_notification(s, t, "resolved", now, result=short)
    return await _change(sf, viewer, ref, "resolve", mutate, ip, result=result)


async def close(sf, viewer: Viewer, ref: str, ip: str | None = None) -> dict:
    return await _change(sf, viewer, ref, "close", lambda s, t, now: None, ip)


async def reopen(sf, viewer: Viewer, ref: str, reason: str, ip: str | None = None) -> dict:
    reason = _text(reason, "reason", 500)

    def mutate(s, t, now):
        t.resolved_at, t.sla_cycle = None, t.sla_cycle + 1
        t.resolution_clock_from, t.pauses = now, []  # a new request: a new clock
        _apply_sla(t, now)
    return await _change(sf, viewer, ref, "reopen", mutate, ip, reason=reason)


async def transfer(sf, viewer: Viewer, ref: str, department: str, reason: str,
                   ip: str | None = None) -> dict:
    reason = _text(reason, "reason", 500)
    if department not in domain.departments():
        raise ValidationError("department", f"unknown department {department!r}")
    async with sf() as s:
        directory = await unit_directory(s)
    moved = {}

    def mutate(s, t, now):
        if department == t.department:
            raise ValidationError("department", "the ticket is already with this department")
        moved["from_department"] = t.department
        _place(t, domain.route(t.program, t.region, t.street, t.description,
                               regions().get(t.region, {}).get("name", ""), directory,
                               department=department))
        _unpause(t, now)
        t.assignee = None
        _transfer_clocks(t, now)
        moved["sla_policy"] = t.sla_policy
    return await _change(sf, viewer, ref, "transfer", mutate, ip, to_department=department,
                         reason=reason, moved=moved)


def _transfer_clocks(t: Ticket, now: datetime) -> None:
    """A transfer cannot reset the citizen's wait: the new department's policy applies, but its
    resolution clock runs from filing (what the first department took counts, the time waiting
    for the citizen does not); only the first-response clock starts anew, for the new office.
    Escalation and priority stay: a ticket bounced between departments still breaches."""
    sla = domain.sla_for(t.program, t.urgency, t.department)
    started = t.resolution_clock_from or t.created_at
    _, resolution_due = sla.deadlines(started)
    first_due = sla.first_response.due_from(now)
    t.sla_policy, t.applied_sla = sla.policy, sla.plain()
    resolution_due = _credited(t, resolution_due, _pauses(t))
    t.sla_cycle += 1  # the new office's first-response events count anew
    t.first_responded_at = None
    t.first_response_due, t.first_response_warn_at = first_due, _warn_at(now, first_due)
    t.first_response_warned_at = t.first_response_breached_at = None
    if resolution_due != t.resolution_due:
        t.resolution_due = resolution_due
        t.resolution_warn_at = _credited(t, _warn_at(started, sla.resolution.due_from(started)),
                                         _pauses(t))
        if resolution_due > now:  # a longer policy gives the time back; else the breach stands
            t.resolution_warned_at = t.resolution_breached_at = None


def _place(t: Ticket, r: domain.Route) -> None:
    t.department, t.handling_unit = r.department, r.handling_unit
    t.unit_code, t.unplaced = r.unit_code, r.unplaced


async def place(sf, viewer: Viewer, ref: str, unit: str, ip: str | None = None) -> dict:
    """分派: hand a ticket to a 乡镇/街道 of its region (a code, or a name of the directory)."""
    entry = _text(unit, "unit", 64)
    async with sf() as s:
        directory = await unit_directory(s)
    placed = {}

    def mutate(s, t, now):
        if t.status not in OPEN_STATUSES:
            raise InvalidTransition("place", t.status)
        hits = [u for u in directory.resolve(entry) if u.region == t.region]
        if not hits:
            found = directory.match(t.region, entry)
            hits = [found.unit] if found.unit else list(found.candidates)
        if len(hits) != 1:
            names = "、".join(f"{u.label}（{u.code}）" for u in hits[:5])
            raise ValidationError("unit", f"有多个同名单位，请填写代码：{names}" if hits
                                  else f"本地区没有“{entry}”这个乡镇/街道")
        (found,) = hits
        placed.update(unit_code=found.code, handling_unit=found.office,
                      from_unit=t.handling_unit)
        t.handling_unit, t.unit_code, t.unplaced = found.office, found.code, False
        t.assignee = None  # the unit's own clerks claim it
    return await _change(sf, viewer, ref, None, mutate, ip, kind="place", placed=placed)


# --- the unit directory (承办单位) ------------------------------------------------------------

async def unit_directory(s: AsyncSession) -> units.Directory:
    """The seeded directory with admins' edits (a handful of rows, read with each use so every
    process sees an edit at once)."""
    edits = {e.code: (e.office, e.aliases or []) for e in await s.scalars(select(UnitEdit))}
    return units.seeded().with_edits(edits) if edits else units.seeded()


async def list_units(sf: async_sessionmaker, region: str) -> list[dict]:
    async with sf() as s:
        directory = await unit_directory(s)
        edited = {e.code: e for e in await s.scalars(select(UnitEdit))}
    seeded = units.seeded()
    return [{"code": u.code, "name": u.name, "county": u.county, "office": u.office,
             "aliases": list(u.aliases), "seeded_office": seeded.get(u.code).office,
             "edited_by": edited[u.code].updated_by if u.code in edited else None,
             "edited_at": iso_local(edited[u.code].updated_at) if u.code in edited else None}
            for u in sorted(directory.in_region(region), key=lambda u: u.code)]


async def edit_unit(sf: async_sessionmaker, viewer: Viewer, code: str, office: str,
                    aliases: list[str], ip: str | None = None) -> dict:
    """An admin names a unit's office and aliases; back to the seeded values drops the edit."""
    seeded = units.seeded().get(code)
    if seeded is None:
        raise NotFound(code)
    office = _text(office, "office", 64)
    aliases = list(dict.fromkeys(a.strip() for a in aliases if a.strip()))
    if any(len(a) > 32 for a in aliases) or len(aliases) > 20:
        raise ValidationError("aliases", "每个别名不超过 32 个字，最多 20 个")
    now = utcnow()
    async with sf() as s, s.begin():
        edit = await s.get(UnitEdit, code)
        if office == seeded.office and aliases == list(seeded.aliases):
            if edit is not None:
                await s.delete(edit)
        elif edit is None:
            s.add(UnitEdit(code=code, office=office, aliases=aliases, updated_by=viewer.actor,
                           updated_at=now))
        else:
            edit.office, edit.aliases, edit.updated_by, edit.updated_at = \
                office, aliases, viewer.actor, now
        s.add(AuditEntry(actor=viewer.actor, action="unit_edit", ip=ip, created_at=now,
                         detail={"code": code, "office": office, "aliases": aliases}))
    return {"code": code, "office": office, "aliases": aliases}


async def dashboard(sf: async_sessionmaker, viewer: Viewer) -> list[dict]:
    """Backlog and breaches per department (only the viewer's own for staff)."""
    now = utcnow()
    late = Ticket.breached(now)
    approaching = and_(Ticket.status.in_(RUNNING_STATUSES), ~late,
                       or_(Ticket.resolution_warn_at < now,
                           and_(Ticket.first_responded_at.is_(None),
                                Ticket.first_response_warn_at < now)))
    async with sf() as s:
        rows = (await s.execute(
            select(Ticket.department, Ticket.status, func.count(),
                   func.sum(_as_int(late)), func.sum(_as_int(approaching)))
            .where(_visible_to(viewer), Ticket.status.in_(OPEN_STATUSES))
            .group_by(Ticket.department, Ticket.status))).all()
    out: dict[str, dict] = {}
    for code in domain.departments():
        if viewer.sees_all or code == viewer.department:
            out[code] = {"department": code, "department_name": domain.department_name(code),
                         "open": 0, "breached": 0, "approaching": 0, "by_status": {}}
    for dept, status, count, n_late, n_close in rows:
        d = out.setdefault(dept, {"department": dept, "department_name": domain.department_name(dept),
                                  "open": 0, "breached": 0, "approaching": 0, "by_status": {}})
        d["open"] += count
        d["breached"] += int(n_late or 0)
        d["approaching"] += int(n_close or 0)
        d["by_status"][status] = count
    return list(out.values())


async def case_counts(sf: async_sessionmaker, viewer: Viewer) -> dict:
    """一门受理 on the dashboard: cases open and closed, and how many departments each needed
    (of the cases with a referral the viewer may see)."""
    per_case = (select(Ticket.case_id, func.count(func.distinct(Ticket.department)).label("n"),
                       func.max(_as_int(_visible_to(viewer))).label("seen"))
                .group_by(Ticket.case_id).subquery())
    async with sf() as s:
        rows = (await s.execute(
            select(Case.status, per_case.c.n, func.count())
            .join(per_case, per_case.c.case_id == Case.id).where(per_case.c.seen == 1)
            .group_by(Case.status, per_case.c.n))).all()
    out = {"open": 0, "closed": 0, "by_departments": {}}
    for status, n, count in rows:
        out[status] = out.get(status, 0) + count
        out["by_departments"][n] = out["by_departments"].get(n, 0) + count
    out["by_departments"] = dict(sorted(out["by_departments"].items()))
    return out


def _as_int(cond):
    return case((cond, 1), else_=0)


# --- SLA sweep (worker) --------------------------------------------------------------------------

def working_days_before(moment: datetime, days: int) -> datetime:
    local = moment.astimezone(CHINA)
    day, remaining = local.date(), days
    while remaining > 0:
        day -= timedelta(days=1)
        if is_working_day(day):
            remaining -= 1
    return local.replace(year=day.year, month=day.month, day=day.day)


async def sweep_sla(sf: async_sessionmaker, now: datetime) -> dict[str, int]:
    """Record approaching and breached deadlines and escalate breaches.

    Set-based: each threshold is one INSERT of SLA events plus one UPDATE that marks the
    tickets, both over a partial index of the running tickets that have not crossed it yet, so a
    sweep costs what changed since the last one, not the size of the backlog. Idempotent: events
    are unique per ticket, target, kind, level and clock cycle.
    """
    running = IS_RUNNING
    unanswered = Ticket.first_responded_at.is_(None)
    thresholds = [
        ("first_response", "approaching", Ticket.first_response_warned_at,
         [unanswered, Ticket.first_response_warn_at < now, Ticket.first_response_due >= now]),
        ("resolution", "approaching", Ticket.resolution_warned_at,
         [Ticket.resolution_warn_at < now, Ticket.resolution_due >= now]),
        ("first_response", "breached", Ticket.first_response_breached_at,
         [unanswered, Ticket.first_response_due < now]),
        ("resolution", "breached", Ticket.resolution_breached_at, [Ticket.resolution_due < now]),
        # 先行救助: the first help not recorded as given by its own deadline.
        ("first_help", "breached", Ticket.fast_path_breached_at,
         [Ticket.fast_path_given_at.is_(None), Ticket.fast_path_due < now]),
    ]
    # A breach also settles its "approaching" threshold, so that index stays small.
    warned_by_breach = {"first_response": Ticket.first_response_warned_at,
                        "resolution": Ticket.resolution_warned_at}
    counts: dict[str, int] = {}
    async with sf() as s, s.begin():
        for target, kind, marker, conds in thresholds:
            crossing = and_(running, marker.is_(None), *conds)
            await _record_sla_events(s, target, kind, 0, crossing, now, {})
            values = {marker.key: now}
            if kind == "breached":
                if target in warned_by_breach:
                    warned = warned_by_breach[target]
                    values[warned.key] = func.coalesce(warned, now)
                # Escalation level 1: the department supervisor; priority goes up once.
                first_escalation = and_(crossing, Ticket.escalation_level < 1)
                await _record_sla_events(s, "any", "escalated", 1, first_escalation, now,
                                         {"to": "department_supervisor"})
                values |= {"priority": Ticket.priority + case((Ticket.escalation_level < 1, 1),
                                                              else_=0),
                           "escalation_level": case((Ticket.escalation_level < 1, 1),
                                                    else_=Ticket.escalation_level)}
            res = await s.execute(update(Ticket).where(crossing).values(**values)
                                  .execution_options(synchronize_session=False))
            counts[f"{target}_{kind}"] = max(res.rowcount or 0, 0)
        # Escalation level 2: still unresolved well after the deadline -> civil-affairs coordinator.
        long_overdue = and_(running, BELOW_COORDINATOR, Ticket.resolution_due <
                            working_days_before(now, domain.coordinator_escalation_after_days()))
        await _record_sla_events(s, "resolution", "escalated", 2, long_overdue, now,
                                 {"to": "civil_affairs_coordinator"})
        res = await s.execute(update(Ticket).where(long_overdue).values(
            escalation_level=2, priority=Ticket.priority + 1)
            .execution_options(synchronize_session=False))
        counts["escalated_to_coordinator"] = max(res.rowcount or 0, 0)
        counts["pause_expired"] = await _expire_pauses(s, now)
    return counts


async def _expire_pauses(s: AsyncSession, now: datetime) -> int:
    """A request for information pauses the clock for waiting_citizen_limit working days at
    most: then the clock runs again (the ticket back in progress) and the clerk is told, on the
    ticket and by an SLA event; the citizen's answer still reaches the ticket."""
    stmt = select(Ticket).where(
        Ticket.status == "waiting_citizen", Ticket.paused_at.is_not(None),
        Ticket.paused_at < working_days_before(now, domain.waiting_citizen_limit_days()))
    expired = list(await s.scalars(for_update(s, stmt, skip_locked=True)))  # several workers: once
    for t in expired:
        waited_s = int((now - t.paused_at).total_seconds())
        _unpause(t, now)
        t.status, t.updated_at = "in_progress", now
        s.add(TicketEvent(ticket_id=t.id, actor="system:sla", kind="pause_expired", created_at=now,
                          data={"from": "waiting_citizen", "to": "in_progress",
                                "waited_days": round(waited_s / 86400, 1)}))
        await s.execute(upsert_insert(s)(SlaEvent).values(
            ticket_id=t.id, target="any", kind="pause_expired", level=0, cycle=t.sla_cycle,
            data={"waited_s": waited_s}, created_at=now).on_conflict_do_nothing())
    return len(expired)


async def _record_sla_events(s: AsyncSession, target: str, kind: str, level: int, where,
                             now: datetime, data: dict) -> None:
    src = select(Ticket.id, literal(target), literal(kind), literal(level), Ticket.sla_cycle,
                 literal_column("'" + json.dumps(data, ensure_ascii=False) + "'"),
                 literal(now, UTCDateTime())).where(where)
    await s.execute(upsert_insert(s)(SlaEvent).from_select(
        ["ticket_id", "target", "kind", "level", "cycle", "data", "created_at"], src)
        .on_conflict_do_nothing())



@dataclass(frozen=True)
class TicketAction:
    """A staff action on a ticket: the use case and the text fields it takes."""

    call: Callable[..., Awaitable[dict]]
    fields: tuple[str, ...] = ()

    def allowed_for(self, name: str, ticket: dict) -> bool:
        """Whether the console offers it for this ticket (a row or detail view)."""
        if name in domain.TRANSITIONS:
            return ticket["status"] in domain.TRANSITIONS[name][0]
        if name == "first_help":  # a 先行救助 path whose first help is not yet recorded
            return ticket["fast_path_pending"]
        if name == "dates":  # what was granted ends or is reviewed: dated once it is granted
            return ticket["status"] in ("resolved", "closed")
        if name == "place":  # street-routed tickets only: placed, or waiting to be
            return ticket["status"] in OPEN_STATUSES and (ticket["unplaced"] or ticket["unit_code"])
        return ticket["status"] in OPEN_STATUSES  # notes: while the ticket is open


# Every staff action, in the order the console offers them (the usual next step first);
# the console forms and POST /api/tickets/{reference_no}/{action} both dispatch through it.
ACTIONS: dict[str, TicketAction] = {
    "claim": TicketAction(claim),
    "first_help": TicketAction(first_help, ("given",)),
    "start": TicketAction(start),
    "resume": TicketAction(resume),
    "resolve": TicketAction(resolve, ("result",)),
    "note": TicketAction(add_note, ("text",)),
    "call_back": TicketAction(flag_call_back, ("reason",)),
    "request_info": TicketAction(request_info, ("message",)),
    "place": TicketAction(place, ("unit",)),
    "transfer": TicketAction(transfer, ("department", "reason")),
    "close": TicketAction(close),
    "reopen": TicketAction(reopen, ("reason",)),
    "dates": TicketAction(set_dates, ("kind", "day")),
}
