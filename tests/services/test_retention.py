"""Retention (hotline/retention.py) on the real database: what is past its period is purged or
redacted, what is not (or is still being worked on) is left whole, and a second run changes
nothing."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text, update

from channels.models import Conversation, ConversationNote, Message
from hotline import retention
from hotline.db import utcnow
from hotline.settings import Retention
from referral import service
from referral.models import AuditEntry, IdempotencyRecord, OutboxMessage, Ticket

POLICY = Retention(transcript_days=180, ticket_days=1095, idempotency_days=7, audit_days=1095)


async def _conversation(sf, status: str, quiet_days: int) -> int:
    at = utcnow() - timedelta(days=quiet_days)
    async with sf() as s, s.begin():
        conv = Conversation(channel="sms", contact_id=f"+86138{uuid.uuid4().int % 10**8:08d}",
                            status=status, created_at=at, last_activity_at=at,
                            handoff_summary="电话 13800001234")
        s.add(conv)
        await s.flush()
        asked = Message(conversation_id=conv.id, direction="in", author="citizen", channel="sms",
                        state="answered", text="我身份证341503195001011234", created_at=at)
        s.add(asked)
        await s.flush()
        s.add(Message(conversation_id=conv.id, direction="out", author="bot", channel="sms",
                      state="sent", text="您好", reply_to_id=asked.id, created_at=at))
        s.add(ConversationNote(conversation_id=conv.id, author="agent:a", text="已回电", created_at=at))
        return conv.id


async def _ticket(sf, status: str, closed_days: int) -> int:
    body, _ = await service.create_referral(sf, service.NewReferral(
        program="dibao", region="341503", citizen_name="王秀英", citizen_phone="13800001234",
        description="老伴瘫痪，身份证341503195001011234", channel="sms",
        conversation_id="sms:+8613800001234"), str(uuid.uuid4()), actor="api:test")
    at = utcnow() - timedelta(days=closed_days)
    async with sf() as s, s.begin():
        t = await s.scalar(select(Ticket).where(Ticket.reference_no == body["reference_no"]))
        t.status, t.resolved_at, t.updated_at = status, at, at
        s.add(OutboxMessage(dedupe_key=f"test:{uuid.uuid4().hex}", ticket_id=t.id, kind="resolved",
                            params={"name": "王秀英"}, channel="sms", phone="13800001234",
                            text="王秀英您好", status="sent", created_at=at))
        await s.execute(update(IdempotencyRecord).where(IdempotencyRecord.ticket_id == t.id)
                        .values(created_at=at))
        s.add(AuditEntry(actor="staff:x", action="view", ticket_id=t.id, detail={}, created_at=at))
        return t.id


async def _exists(sf, model, ident) -> bool:
    async with sf() as s:
        return await s.get(model, ident) is not None


@pytest.fixture
async def rasa_events(sessions):
    """Rasa's SQL tracker store table, as the real-server setup shares the database."""
    async with sessions() as s, s.begin():
        await s.execute(text("CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, "
                             "sender_id VARCHAR(255), type_name VARCHAR(255), timestamp FLOAT)"))
        await s.execute(text("DELETE FROM events"))
        now = utcnow().timestamp()
        for i, age_days in enumerate((400, 200, 10)):
            await s.execute(text("INSERT INTO events VALUES (:id, 'sms:+8613800001234', 'user', :ts)"),
                            {"id": i + 1, "ts": now - age_days * 86400})
    yield
    async with sessions() as s, s.begin():
        await s.execute(text("DROP TABLE events"))


async def test_what_is_past_its_period_goes_and_the_rest_stays(sessions, rasa_events):
    old_done = await _conversation(sessions, "resolved", 200)
    old_waiting = await _conversation(sessions, "pending", 200)  # an agent is about to answer
    recent = await _conversation(sessions, "bot", 10)
    old_closed = await _ticket(sessions, "closed", 1200)
    old_open = await _ticket(sessions, "in_progress", 1200)
    recent_closed = await _ticket(sessions, "resolved", 100)

    counts = await retention.purge(sessions, POLICY, utcnow())

    assert not await _exists(sessions, Conversation, old_done)
    for kept in (old_waiting, recent):
        assert await _exists(sessions, Conversation, kept)
    async with sessions() as s:
        left = await s.scalar(select(func.count()).select_from(Message)
                              .where(Message.conversation_id == old_done))
        notes = await s.scalar(select(func.count()).select_from(ConversationNote)
                               .where(ConversationNote.conversation_id == old_done))
        assert left == 0 and notes == 0
        redacted = await s.get(Ticket, old_closed)
        assert (redacted.citizen_name, redacted.citizen_phone, redacted.description) == (
            "王**", "138****1234", "")
        assert redacted.redacted_at is not None and "13800001234" not in redacted.conversation_id
        assert redacted.program == "dibao" and redacted.status == "closed"  # the work's record
        notice = await s.scalar(select(OutboxMessage).where(OutboxMessage.ticket_id == old_closed))
        assert notice.phone == "138****1234" and notice.text == "" and notice.params == {}
        for kept in (old_open, recent_closed):
            t = await s.get(Ticket, kept)
            assert t.citizen_phone == "13800001234" and "瘫痪" in t.description, kept
        keys = {k.ticket_id for k in await s.scalars(select(IdempotencyRecord).where(
            IdempotencyRecord.ticket_id.in_([old_closed, old_open, recent_closed])))}
        assert keys == set()  # all three keys are older than 7 days
        audited = {a.ticket_id for a in await s.scalars(select(AuditEntry).where(
            AuditEntry.ticket_id.in_([old_closed, old_open, recent_closed])))}
        assert old_closed not in audited and old_open not in audited and recent_closed in audited
        ages = sorted(round((utcnow().timestamp() - ts) / 86400) for ts in
                      await s.scalars(text("SELECT timestamp FROM events")))
        assert ages == [10]
    assert counts["conversations_purged"] >= 1 and counts["tickets_redacted"] >= 1
    assert counts["tracker_events_purged"] == 2

    again = await retention.purge(sessions, POLICY, utcnow())
    assert not any(again.values()), again


async def test_a_run_handles_at_most_one_batch(sessions):
    ids = [await _conversation(sessions, "bot", 400) for _ in range(3)]
    small = replace(POLICY, batch=2)
    first = await retention.purge(sessions, small, utcnow())
    assert first["conversations_purged"] == 2
    await retention.purge(sessions, small, utcnow())
    assert [await _exists(sessions, Conversation, i) for i in ids] == [False, False, False]


def test_retention_settings_are_read_and_checked():
    assert Retention.from_env({"RETENTION_TRANSCRIPT_DAYS": "30"}).transcript_days == 30
    with pytest.raises(ValueError, match="RETENTION_AUDIT_DAYS"):
        Retention.from_env({"RETENTION_AUDIT_DAYS": "0"})


async def test_a_screen_is_kept_for_the_year_it_can_be_re_run_and_no_longer(sessions):
    from datetime import date

    from referral.models import Screen

    ids = []
    async with sessions() as s, s.begin():
        for age in (400, 300):
            row = Screen(region="430200", request={"region": "430200"},
                         statuses={"dibao": "not_eligible"}, as_of=date(2025, 1, 1),
                         phone="13800001234", created_at=utcnow() - timedelta(days=age))
            s.add(row)
            await s.flush()
            ids.append(row.id)
    counts = await retention.purge(sessions, POLICY, utcnow())
    assert counts["screens_purged"] >= 1
    assert not await _exists(sessions, Screen, ids[0]) and await _exists(sessions, Screen, ids[1])
