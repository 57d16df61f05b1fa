"""Shared fixtures: a fresh database per run (real PostgreSQL when DATABASE_URL is set, else a
SQLite file), migrated with Alembic; a test Redis database; the app served in-process on a
free port, reached with a real HTTP client."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from dataclasses import replace
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
from sanic import Sanic

from hotline.app import create_app
from hotline.db import create_engine, session_factory
from hotline.migrate import upgrade
from hotline.settings import Settings

Sanic.test_mode = True  # several apps per process


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _with_path(url: str, path: str) -> str:
    p = urlsplit(url)
    return urlunsplit((p.scheme, p.netloc, path, p.query, p.fragment))


async def _admin(server_url: str):
    url = _with_path(server_url, "/postgres").replace("postgresql+asyncpg", "postgresql")
    return await asyncpg.connect(url)


@contextlib.asynccontextmanager
async def isolated(base: Settings, tmp_path_factory, prefix: str, redis_db: str):
    """Settings of their own: a fresh database (on the real PostgreSQL, else a SQLite file)
    migrated with Alembic, a flushed Redis db number; the database is dropped afterwards."""
    db_name = None
    if base.uses_real_servers:
        db_name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        conn = await _admin(base.database_url)
        try:
            await conn.execute(f'CREATE DATABASE "{db_name}"')
        finally:
            await conn.close()
        database_url = Settings.from_env({"DATABASE_URL": _with_path(base.database_url,
                                                                     f"/{db_name}")}).database_url
    else:
        database_url = Settings.from_env({"DATABASE_URL": "sqlite:///" + str(
            tmp_path_factory.mktemp(prefix) / "test.db")}).database_url
    redis_url = _with_path(base.redis_url, f"/{redis_db}") if base.redis_url else None
    s = replace(base, database_url=database_url, redis_url=redis_url,
                var_dir=tmp_path_factory.mktemp(f"{prefix}_var"))
    await asyncio.to_thread(upgrade, s)
    if s.redis_url:
        from hotline.cache import create_redis

        r = create_redis(s.redis_url)
        await r.flushdb()
        await r.aclose()
    try:
        yield s
    finally:
        if db_name:
            conn = await _admin(base.database_url)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
            finally:
                await conn.close()


@pytest.fixture(scope="session")
async def settings(tmp_path_factory):
    """Settings for this test run: its own database, its own Redis db number."""
    async with isolated(Settings.from_env(), tmp_path_factory, "hotline_test",
                        os.environ.get("REDIS_TEST_DB", "13")) as s:
        yield s


@pytest.fixture(scope="session")
async def sessions(settings):
    engine = create_engine(settings.database_url)
    yield session_factory(engine)
    await engine.dispose()


class LiveApp:
    def __init__(self, app, url: str):
        self.app, self.url = app, url


async def serve(settings: Settings, **overrides) -> tuple[LiveApp, object]:
    port = free_port()
    s = replace(settings, port=port, **overrides)
    app = create_app(s, name=f"hotline_test_{uuid.uuid4().hex[:8]}")
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True,
                                     access_log=False)
    await server.startup()
    await server.before_start()
    await server.after_start()
    return LiveApp(app, f"http://127.0.0.1:{port}"), server


async def shutdown(server) -> None:
    await server.before_stop()
    server.close()
    await server.wait_closed()
    await server.after_stop()


@pytest.fixture(scope="session")
async def live_app(settings):
    """The services app served on a free port (Rasa pointed at a closed port unless a test
    provides one)."""
    live, server = await serve(settings, rasa_url=f"http://127.0.0.1:{free_port()}")
    yield live
    await shutdown(server)


@pytest.fixture
async def api(live_app):
    async with httpx.AsyncClient(base_url=live_app.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
async def rasa():
    """A fake Rasa server on 127.0.0.1 (REST channel and /model/parse) recording requests."""
    from tests.services.fakes import FakeRasa

    fake = await FakeRasa().start()
    yield fake
    await fake.stop()


@pytest.fixture(scope="module")
async def rasa_client(settings, rasa):
    """An HTTP client of an app whose Rasa is the fake one."""
    live, server = await serve(settings, rasa_url=rasa.url)
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
        yield client
    await shutdown(server)


def count_calls(monkeypatch, owner, name: str) -> list[tuple]:
    """Replace the coroutine function `owner.name` by one that records each call's arguments
    and then runs the real one; returns the list of calls."""
    calls: list[tuple] = []
    real = getattr(owner, name)

    async def counting(*args, **kwargs):
        calls.append(args)
        return await real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counting)
    return calls
