"""Background worker: SLA sweeps (approaching, breached, escalations) and a heartbeat.

Runs as its own process (`python -m hotline worker`); several can run side by side since
each job is idempotent (an SLA event is recorded once per ticket and clock cycle).
"""

from __future__ import annotations

import asyncio
import logging
import signal

from hotline.db import create_engine, session_factory, upsert_insert, utcnow
from hotline.models import WorkerHeartbeat
from hotline.settings import Settings
from referral.service import sweep_sla
from referral.workdays import calendar

log = logging.getLogger("hotline.worker")


async def _heartbeat(sf, result: str) -> None:
    async with sf() as s, s.begin():
        insert = upsert_insert(s)
        now = utcnow()
        await s.execute(
            insert(WorkerHeartbeat)
            .values(name="worker", beat_at=now, last_result=result)
            .on_conflict_do_update(index_elements=["name"],
                                   set_={"beat_at": now, "last_result": result})
        )


async def run_once(sf) -> str:
    counts = await sweep_sla(sf, utcnow())
    return " ".join(f"{k}={v}" for k, v in counts.items() if v) or "no changes"


async def run_forever(settings: Settings) -> None:
    calendar()  # a bad calendar file stops the worker at start, naming the file
    engine = create_engine(settings.database_url)
    sf = session_factory(engine)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker started, interval %.0f s", settings.worker_interval_s)
    try:
        while not stop.is_set():
            try:
                result = await run_once(sf)
                await _heartbeat(sf, result)
            except Exception:  # one failed sweep must not stop the next
                log.exception("worker sweep failed")
            try:
                await asyncio.wait_for(stop.wait(), timeout=settings.worker_interval_s)
            except TimeoutError:
                pass
    finally:
        await engine.dispose()
        log.info("worker stopped")
