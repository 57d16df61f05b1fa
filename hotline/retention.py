"""Retention (PIPL minimisation): what the platform keeps, for how long, and the worker's job
that purges or redacts the rest. README.md "What is kept, for how long" is the operators' copy.

- Transcripts: a conversation quiet for RETENTION_TRANSCRIPT_DAYS (and not waiting for or
  held by an agent) is deleted with its messages and agents' notes; so are the bot's tracker
  events of that age (Rasa's SQL tracker store, table `events`, when it shares the database).
  A citizen who writes again starts a new conversation.
- Tickets: RETENTION_TICKET_DAYS after a ticket was closed, the citizen's name and phone are
  masked and the description (the citizen's own words, which may hold ID numbers) is removed;
  the record of the work (program, department, dates, result, events) stays. The notices sent
  for it are masked the same way.
- Idempotency keys: RETENTION_IDEMPOTENCY_DAYS (a retry comes within minutes, not weeks).
- Audit log: RETENTION_AUDIT_DAYS.

Each run handles at most `batch` rows of a kind, so one run never holds a long transaction;
the next run goes on. Several workers may run it at once: every step is idempotent.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, inspect, or_, select, text, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from channels.models import Conversation, ConversationNote, Message
from hotline.privacy import mask_name, mask_phone, mask_text
from hotline.settings import Retention
from referral.models import (
    OPEN_STATUSES,
    AuditEntry,
    CallBack,
    IdempotencyRecord,
    OutboxMessage,
    Outreach,
    Screen,
    Ticket,
)

log = logging.getLogger("hotline.retention")
KEPT_STATUSES = ("pending", "open")  # a person is about to answer or answering: never purged
# A kept eligibility screen is re-run for a year (referral/outreach.py), then it is of no use.
SCREEN_DAYS = 366


async def purge(sf: async_sessionmaker, retention: Retention, now: datetime) -> dict[str, int]:
    counts = {"conversations_purged": await _conversations(sf, retention, now),
              "tracker_events_purged": await _tracker_events(sf, retention, now),
              "tickets_redacted": await _tickets(sf, retention, now)}
    async with sf() as s, s.begin():
        for name, model, days in (("idempotency_keys_purged", IdempotencyRecord,
                                   retention.idempotency_days),
                                  ("audit_rows_purged", AuditEntry, retention.audit_days),
                                  ("screens_purged", Screen, SCREEN_DAYS),
                                  ("outreach_purged", Outreach, retention.audit_days),
                                  ("call_backs_purged", CallBack, retention.audit_days)):
            old = select(model.__table__.primary_key.columns[0]).where(
                model.created_at < now - timedelta(days=days)).limit(retention.batch)
            result = await s.execute(delete(model).where(
                model.__table__.primary_key.columns[0].in_(old)))
            counts[name] = result.rowcount or 0
    if any(counts.values()):
        log.info("retention: %s", " ".join(f"{k}={v}" for k, v in counts.items() if v))
    return counts


async def _conversations(sf, retention: Retention, now: datetime) -> int:
    cutoff = now - timedelta(days=retention.transcript_days)
    async with sf() as s, s.begin():
        ids = list(await s.scalars(
            select(Conversation.id).where(Conversation.last_activity_at < cutoff,
                                          Conversation.status.not_in(KEPT_STATUSES))
            .order_by(Conversation.id).limit(retention.batch).with_for_update(skip_locked=True)))
        if not ids:
            return 0
        await s.execute(update(Message).where(Message.conversation_id.in_(ids))
                        .values(reply_to_id=None))
        await s.execute(delete(Message).where(Message.conversation_id.in_(ids)))
        await s.execute(delete(ConversationNote).where(ConversationNote.conversation_id.in_(ids)))
        await s.execute(delete(Conversation).where(Conversation.id.in_(ids)))
    return len(ids)


async def _tracker_events(sf, retention: Retention, now: datetime) -> int:
    """Rasa's SQL tracker store keeps every turn in `events` (timestamp: Unix seconds)."""
    cutoff = (now - timedelta(days=retention.transcript_days)).timestamp()
    async with sf() as s, s.begin():
        conn = await s.connection()
        if not await conn.run_sync(lambda c: inspect(c).has_table("events")):
            return 0
        result = await s.execute(text(
            "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE timestamp < :cutoff "
            "LIMIT :batch)"), {"cutoff": cutoff, "batch": retention.batch})
        return result.rowcount or 0


async def _tickets(sf, retention: Retention, now: datetime) -> int:
    cutoff = now - timedelta(days=retention.ticket_days)
    async with sf() as s, s.begin():
        tickets = list(await s.scalars(
            select(Ticket).where(Ticket.status.not_in(OPEN_STATUSES), Ticket.redacted_at.is_(None),
                                 or_(Ticket.resolved_at < cutoff,
                                     (Ticket.resolved_at.is_(None)) & (Ticket.updated_at < cutoff)))
            .order_by(Ticket.id).limit(retention.batch).with_for_update(skip_locked=True)))
        for t in tickets:
            for row in (t, t.case):  # the case holds the household's contact too
                row.citizen_name = mask_name(row.citizen_name)
                row.citizen_phone = mask_phone(row.citizen_phone)
                row.conversation_id = mask_text(row.conversation_id) if row.conversation_id else None
            t.description, t.redacted_at = "", now
        if tickets:
            ids = [t.id for t in tickets]
            for o in await s.scalars(select(OutboxMessage).where(OutboxMessage.ticket_id.in_(ids))):
                o.phone, o.text, o.params = mask_phone(o.phone), "", {}
                o.conversation_id = mask_text(o.conversation_id) if o.conversation_id else None
    return len(tickets)
