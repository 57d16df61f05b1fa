"""Migrations: models and migrations agree, and upgrading a database that has data works."""

import asyncio
import uuid

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from hotline.db import Base, create_engine
from hotline.migrate import alembic_config
from hotline.models import import_all_models
from hotline.settings import Settings
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


async def test_upgrade_keeps_existing_tickets(empty_db):
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
