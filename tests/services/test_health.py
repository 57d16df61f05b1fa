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
