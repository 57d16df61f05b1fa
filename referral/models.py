"""Tickets (转介工单), their history, SLA events, audit trail, outbox and idempotency records.
Owned by referral/; other packages use referral.service, never these tables directly."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    and_,
    or_,
    text,
)
from sqlalchemy.ext.hybrid import hybrid_method
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hotline.db import ACTOR_CHARS, Base, UTCDateTime, utcnow

OPEN_STATUSES = ("new", "accepted", "in_progress", "waiting_citizen", "transferred", "reopened")
RUNNING_STATUSES = tuple(s for s in OPEN_STATUSES if s != "waiting_citizen")  # clock running
# The same predicates as SQL literals: partial indexes are only usable by queries whose
# conditions match them as literals, not as bound parameters.
_OPEN_SQL = "status IN ('new','accepted','in_progress','waiting_citizen','transferred','reopened')"
_RUNNING_SQL = "status IN ('new','accepted','in_progress','transferred','reopened')"
IS_OPEN = text(_OPEN_SQL)
IS_RUNNING = text(_RUNNING_SQL)


class Case(Base):
    """受理: one household's request, asked once (一门受理). It holds the household's contact and
    eligibility screen and one referral (a Ticket) per department and program; the citizen
    knows it by one number, the first referral's. Closed when every referral is done."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference_no: Mapped[str] = mapped_column(String(24), unique=True)
    region: Mapped[str] = mapped_column(String(6))
    citizen_name: Mapped[str] = mapped_column(String(64))
    citizen_phone: Mapped[str] = mapped_column(String(32))
    citizen_id_masked: Mapped[str | None] = mapped_column(String(24))
    channel: Mapped[str] = mapped_column(String(16))
    conversation_id: Mapped[str | None] = mapped_column(String(128), index=True)
    # The eligibility screen the referrals came from (programs and their status), if any.
    screen: Mapped[dict] = mapped_column(JSON, default=dict)
    opened_by: Mapped[str] = mapped_column(String(ACTOR_CHARS))  # bot, agent or a 乡镇 window
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | closed
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_department_status", "department", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference_no: Mapped[str] = mapped_column(String(24), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    # Loaded with the ticket (a second SELECT): notices quote the case's number.
    case: Mapped[Case] = relationship(lazy="selectin")
    program: Mapped[str] = mapped_column(String(32))
    department: Mapped[str] = mapped_column(String(32))
    handling_unit: Mapped[str | None] = mapped_column(String(64))  # 乡镇/街道 or department office
    # The directory's code of that 乡镇/街道 (referral/units/); clerks scoped to units see by it.
    unit_code: Mapped[str | None] = mapped_column(String(12), index=True)
    # 待分派: street routing could not place it; it waits in the region's office for a person.
    unplaced: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
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
    conversation_id: Mapped[str | None] = mapped_column(String(128), index=True)
    result: Mapped[str | None] = mapped_column(Text)
    amount_yuan: Mapped[int | None] = mapped_column(Integer)  # what the citizen asks for, if said
    # The region's own path for it (referral/pathways.yml): a 救急难 tier, a 先行救助 fast path,
    # each with its clause; the fast path's deadline is its own column.
    pathway: Mapped[dict] = mapped_column(JSON, default=dict)
    fast_path_due: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When the clerk recorded the first help as given (先行救助已给予), and when the sweep found
    # it overdue and escalated (once; null: not yet).
    fast_path_given_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    fast_path_breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # What the clerk granted ends or is reviewed on these days (the citizen is reminded before):
    # 渐退期 or a temporary benefit's end, and the next review (复核).
    benefit_kind: Mapped[str | None] = mapped_column(String(16))  # phase_out | temporary
    benefit_ends_on: Mapped[date | None] = mapped_column(Date)
    review_on: Mapped[date | None] = mapped_column(Date)
    sla_policy: Mapped[str] = mapped_column(String(64), default="default")
    sla_cycle: Mapped[int] = mapped_column(Integer, default=0)  # a transfer restarts the clocks
    applied_sla: Mapped[dict] = mapped_column(JSON, default=dict)
    first_response_due: Mapped[datetime] = mapped_column(UTCDateTime())
    resolution_due: Mapped[datetime] = mapped_column(UTCDateTime())
    first_response_warn_at: Mapped[datetime] = mapped_column(UTCDateTime())  # "approaching" from
    resolution_warn_at: Mapped[datetime] = mapped_column(UTCDateTime())
    first_responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When the sweep recorded each threshold (null: not yet crossed in this clock cycle). They let
    # a sweep touch only the tickets that crossed a threshold since the last one.
    first_response_warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolution_warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_response_breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolution_breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The resolution clock runs from filing (or a reopening), whoever holds the ticket; the time
    # spent waiting for the citizen does not count against it.
    resolution_clock_from: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The citizen's completed waits in this clock cycle, [[paused, resumed], …] in ISO 8601: a
    # transfer credits their working time again in the new policy's unit.
    pauses: Mapped[list] = mapped_column(JSON, default=list)
    # The latest notice to the citizen could not be delivered (the clerk must reach them).
    notice_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Its citizen's personal data was redacted after the retention period (hotline/retention.py).
    redacted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    # The one definition of "breached", for the queue's rows, its filter, the dashboard and the
    # sweep's counts alike: a running clock (not waiting for the citizen, not done) past its
    # first-response deadline while nobody has responded, or past its resolution deadline.
    @hybrid_method
    def breached(self, now: datetime) -> bool:
        return self.status in RUNNING_STATUSES and (
            self.resolution_due < now
            or (self.first_responded_at is None and self.first_response_due < now))

    @breached.expression
    def breached(cls, now: datetime):
        return and_(cls.status.in_(RUNNING_STATUSES),
                    or_(cls.resolution_due < now,
                        and_(cls.first_responded_at.is_(None), cls.first_response_due < now)))


