"""The internal routes (ARCHITECTURE.md §4.2: filing a referral, triage, the eligibility
screen) take `Authorization: Bearer <SERVICES_API_TOKEN>`; with no token set, only callers on
the loopback interface. The citizens' routes stay public."""

import httpx
import pytest

from tests.services.conftest import serve, shutdown

TOKEN = "internal-token-for-tests-0123456789"
SCREEN = {"region": "430200", "area": "urban",
          "household": {"members": [{"age": 67, "can_work": False, "monthly_income": 0}],
                        "monthly_income": 0, "financial_assets": 0, "has_capable_supporter": False}}
REFERRAL = {"program": "dibao", "region": "341503", "channel": "web", "description": "家里困难",
            "citizen": {"name": "王秀英", "phone": "13800001234"}}
INTERNAL = (("/api/referrals", REFERRAL), ("/api/triage", {"text": "低保怎么申请"}),
            ("/api/eligibility/screen", SCREEN))


@pytest.fixture(scope="module")
async def with_token(settings, rasa):
    live, server = await serve(settings, services_api_token=TOKEN, rasa_url=rasa.url)
    yield live
    await shutdown(server)


@pytest.fixture(scope="module")
async def behind_proxy(settings, rasa):
    live, server = await serve(settings, proxies_count=1, rasa_url=rasa.url)
    yield live
    await shutdown(server)


async def test_with_a_token_set_the_internal_routes_need_it(with_token):
    async with httpx.AsyncClient(base_url=with_token.url, timeout=30) as c:
        for path, body in INTERNAL:
            for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": TOKEN}):
                r = await c.post(path, json=body, headers=headers)
                assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized", (path, headers)
            r = await c.post(path, json=body, headers={"Authorization": f"Bearer {TOKEN}"})
            assert r.status_code in (200, 201), (path, r.text)


async def test_without_a_token_only_loopback_callers(behind_proxy):
    async with httpx.AsyncClient(base_url=behind_proxy.url, timeout=30) as c:
        for path, body in INTERNAL:
            outside = await c.post(path, json=body, headers={"X-Forwarded-For": "203.0.113.5"})
            assert outside.status_code == 403 and outside.json()["error"]["code"] == "internal_only"
            local = await c.post(path, json=body, headers={"X-Forwarded-For": "127.0.0.1"})
            assert local.status_code in (200, 201), (path, local.text)


async def test_citizens_routes_stay_public(with_token):
    async with httpx.AsyncClient(base_url=with_token.url, timeout=30) as c:
        assert (await c.get("/api/regions")).status_code == 200
        assert (await c.get("/api/referrals/12349-20260101-0001",
                            params={"phone_last4": "0000"})).status_code == 404
        assert (await c.get("/healthz")).status_code in (200, 503)
