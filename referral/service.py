"""Referral use cases: one function per use case, each in its own unit of work."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.db import utcnow
from hotline.privacy import phone_last4
from referral import domain
from referral.models import IdempotencyRecord, ReferenceCounter, Ticket, TicketEvent
from referral.workdays import CHINA


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
    channel: str = "api"
    conversation_id: str | None = None


def _iso(dt: datetime) -> str:
    return dt.astimezone(CHINA).isoformat(timespec="minutes")


def created_view(t: Ticket) -> dict:
    return {
        "reference_no": t.reference_no,
        "department": t.department,
        "department_name": domain.department_name(t.department),
        "status": t.status,
        "sla": {"first_response_due": _iso(t.first_response_due),
                "resolution_due": _iso(t.resolution_due)},
    }


def citizen_view(t: Ticket) -> dict:
    """What a citizen may see of a ticket: no personal data, plain status."""
    return {**created_view(t), "program": t.program, "urgency": t.urgency,
            "created_at": _iso(t.created_at), "updated_at": _iso(t.updated_at)}


async def _next_sequence(session: AsyncSession, day) -> int:
    dialect = session.bind.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(ReferenceCounter)
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
    """File a ticket. Returns (response, created); a retried key returns the first response."""
    request_hash = hashlib.sha256(
        json.dumps(asdict(req), sort_keys=True, ensure_ascii=False).encode()
    ).hexdigest()
    if idempotency_key and (done := await _replay(sf, idempotency_key, request_hash)):
        return done, False
    now = utcnow()
    first_due, resolution_due = domain.sla_for(req.program, req.urgency).deadlines(now)
    try:
        async with sf() as s, s.begin():
            seq = await _next_sequence(s, now.astimezone(CHINA).date())
            ticket = Ticket(
                reference_no=domain.format_reference_no(now.astimezone(CHINA).date(), seq),
                department=domain.department_for(req.program),
                first_response_due=first_due, resolution_due=resolution_due,
                status="new", created_at=now, updated_at=now, **asdict(req),
            )
            s.add(ticket)
            await s.flush()
            s.add(TicketEvent(ticket_id=ticket.id, actor=actor, kind="created",
                              data={"channel": req.channel, "department": ticket.department},
                              created_at=now))
            response = created_view(ticket)
            if idempotency_key:
                s.add(IdempotencyRecord(key=idempotency_key, request_hash=request_hash,
                                        ticket_id=ticket.id, response=response, created_at=now))
                await s.flush()
    except IntegrityError:
        # A concurrent request with the same key committed first; ours rolled back whole.
        if idempotency_key and (done := await _replay(sf, idempotency_key, request_hash)):
            return done, False
        raise
    return response, True


async def get_for_citizen(sf: async_sessionmaker, reference_no: str, last4: str) -> dict | None:
    """The ticket if the phone's last 4 digits match; None for unknown and mismatch alike."""
    async with sf() as s:
        t = await s.scalar(select(Ticket).where(Ticket.reference_no == reference_no))
    if t is None or not last4 or phone_last4(t.citizen_phone) != last4:
        return None
    return citizen_view(t)


async def department_queue(sf: async_sessionmaker, department: str, limit: int = 200) -> list[Ticket]:
    """Open tickets of a department, most urgent deadline first."""
    async with sf() as s:
        rows = await s.scalars(
            select(Ticket)
            .where(Ticket.department == department, Ticket.status.not_in(("resolved", "closed")))
            .order_by(Ticket.resolution_due, Ticket.id)
            .limit(limit)
        )
        return list(rows)


async def mark_breaches(sf: async_sessionmaker, now: datetime) -> int:
    """Record a `sla_breached` event once per open ticket past its resolution deadline."""
    async with sf() as s, s.begin():
        breached_ids = select(TicketEvent.ticket_id).where(TicketEvent.kind == "sla_breached")
        rows = await s.scalars(
            select(Ticket).where(
                Ticket.resolution_due < now,
                Ticket.status.not_in(("resolved", "closed")),
                Ticket.id.not_in(breached_ids),
            )
        )
        count = 0
        for t in rows:
            s.add(TicketEvent(ticket_id=t.id, actor="system:worker", kind="sla_breached",
                              data={"resolution_due": t.resolution_due.isoformat()},
                              created_at=now))
            count += 1
    return count
