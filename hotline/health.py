"""GET /healthz (database, Redis, Rasa, worker; the details to operators only) and
GET /api/openapi.json."""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from pathlib import Path

import yaml
from sanic import Blueprint, Request, json
from sqlalchemy import select, text

from hotline.auth import public
from hotline.callers import internal_caller
from hotline.db import utcnow
from hotline.models import WorkerHeartbeat
from referral.workdays import CHINA, calendar

bp = Blueprint("health")


async def _check(coro) -> dict:
    try:
        detail = await coro
        return {"ok": True, **(detail or {})}
    except Exception as exc:  # a health check reports every failure, whatever it is
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}


async def _database(app) -> dict:
    async with app.ctx.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    return {"backend": app.ctx.engine.dialect.name}


async def _redis(app) -> dict:
    await app.ctx.redis.ping()
    return {"backend": "redis" if app.ctx.settings.redis_url else "fakeredis"}


async def _rasa(app) -> dict:
    resp = await app.ctx.http.get(f"{app.ctx.settings.rasa_url}/version", timeout=3)
    resp.raise_for_status()
    return {"version": resp.json().get("version")}


async def _worker(app) -> dict:
    """Every worker's own heartbeat: healthy while at least one beats in time; the silent ones
    are named (a stuck replica shows here though another carries the work)."""
    async with app.ctx.sessions() as s:
        beats = list(await s.scalars(select(WorkerHeartbeat).order_by(WorkerHeartbeat.name)))
    limit = timedelta(seconds=max(3 * app.ctx.settings.worker_interval_s, 30))
    now = utcnow()
    ages = {b.name: round((now - b.beat_at).total_seconds(), 1) for b in beats}
    fresh = [name for name, age in ages.items() if age <= limit.total_seconds()]
    if not fresh:
        raise RuntimeError("no worker has reported in time" if ages else "no worker has reported yet")
    return {"workers": ages, "running": len(fresh),
            "silent": sorted(set(ages) - set(fresh))}


def _calendar() -> dict:
    """Reported, not judged: a calendar running out makes deadlines doubtful, not the hotline
    unable to answer, so it never turns /healthz to 503."""
    return calendar().coverage(utcnow().astimezone(CHINA).date())


@cache
def _openapi() -> dict:
    return yaml.safe_load(Path(__file__).with_name("openapi.yml").read_text(encoding="utf-8"))


@bp.get("/api/openapi.json")
@public(limit="read")
async def openapi(request: Request):
    return json(_openapi())


@bp.get("/healthz")
@public(limit="read")
async def healthz(request: Request):
    app = request.app
    checks = {name: await _check(fn(app)) for name, fn in
              (("database", _database), ("redis", _redis), ("rasa", _rasa), ("worker", _worker))}
    # ?probe=ready (a load balancer's or Kubernetes' readiness probe): can this process take
    # citizens' messages? It can while the database and Redis answer: with the bot or the
    # worker down a message is still stored and answered later, so taking the process out of
    # the rotation would only turn citizens away.
    needed = ("database", "redis") if request.args.get("probe") == "ready" else tuple(checks)
    ok = all(checks[name]["ok"] for name in needed)
    status = {"status": "ok" if ok else "degraded"}
    # What fails, versions and backends help an attacker: only operators (the service token,
    # or loopback with none set) see them; probes need only the status code.
    if internal_caller(request):
        status |= {**checks, "calendar": _calendar()}
    return json(status, status=200 if ok else 503)
