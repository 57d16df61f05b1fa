"""Background worker: SLA sweeps (approaching, breached, escalations), the delivery of outbound
messages (retries, referral notices, bot replies that missed their webhook), the bot's answers
to messages it could not answer while it was down, call-back tickets
for conversations no agent took, complaints past their clock, outreach (reminders, re-screens
when a standard changes, complaint outcomes), retention (hourly), and a heartbeat.

Runs as its own process (`python -m hotline worker`); several can run side by side: SLA events
are recorded once per ticket and clock cycle, and each outbound message is claimed before it is
sent.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from datetime import timedelta
from types import SimpleNamespace

import httpx
from sqlalchemy import delete

from channels import desk, notices, rasa_client
from channels import outreach as channel_outreach
from channels import runtime as channels_runtime
from channels.gateway import release_late_replies
from hotline import retention
from hotline.cache import create_redis
from hotline.db import create_engine, session_factory, upsert_insert, utcnow
from hotline.models import WorkerHeartbeat
from hotline.settings import Settings
from referral import complaints, outreach
from referral.service import sweep_sla
from referral.workdays import calendar
from rules.eligibility import screen

log = logging.getLogger("hotline.worker")


HEARTBEAT_FORGET = timedelta(days=7)  # a worker silent this long is gone (a replaced pod)


def worker_name() -> str:
    """Each worker its own heartbeat: WORKER_NAME, else host and process (a pod's name in
    Kubernetes, the container's id in compose)."""
    return (os.environ.get("WORKER_NAME") or f"{socket.gethostname()}:{os.getpid()}")[:64]


async def _heartbeat(sf, result: str, name: str | None = None) -> None:
    name = name or worker_name()
    async with sf() as s, s.begin():
        insert = upsert_insert(s)
        now = utcnow()
        await s.execute(
            insert(WorkerHeartbeat)
            .values(name=name, beat_at=now, last_result=result[:255])
            .on_conflict_do_update(index_elements=["name"],
                                   set_={"beat_at": now, "last_result": result[:255]})
        )
        await s.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.beat_at < now - HEARTBEAT_FORGET))


def _summary(counts: dict[str, int]) -> str:
    return " ".join(f"{k}={v}" for k, v in counts.items() if v) or "no changes"


async def _screen(request: dict) -> dict:
    return await asyncio.to_thread(screen, request)  # OpenFisca is CPU work: off the loop


async def run_once(sf) -> str:
    """The SLA sweep, complaints past their clock, reminders now due, and the re-screens of the
    regions whose standard changed (each once)."""
    now = utcnow()
    counts = await sweep_sla(sf, now)
    counts["complaints_escalated"] = await complaints.sweep(sf, now)
    counts["reminders_queued"] = await outreach.plan_reminders(sf, now)
    done = await outreach.due_rescreens(
        sf, _screen, lambda row: channel_outreach.screen_opted_out(sf, row), now)
    counts["rescreen_offers"] = sum(r["offered"] for r in done)
    return _summary(counts)


async def deliver_once(ctx) -> dict[str, int]:
    """Notices handed over, replies past their deadline released, due messages sent."""
    counts = {"notices_handed": await notices.relay(ctx.outbound),
              **{f"outreach_{k}": n for k, n in (await channel_outreach.relay(ctx.outbound)).items()},
              "call_backs": await desk.call_back_unclaimed(ctx.sessions, ctx.outbound, ctx.settings),
              # messages the bot could not answer (it was down): answered now, in order, once
              "unanswered_retried": await ctx.gateway.answer_unanswered(utcnow())}
    ctx.outbound.kick(await release_late_replies(ctx.sessions, utcnow()))
    await ctx.outbound.drain()
    for state, n in (await ctx.outbound.deliver_due()).items():
        counts[f"delivery_{state}"] = n
    return counts


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass


async def delivery_loop(ctx, stop: asyncio.Event) -> None:
    """Runs in the worker; with the embedded default (an in-process Redis substitute that the
    worker cannot share) in the app instead."""
    while not stop.is_set():
        try:
            counts = await deliver_once(ctx)
            if any(counts.values()):
                log.info("deliveries: %s", _summary(counts))
        except Exception:  # one failed sweep must not stop the next
            log.exception("delivery sweep failed")
        await _pause(stop, ctx.settings.delivery_interval_s)


async def sla_loop(sf, settings: Settings, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await _heartbeat(sf, await run_once(sf))
        except Exception:
            log.exception("worker sweep failed")
        await _pause(stop, settings.worker_interval_s)


RETENTION_INTERVAL_S = 3600.0


async def retention_loop(sf, settings: Settings, stop: asyncio.Event,
                         interval_s: float = RETENTION_INTERVAL_S) -> None:
    """Purges and redacts what is past its retention period (hotline/retention.py), hourly."""
    while not stop.is_set():
        try:
            await retention.purge(sf, settings.retention, utcnow())
        except Exception:
            log.exception("retention run failed")
        await _pause(stop, interval_s)


async def run_forever(settings: Settings) -> None:
    calendar()  # a bad calendar file stops the worker at start, naming the file
    engine = create_engine(settings.database_url)
    ctx = SimpleNamespace(settings=settings, sessions=session_factory(engine),
                          redis=create_redis(settings.redis_url), http=httpx.AsyncClient(timeout=15),
                          rasa_http=rasa_client.client(settings))
    ctx.gateway, ctx.outbound = channels_runtime.build(ctx)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    jobs = [sla_loop(ctx.sessions, settings, stop), retention_loop(ctx.sessions, settings, stop)]
    if not settings.embedded:
        jobs.append(delivery_loop(ctx, stop))
    log.info("worker started: SLA every %.0f s%s", settings.worker_interval_s,
             "" if settings.embedded else f", deliveries every {settings.delivery_interval_s:.1f} s")
    try:
        await asyncio.gather(*jobs)
    finally:
        try:  # turns the sweep started finish (their answers are then stored and queued)
            await asyncio.wait_for(ctx.gateway.settle(), timeout=settings.rasa_timeout_s + 5)
        except TimeoutError:
            log.warning("stopped with bot turns unfinished: the next sweep answers them")
        await ctx.outbound.drain()
        await ctx.http.aclose()
        await ctx.rasa_http.aclose()
        await ctx.redis.aclose()
        await engine.dispose()
        log.info("worker stopped")
