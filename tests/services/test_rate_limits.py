"""Public routes are limited per client in Redis (hotline/auth.py `public(limit=…)`): a burst
from one client gets exactly the limit through, another client and the platform's own callers
are not held up; /healthz shows its details to operators only."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.services.conftest import serve, shutdown

TOKEN = "limits-service-token-0123456789"
CHAT, READ = 3, 5


def client_at(ip: str) -> dict:
    return {"X-Forwarded-For": ip}


@pytest.fixture(scope="module")
async def limited(settings, rasa):
    live, server = await serve(settings, services_api_token=TOKEN, proxies_count=1,
                               rasa_url=rasa.url, rate_limit_chat_per_min=CHAT,
                               rate_limit_read_per_min=READ)
    redis = live.app.ctx.redis
    for key in await redis.keys("ratelimit:*"):
        await redis.delete(key)
    yield live
    await shutdown(server)


async def _burst(c: httpx.AsyncClient, n: int, method: str, path: str, headers: dict, **kw):
    return await asyncio.gather(*(c.request(method, path, headers=headers, **kw)
                                  for _ in range(n)))


async def test_a_chat_burst_gets_exactly_the_limit_through(limited):
    async with httpx.AsyncClient(base_url=limited.url, timeout=30) as c:
        burst = await _burst(c, 20, "POST", "/channels/web/messages", client_at("198.51.100.7"),
                             json={"sender": "limits-a", "text": "低保怎么申请"})
        refused = [r for r in burst if r.status_code == 429]
        assert len(burst) - len(refused) == CHAT
        assert refused[0].json()["error"]["code"] == "rate_limited"
        assert 1 <= int(refused[0].headers["Retry-After"]) <= 60
        other = await c.post("/channels/web/messages", headers=client_at("198.51.100.8"),
                             json={"sender": "limits-b", "text": "低保怎么申请"})
        assert other.status_code != 429
        platform = await c.post("/channels/web/messages",
                                headers={**client_at("198.51.100.7"),
                                         "Authorization": f"Bearer {TOKEN}"},
                                json={"sender": "limits-c", "text": "低保怎么申请"})
        assert platform.status_code != 429


async def test_reads_are_limited_per_client(limited):
    async with httpx.AsyncClient(base_url=limited.url, timeout=30) as c:
        burst = await _burst(c, READ + 4, "GET", "/api/regions", client_at("198.51.100.20"))
        assert [r.status_code for r in burst].count(200) == READ
        assert [r.status_code for r in burst].count(429) == 4
        assert (await c.get("/api/regions", headers=client_at("198.51.100.21"))).status_code == 200


async def test_health_details_only_to_operators(limited):
    async with httpx.AsyncClient(base_url=limited.url, timeout=30) as c:
        public = await c.get("/healthz", headers=client_at("198.51.100.30"))
        assert set(public.json()) == {"status"}
        operator = await c.get("/healthz", headers={**client_at("198.51.100.30"),
                                                    "Authorization": f"Bearer {TOKEN}"})
        assert {"database", "redis", "rasa", "worker", "calendar"} <= set(operator.json())
        assert operator.status_code == public.status_code
