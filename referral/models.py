"""Tickets (转介工单), their history, SLA events, audit trail, outbox and idempotency records.
Owned by referral/; other packages use referral.service, never these tables directly."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db import Base, UTCDateTime, utcnow

OPEN_STATUSES = ("new", "accepted", "in_progress", "waiting_citizen", "transferred", "reopened")
_OPEN_SQL = "status IN ('new','accepted','in_progress','waiting_citizen','transferred','reopened')"


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        # SLA sweeps scan open tickets by deadline.
        Index("ix_tickets_open_resolution_due", "resolution_due",
              postgresql_where=text(_OPEN_SQL), sqlite_where=text(_OPEN_SQL)),
        Index("ix_tickets_open_first_response_due", "first_response_due",
              postgresql_where=text(_OPEN_SQL + " AND first_responded_at IS NULL"),
              sqlite_where=text(_OPEN_SQL + " AND first_responded_at IS NULL")),
        Index("ix_tickets_department_status", "department", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference_no: Mapped[str] = mapped_column(String(24), unique=True)
    program: Mapped[str] = mapped_column(String(32))
    department: Mapped[str] = mapped_column(String(32))
    handling_unit: Mapped[str | None] = mapped_column(String(64))  # 乡镇/街道 or department office
    region: Mapped[str] = mapped_column(String(6))
    street: Mapped[str | None] = mapped_column(String(64))
    citizen_name: Mapped[str] = mapped_column(String(64))
    citizen_phone: Mapped[str] = mapped_column(String(32))
    citizen_id_masked: Mapped[str | None] = mapped_column(String(24))  # never stored in full
    description: Mapped[str] = mapped_column(Text)
    urgency: Mapped[str] = mapped_column(String(8), default="normal")
    priority: Mapped[int] = mapped_column(Integer, default=0)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="new")
    assignee: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    conversation_id: Mapped[str | None] = mapped_column(String(128))
    result: Mapped[str | None] = mapped_column(Text)
    sla_policy: Mapped[str] = mapped_column(String(64), default="default")
    sla_cycle: Mapped[int] = mapped_column(Integer, default=0)  # a transfer restarts the clocks
    applied_sla: Mapped[dict] = mapped_column(JSON, default=dict)
    first_response_due: Mapped[datetime] = mapped_column(UTCDateTime())
    resolution_due: Mapped[datetime] = mapped_column(UTCDateTime())
    first_response_warn_at: Mapped[datetime] = mapped_column(UTCDateTime())  # "approaching" from
    resolution_warn_at: Mapped[datetime] = mapped_column(UTCDateTime())
    first_responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# A department's open queue, most urgent first (partial: closed tickets are most of the rows).
Index("ix_tickets_open_queue", Ticket.department, Ticket.priority.desc(), Ticket.resolution_due,
      postgresql_where=text(_OPEN_SQL), sqlite_where=text(_OPEN_SQL))


class TicketEvent(Base):
    """The history of a ticket as staff see it: who did what, when."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SlaEvent(Base):
    """approaching / breached / escalated, recorded once per ticket, target and level."""

    __tablename__ = "sla_events"
    __table_args__ = (UniqueConstraint("ticket_id", "target", "kind", "level", "cycle"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    target: Mapped[str] = mapped_column(String(16))  # first_response | resolution
    kind: Mapped[str] = mapped_column(String(16))  # approaching | breached | escalated
    level: Mapped[int] = mapped_column(Integer, default=0)
    cycle: Mapped[int] = mapped_column(Integer, default=0)  # bumps when a transfer restarts clocks
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AuditEntry(Base):
    """Every view of a ticket's personal data and every change, with who and from where."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(32))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    ip: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class OutboxMessage(Base):
    """A message to the citizen, written with the change that causes it; channels deliver it."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(96), unique=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # accepted | waiting_citizen | resolved
    channel: Mapped[str] = mapped_column(String(16))
    conversation_id: Mapped[str | None] = mapped_column(String(128))
    phone: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ReferenceCounter(Base):
    """Per-day sequence behind readable reference numbers 12349-YYYYMMDD-NNNN."""

    __tablename__ = "reference_counters"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class IdempotencyRecord(Base):
    """The first response to an Idempotency-Key, replayed to every retry of that request."""

    __tablename__ = "idempotency_keys"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    response: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
