"""Migrations: models and migrations agree, and upgrading a database that has data works."""

import asyncio
import json
import os
import sys
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import async_sessionmaker

from hotline.db import Base, create_engine
from hotline.migrate import alembic_config
from hotline.models import import_all_models
from hotline.settings import ROOT, Settings
from referral import service
from tests.services.conftest import _admin, _with_path


@pytest.fixture
async def empty_db(settings, tmp_path):
    if not settings.uses_real_servers:
        yield Settings.from_env({"DATABASE_URL": f"sqlite:///{tmp_path / 'm.db'}",
                                 "HOTLINE_VAR_DIR": str(tmp_path)})
        return
    name = f"hotline_mig_{uuid.uuid4().hex[:8]}"
    conn = await _admin(settings.database_url)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    yield Settings.from_env({"DATABASE_URL": _with_path(settings.database_url, f"/{name}"),
                             "HOTLINE_VAR_DIR": str(tmp_path)})
    conn = await _admin(settings.database_url)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


async def _old_ticket(empty_db):
    """A database at 0001 holding one ticket, and its engine."""
    cfg = alembic_config(empty_db)
    await asyncio.to_thread(command.upgrade, cfg, "0001")
    engine = create_engine(empty_db.database_url)
    async with engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO tickets (reference_no, program, department, region, citizen_name, "
            "citizen_phone, description, urgency, status, channel, first_response_due, "
            "resolution_due, created_at, updated_at) VALUES ('12349-20260101-0001', 'dibao', "
            "'civil_affairs', '341503', '王某', '13800001234', '旧数据', 'normal', 'new', 'web', "
            "'2026-01-02 09:00:00+00:00', '2026-01-30 09:00:00+00:00', "
            "'2026-01-01 09:00:00+00:00', '2026-01-01 09:00:00+00:00')"))
    return cfg, engine


async def test_upgrade_keeps_existing_tickets(empty_db):
    cfg, engine = await _old_ticket(empty_db)
    await asyncio.to_thread(command.upgrade, cfg, "head")
    async with engine.connect() as conn:
        row = (await conn.execute(text(
            "SELECT priority, sla_policy, resolution_warn_at IS NOT NULL FROM tickets"))).one()
        import_all_models()
        diff = await conn.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata))
    await engine.dispose()
    assert tuple(row) == (0, "default", True)
    assert diff == [], diff  # the models and the migrations describe the same schema


async def test_a_paused_total_becomes_an_interval_and_back(empty_db):
    """0009: the seconds a ticket waited for the citizen become one pause ending at its last
    change (working time is counted from intervals); downgrading sums them again."""
    cfg, engine = await _old_ticket(empty_db)
    await asyncio.to_thread(command.upgrade, cfg, "0008")
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE tickets SET paused_total_s = 5400"))
    await asyncio.to_thread(command.upgrade, cfg, "0009")
    async with engine.connect() as conn:
        pauses = (await conn.execute(text("SELECT pauses FROM tickets"))).scalar_one()
    pauses = json.loads(pauses) if isinstance(pauses, str) else pauses
    ((begin, end),) = pauses
    assert datetime.fromisoformat(end) == datetime(2026, 1, 1, 9, tzinfo=UTC)
    assert datetime.fromisoformat(end) - datetime.fromisoformat(begin) == timedelta(seconds=5400)
    await asyncio.to_thread(command.downgrade, cfg, "0008")
    async with engine.connect() as conn:
        total = (await conn.execute(text("SELECT paused_total_s FROM tickets"))).scalar_one()
    await engine.dispose()
    assert total == 5400


async def test_migrate_on_a_fresh_clone_creates_the_var_folder(tmp_path):
    """`make run` on a fresh clone: no DATABASE_URL, and var/ (git-ignored) does not exist yet."""
    var_dir = tmp_path / "fresh-clone" / "var"
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "HOTLINE_VAR_DIR")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hotline", "migrate", cwd=ROOT,
        env={**env, "HOTLINE_VAR_DIR": str(var_dir)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode(errors="replace")[-3000:]
    engine = create_engine(f"sqlite+aiosqlite:///{var_dir / 'hotline.db'}")
    async with engine.connect() as conn:
        version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
    await engine.dispose()
    assert version  # migrated to head, in the folder it had to create


async def test_every_existing_ticket_becomes_a_case_of_one_referral(empty_db):
    """0010: a ticket filed before cases becomes a case of its own, under the number the citizen
    was told, with its contact; a done ticket makes a closed case; the service then sees it."""
    cfg, engine = await _old_ticket(empty_db)
    await asyncio.to_thread(command.upgrade, cfg, "0009")
    async with engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO tickets (reference_no, program, department, region, citizen_name, "
            "citizen_phone, description, urgency, status, channel, first_response_due, "
            "resolution_due, first_response_warn_at, resolution_warn_at, priority, "
            "escalation_level, sla_policy, sla_cycle, applied_sla, pauses, unplaced, resolved_at, "
            "result, created_at, updated_at) SELECT '12349-20260102-0001-123', 'medical', "
            "'medical', region, '李某', '13900005678', '旧的', urgency, 'resolved', 'sms', "
            "first_response_due, resolution_due, first_response_warn_at, resolution_warn_at, "
            "priority, escalation_level, sla_policy, sla_cycle, applied_sla, pauses, unplaced, "
            "'2026-01-05 09:00:00+00:00', '已报销', created_at, updated_at FROM tickets"))
    await asyncio.to_thread(command.upgrade, cfg, "0010")
    async with engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT t.reference_no, c.reference_no, c.status, c.citizen_phone, c.channel "
            "FROM tickets t JOIN cases c ON c.id = t.case_id ORDER BY t.id"))).all()
    assert [tuple(r) for r in rows] == [
        ("12349-20260101-0001", "12349-20260101-0001", "open", "13800001234", "web"),
        ("12349-20260102-0001-123", "12349-20260102-0001-123", "closed", "13900005678", "sms")]
    await asyncio.to_thread(command.upgrade, cfg, "head")  # the service's tables as they are now
    sf = async_sessionmaker(engine, expire_on_commit=False)
    view = await service.get_for_citizen(sf, "12349-20260102-0001-123", "5678")
    assert view["case"]["status"] == "closed" and len(view["case"]["referrals"]) == 1
    await asyncio.to_thread(command.downgrade, cfg, "0009")
    async with engine.connect() as conn:
        n = (await conn.execute(text("SELECT count(*) FROM tickets"))).scalar_one()
    await engine.dispose()
    assert n == 2  # the tickets stay


async def test_first_help_complaints_and_outreach_downgrade_and_upgrade_again(empty_db):
    """0011 (先行救助) and 0012 (complaints, outreach, call-backs, kept screens) go down to 0010
    leaving the tickets, and up again to the schema the models describe."""
    cfg, engine = await _old_ticket(empty_db)
    await asyncio.to_thread(command.upgrade, cfg, "head")
    await asyncio.to_thread(command.downgrade, cfg, "0010")
    async with engine.connect() as conn:
        tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        n = (await conn.execute(text("SELECT count(*) FROM tickets"))).scalar_one()
    assert n == 1 and not tables & {"complaints", "outreach", "call_backs", "screens", "rescreens"}
    await asyncio.to_thread(command.upgrade, cfg, "head")
    async with engine.connect() as conn:
        import_all_models()
        diff = await conn.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata))
    await engine.dispose()
    assert diff == [], diff
