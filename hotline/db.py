"""Async SQLAlchemy engine, session factory and the declarative base shared by all packages.

Each package declares its own tables on this metadata; Alembic migrates them all.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import DateTime, MetaData, TypeDecorator, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


# Who did something, as "role:username" (referral.access.Viewer.actor): the longest role, a colon
# and a username of up to 64 characters, with room to spare.
ACTOR_CHARS = 128


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on PostgreSQL and SQLite alike (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def utcnow() -> datetime:
    return datetime.now(UTC)


def create_engine(database_url: str) -> AsyncEngine:
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(database_url, connect_args={"timeout": 30}, hide_parameters=True)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # WAL lets the worker and app share the file
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    # hide_parameters: an error's message never carries the bound values (names, phones, text).
    return create_async_engine(database_url, pool_size=10, max_overflow=20, pool_pre_ping=True,
                               hide_parameters=True)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def for_update(session: AsyncSession, stmt, skip_locked: bool = False):
    """`stmt` locking the rows it reads on PostgreSQL (SQLite, embedded, locks the whole file
    for the writing transaction anyway)."""
    if session.bind.dialect.name == "postgresql":
        return stmt.with_for_update(skip_locked=skip_locked)
    return stmt


def upsert_insert(session: AsyncSession):
    """The dialect's INSERT (with ON CONFLICT support): PostgreSQL in production, SQLite embedded."""
    return postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert
