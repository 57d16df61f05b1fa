"""Referral at scale: 1,000,000 tickets in PostgreSQL. Measures a department's queue page query
(the rows and the count, as the console runs them) and one SLA sweep over all open tickets,
with a `SELECT 1` round trip as the baseline measured in the same run.

Needs DATABASE_URL pointing at a PostgreSQL server; it creates and drops its own database.
`BENCH_TICKETS` overrides the size (default 1,000,000).
"""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from bench.results import percentiles, write
from hotline.db import create_engine, session_factory
from hotline.migrate import upgrade
from hotline.settings import Settings
from referral import service
from referral.access import Viewer
from referral.domain import PROGRAMS, department_for

OPEN = ["new", "accepted", "in_progress", "waiting_citizen", "transferred", "reopened"]


def rows(n: int, now: datetime):
    rnd = random.Random(12349)
    for i in range(n):
        program = rnd.choice(PROGRAMS)
        created = now - timedelta(days=rnd.uniform(0, 365))
        is_open = rnd.random() < 0.08
        status = rnd.choice(OPEN) if is_open else rnd.choice(["resolved", "closed", "closed"])
        if is_open:
            created = now - timedelta(days=rnd.uniform(0, 40))
        resolution_due = created + timedelta(days=28)
        first_due = created + timedelta(hours=20)
        yield (f"12349-B{i:08d}", program, department_for(program), "341503",
               f"街道{i % 40}", "王某", f"138{i % 100000000:08d}", "测试数据", "normal",
               int(rnd.random() < 0.05), 0, status, "web", "default", 0, "{}",
               first_due, resolution_due, first_due - timedelta(hours=4),
               resolution_due - timedelta(days=5),
               None if status == "new" else created + timedelta(hours=2),
               None, created, created)


COLUMNS = ["reference_no", "program", "department", "region", "handling_unit", "citizen_name",
           "citizen_phone", "description", "urgency", "priority", "escalation_level", "status",
           "channel", "sla_policy", "sla_cycle", "applied_sla", "first_response_due",
           "resolution_due", "first_response_warn_at", "resolution_warn_at",
           "first_responded_at", "paused_at", "created_at", "updated_at"]


async def main() -> None:
    base = Settings.from_env()
    if not base.uses_real_servers:
        print("bench_referral: not run — it measures PostgreSQL; set DATABASE_URL=postgresql://...")
        return
    n = int(os.environ.get("BENCH_TICKETS", "1000000"))
    admin_url = base.database_url.replace("+asyncpg", "").rsplit("/", 1)[0] + "/postgres"
    name = f"hotline_bench_{uuid.uuid4().hex[:6]}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    db_url = base.database_url.rsplit("/", 1)[0] + f"/{name}"
    settings = Settings.from_env({"DATABASE_URL": db_url.replace("+asyncpg", "")})
    try:
        await asyncio.to_thread(upgrade, settings)
        raw = await asyncpg.connect(db_url.replace("+asyncpg", ""))
        now = datetime.now(UTC)
        t0 = time.perf_counter()
        await raw.copy_records_to_table("tickets", records=rows(n, now), columns=COLUMNS)
        await raw.execute("VACUUM ANALYZE tickets")  # what autovacuum does after a bulk load
        load_s = time.perf_counter() - t0
        open_count = await raw.fetchval(
            "SELECT count(*) FROM tickets WHERE status = ANY($1::text[])", OPEN)
        plan = await raw.fetch(
            "EXPLAIN SELECT * FROM tickets WHERE department = 'civil_affairs' AND status IN "
            "('new','accepted','in_progress','waiting_citizen','transferred','reopened') "
            "ORDER BY priority DESC, resolution_due, id LIMIT 50")
        baseline = []
        for _ in range(200):
            t = time.perf_counter()
            await raw.fetchval("SELECT 1")
            baseline.append((time.perf_counter() - t) * 1000)
        await raw.close()

        engine = create_engine(settings.database_url)
        sf = session_factory(engine)
        clerk = Viewer("bench", "staff", "civil_affairs")
        queue = []
        for i in range(200):
            t = time.perf_counter()
            await service.list_tickets(sf, clerk, limit=50, offset=(i % 4) * 50)
            queue.append((time.perf_counter() - t) * 1000)
        sweeps = []
        # The first sweep records the whole loaded backlog (every breach at once); then, as
        # autovacuum would after such a burst, VACUUM ANALYZE; then the steady state, which is
        # what a sweep every WORKER_INTERVAL_S costs.
        for i in range(4):
            if i == 1:
                raw = await asyncpg.connect(db_url.replace("+asyncpg", ""))
                await raw.execute("VACUUM ANALYZE tickets")
                await raw.close()
            t = time.perf_counter()
            counts = await service.sweep_sla(sf, datetime.now(UTC))
            sweeps.append({"kind": "backlog" if i == 0 else "steady",
                           "seconds": round(time.perf_counter() - t, 3), **counts})
        await engine.dispose()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    q, b = percentiles(queue), percentiles(baseline)
    write("referral", {
        "tickets": n, "open_tickets": open_count, "load_seconds": round(load_s, 1),
        "queue_page_query": q, "baseline_select_1": b,
        "queue_p95_to_baseline_p95": round(q["p95_ms"] / b["p95_ms"], 1),
        "sla_sweeps": sweeps,
        "queue_plan": [r[0] for r in plan],
        "targets": {"queue_p95_ms": 50, "sweep_s": 5},
    })


if __name__ == "__main__":
    asyncio.run(main())