# A department's open queue, most urgent first (partial: closed tickets are most of the rows).
Index("ix_tickets_open_queue", Ticket.department, Ticket.priority.desc(), Ticket.resolution_due,
      postgresql_where=text(_OPEN_SQL), sqlite_where=text(_OPEN_SQL))




def _sweep_index(name: str, column, condition: str) -> Index:
    where = text(f"{_RUNNING_SQL} AND {condition}")
    return Index(name, column, postgresql_where=where, sqlite_where=where)


# One partial index per SLA threshold: only running tickets that have not crossed it yet.
_sweep_index("ix_tickets_sweep_first_response_warn", Ticket.first_response_warn_at,
             "first_responded_at IS NULL AND first_response_warned_at IS NULL")
_sweep_index("ix_tickets_sweep_resolution_warn", Ticket.resolution_warn_at,
             "resolution_warned_at IS NULL")
_sweep_index("ix_tickets_sweep_first_response_due", Ticket.first_response_due,
             "first_responded_at IS NULL AND first_response_breached_at IS NULL")
_sweep_index("ix_tickets_sweep_resolution_due", Ticket.resolution_due,
             "resolution_breached_at IS NULL")
_sweep_index("ix_tickets_sweep_first_help", Ticket.fast_path_due,
             "fast_path_given_at IS NULL AND fast_path_breached_at IS NULL")
_sweep_index("ix_tickets_sweep_coordinator", Ticket.resolution_due, "escalation_level < 2")
BELOW_COORDINATOR = text("escalation_level < 2")


class TicketEvent(Base):
    """The history of a ticket as staff see it: who did what, when."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    actor: Mapped[str] = mapped_column(String(ACTOR_CHARS))
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
    __table_args__ = (Index("ix_audit_log_created", "created_at"),)  # retention

    id: Mapped[int] = mapped_column(primary_key=True)
    actor: Mapped[str] = mapped_column(String(ACTOR_CHARS), index=True)
    action: Mapped[str] = mapped_column(String(32))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    ip: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class OutboxMessage(Base):
    """A notice to the citizen (a named template and its placeholders), written with the change
    that causes it. The worker hands it to the channels' outbound path and records here what
    became of it, so the clerk sees a notice that could not be delivered."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(96), unique=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # the template: accepted | waiting_citizen | resolved
    params: Mapped[dict] = mapped_column(JSON, default=dict)  # the template's placeholders
    channel: Mapped[str] = mapped_column(String(16))
    conversation_id: Mapped[str | None] = mapped_column(String(128))
    phone: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)  # the template rendered, for free-text channels
    # pending (not handed over yet) -> handed (a channel message exists) -> sent | failed |
    # suppressed (the citizen opted out); `detail` says which path it took and why.
    status: Mapped[str] = mapped_column(String(16), default="pending")
    message_id: Mapped[int | None] = mapped_column(Integer)  # channels' message that carries it
    detail: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class UnitEdit(Base):
    """An admin's change to a unit of the directory (office name, aliases); the directory
    files in referral/units/ hold the rest."""

    __tablename__ = "unit_edits"

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    office: Mapped[str] = mapped_column(String(64))
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_by: Mapped[str] = mapped_column(String(ACTOR_CHARS))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ReferenceCounter(Base):
    """Per-day sequence behind readable reference numbers 12349-YYYYMMDD-NNNN-KKK."""

    __tablename__ = "reference_counters"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class IdempotencyRecord(Base):
    """The first response to an Idempotency-Key, replayed to every retry of that request."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("ix_idempotency_keys_created", "created_at"),)  # retention

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    response: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# --- complaints (投诉) and outreach (主动发现) ----------------------------------------------------

class Complaint(Base):
    """A citizen's complaint about a referral or a department: it goes to a supervisor (of the
    department complained about, else civil affairs), never to the clerk complained about, with
    its own clock; a second complaint about the same referral is linked to the first."""

    __tablename__ = "complaints"
    __table_args__ = (Index("ix_complaints_department_status", "department", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reference_no: Mapped[str] = mapped_column(String(24), unique=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    department: Mapped[str] = mapped_column(String(32))  # whose supervisor answers it
    linked_to_id: Mapped[int | None] = mapped_column(ForeignKey("complaints.id"))
    what_happened: Mapped[str] = mapped_column(Text)
    wants: Mapped[str | None] = mapped_column(Text)
    citizen_phone: Mapped[str | None] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    conversation_id: Mapped[int | None] = mapped_column(Integer, index=True)
    filed_by: Mapped[str] = mapped_column(String(ACTOR_CHARS))  # bot | agent:… | supervisor:…
    source_key: Mapped[str] = mapped_column(String(128), unique=True)  # a retry files nothing new
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | answered
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str | None] = mapped_column(Text)
    answered_by: Mapped[str | None] = mapped_column(String(ACTOR_CHARS))
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ComplaintEvent(Base):
    """A complaint's history: filed, linked, viewed, escalated, answered (who and when)."""

    __tablename__ = "complaint_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"), index=True)
    actor: Mapped[str] = mapped_column(String(ACTOR_CHARS))
    kind: Mapped[str] = mapped_column(String(24))
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Screen(Base):
    """An eligibility screen kept for re-screening when a standard changes: what was told (the
    request), what it found (program -> status), and whether the household agreed to be told."""

    __tablename__ = "screens"
    __table_args__ = (Index("ix_screens_region_created", "region", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    region: Mapped[str] = mapped_column(String(6))
    request: Mapped[dict] = mapped_column(JSON)
    statuses: Mapped[dict] = mapped_column(JSON)  # program -> status
    as_of: Mapped[date] = mapped_column(Date)
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    channel: Mapped[str | None] = mapped_column(String(16))
    conversation_id: Mapped[int | None] = mapped_column(Integer)
    phone: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Rescreen(Base):
    """One re-screen of a region for a dated parameter change (done once per date)."""

    __tablename__ = "rescreens"
    __table_args__ = (UniqueConstraint("region", "as_of"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    region: Mapped[str] = mapped_column(String(6))
    as_of: Mapped[date] = mapped_column(Date)
    changed: Mapped[list] = mapped_column(JSON, default=list)  # [{screen_id, before, after}]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Outreach(Base):
    """A message the platform writes first (a reminder, an offer to re-apply, a complaint's
    outcome): at most once per reason (reason_key), never to an opted-out citizen, no SMS in
    quiet hours, at most a daily cap per citizen. Every one is kept, with what became of it."""

    __tablename__ = "outreach"
    __table_args__ = (Index("ix_outreach_pending", "status", "not_before"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reason_key: Mapped[str] = mapped_column(String(160), unique=True)
    kind: Mapped[str] = mapped_column(String(24))  # reminder | rescreen_offer | complaint_answered
    ticket_id: Mapped[int | None] = mapped_column(Integer)
    complaint_id: Mapped[int | None] = mapped_column(Integer)
    screen_id: Mapped[int | None] = mapped_column(Integer)
    channel: Mapped[str | None] = mapped_column(String(16))
    conversation_id: Mapped[int | None] = mapped_column(Integer)
    phone: Mapped[str | None] = mapped_column(String(32))
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    text: Mapped[str] = mapped_column(Text)
    # pending -> handed (a channel message carries it: message_id) | suppressed (opted out) |
    # failed (no way to reach them); `detail` says why it waited or was not sent.
    status: Mapped[str] = mapped_column(String(16), default="pending")
    not_before: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    message_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    handed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CallBack(Base):
    """A citizen an agent should phone: a notice that did not reach them, a handoff nobody
    claimed, a household a clerk flagged. Each attempt's result is kept."""

    __tablename__ = "call_backs"
    __table_args__ = (Index("ix_call_backs_status", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_key: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(24))  # notice_failed | unclaimed_handoff | flagged
    ticket_id: Mapped[int | None] = mapped_column(Integer)
    conversation_id: Mapped[int | None] = mapped_column(Integer)
    phone: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | done
    result: Mapped[str | None] = mapped_column(String(16))  # reached | no_answer | wrong_number
    attempts: Mapped[list] = mapped_column(JSON, default=list)  # [{at, by, result, note}]
    created_by: Mapped[str] = mapped_column(String(ACTOR_CHARS))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
