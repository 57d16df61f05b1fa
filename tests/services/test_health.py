import asyncio

import httpx

from hotline.worker import _heartbeat, run_once
from tests.services.conftest import serve, shutdown
from tests.services.fakes import FakeRasa


async def test_healthz_reports_each_component(settings, sessions):
    fake = await FakeRasa().start()
    live, server = await serve(settings, rasa_url=fake.url)
    try:
        async with httpx.AsyncClient(base_url=live.url) as http:
            await _heartbeat(sessions, await run_once(sessions))
            ok = await http.get("/healthz")
            assert ok.status_code == 200, ok.text
            body = ok.json()
            assert body["status"] == "ok"
            assert body["database"]["ok"] and body["redis"]["ok"] and body["rasa"]["ok"]
            assert body["worker"]["ok"]
            await fake.stop()
            await asyncio.sleep(0)
            down = await http.get("/healthz")
            assert down.status_code == 503
            assert down.json()["status"] == "degraded" and not down.json()["rasa"]["ok"]
    finally:
        await shutdown(server)


async def test_unknown_route_uses_the_json_error_format(api):
    r = await api.get("/no/such/thing")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


async def test_each_worker_reports_on_its_own(settings, sessions):
    """Two workers, one stuck: /healthz names the silent one and stays healthy on the other;
    with both silent it is degraded."""
    from datetime import timedelta

    from sqlalchemy import update

    from hotline.db import utcnow
    from hotline.models import WorkerHeartbeat

    fake = await FakeRasa().start()
    live, server = await serve(settings, rasa_url=fake.url)
    try:
        async with httpx.AsyncClient(base_url=live.url) as http:
            async with sessions() as s, s.begin():
                await s.execute(update(WorkerHeartbeat).values(beat_at=utcnow() - timedelta(hours=1)))
            await _heartbeat(sessions, "ok", name="worker-a")
            await _heartbeat(sessions, "ok", name="worker-b")
            async with sessions() as s, s.begin():
                await s.execute(update(WorkerHeartbeat).where(WorkerHeartbeat.name == "worker-b")
                                .values(beat_at=utcnow() - timedelta(minutes=10)))
            worker = (await http.get("/healthz")).json()["worker"]
            assert worker["ok"] and worker["running"] >= 1 and "worker-b" in worker["silent"]
            assert {"worker-a", "worker-b"} <= set(worker["workers"])
            async with sessions() as s, s.begin():
                await s.execute(update(WorkerHeartbeat).values(beat_at=utcnow() - timedelta(minutes=10)))
            degraded = await http.get("/healthz")
            assert degraded.status_code == 503 and not degraded.json()["worker"]["ok"]
    finally:
        await shutdown(server)
        await fake.stop()


async def test_the_readiness_probe_needs_only_what_storing_a_message_needs(settings):
    """With the bot down /healthz is degraded (503), but the process can still take citizens'
    messages: the readiness probe stays 200."""
    live, server = await serve(settings, rasa_url="http://127.0.0.1:9")  # nobody listens
    try:
        async with httpx.AsyncClient(base_url=live.url) as http:
            assert (await http.get("/healthz")).status_code == 503
            ready = await http.get("/healthz", params={"probe": "ready"})
            assert ready.status_code == 200 and not ready.json()["rasa"]["ok"]
    finally:
        await shutdown(server)
