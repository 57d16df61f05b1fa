"""Bot-runtime fixtures: a fake services API on 127.0.0.1 that records what the actions send."""

import sys
from pathlib import Path

import pytest
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the `actions` package


class FakeServices:
    def __init__(self):
        self.referrals = []
        self.keys = {}
        self.status = 201
        self.url = ""

    async def create_referral(self, request):
        body = await request.json()
        self.referrals.append({"body": body, "headers": dict(request.headers)})
        if self.status >= 400:
            return web.json_response({"error": {"code": "x", "message": "down"}}, status=self.status)
        key = request.headers.get("Idempotency-Key")
        if key in self.keys:
            return web.json_response(self.keys[key], status=200)
        ticket = {"reference_no": f"12349-20261122-{len(self.keys) + 1:04d}",
                  "department": "civil_affairs", "department_name": "民政", "status": "new",
                  "sla": {"first_response_due": "2026-11-23T10:00+08:00",
                          "resolution_due": "2026-12-21T10:00+08:00"}}
        self.keys[key] = ticket
        return web.json_response(ticket, status=201)


@pytest.fixture
async def services(monkeypatch):
    fake = FakeServices()
    app = web.Application()
    app.router.add_post("/api/referrals", fake.create_referral)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    monkeypatch.setenv("SERVICES_URL", fake.url)
    yield fake
    await runner.cleanup()
