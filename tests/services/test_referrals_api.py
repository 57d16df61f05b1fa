"""POST/GET /api/referrals against the real database (PostgreSQL in CI)."""

import asyncio
import re
import uuid

import pytest
from sqlalchemy import func, select

from referral.models import Ticket
from tests.services.conftest import count_calls


def referral(**over):
    body = {"program": "dibao", "region": "341503",
            "citizen": {"name": "王秀英", "phone": "13800001234"},
            "description": "老伴瘫痪在床，没有收入", "channel": "web"}
    body.update(over)
    return body


async def test_create_returns_reference_and_sla(api):
    r = await api.post("/api/referrals", json=referral())
    assert r.status_code == 201, r.text
    body = r.json()
    assert re.fullmatch(r"12349-\d{8}-\d{4}-\d{3}", body["reference_no"])
    assert body["department"] == "civil_affairs" and body["status"] == "new"
    assert body["sla"]["first_response_due"] < body["sla"]["resolution_due"]


async def test_concurrent_duplicates_create_one_ticket(api, sessions):
    key = f"dup-{uuid.uuid4()}"
    body = referral(description=f"并发重复 {key}")
    results = await asyncio.gather(*[
        api.post("/api/referrals", json=body, headers={"Idempotency-Key": key}) for _ in range(8)
    ])
    assert sorted(r.status_code for r in results).count(201) == 1
    assert {r.json()["reference_no"] for r in results} == {results[0].json()["reference_no"]}
    async with sessions() as s:
        n = await s.scalar(select(func.count()).select_from(Ticket)
                           .where(Ticket.description == body["description"]))
    assert n == 1


async def test_same_key_different_body_is_a_conflict(api):
    key = f"k-{uuid.uuid4()}"
    assert (await api.post("/api/referrals", json=referral(),
                           headers={"Idempotency-Key": key})).status_code == 201
    r = await api.post("/api/referrals", json=referral(description="另一件事"),
                       headers={"Idempotency-Key": key})
    assert r.status_code == 409 and r.json()["error"]["code"] == "idempotency_conflict"


@pytest.fixture(autouse=True)
async def _fresh_lookup_counts(live_app):
    """Every test here asks from 127.0.0.1: start each with no tries counted."""
    redis = live_app.app.ctx.redis
    for key in await redis.keys("referral:lookup:*"):
        await redis.delete(key)


async def test_citizen_lookup_needs_last_four_digits(api):
    ref = (await api.post("/api/referrals", json=referral())).json()["reference_no"]
    ok = await api.get(f"/api/referrals/{ref}", params={"phone_last4": "1234"})
    assert ok.status_code == 200 and ok.json()["status"] == "new"
    assert "citizen" not in ok.text and "13800001234" not in ok.text
    wrong = await api.get(f"/api/referrals/{ref}", params={"phone_last4": "9999"})
    unknown = await api.get("/api/referrals/12349-20000101-0001", params={"phone_last4": "1234"})
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.json() == unknown.json()


async def test_repeated_wrong_digits_are_rate_limited(api):
    ref = (await api.post("/api/referrals", json=referral())).json()["reference_no"]
    codes = [(await api.get(f"/api/referrals/{ref}", params={"phone_last4": f"{i:04d}"})).status_code
             for i in range(7)]
    assert codes[:5] == [404] * 5 and codes[5:] == [429, 429]
    # even the right digits are refused to this client until the window passes ...
    right = await api.get(f"/api/referrals/{ref}", params={"phone_last4": "1234"})
    assert right.status_code == 429
    # ... but not to the citizen, asking through the bot (another conversation)
    other = await api.get(f"/api/referrals/{ref}", params={"phone_last4": "1234"},
                          headers={"X-Hotline-Citizen": "web:the-citizen"})
    assert other.status_code == 200


async def test_a_burst_of_wrong_guesses_gets_at_most_the_limit_looked_up(api, monkeypatch):
    from referral import service
    from referral.api import LOOKUP_TRIES_PER_CLIENT_AND_REFERENCE

    ref = (await api.post("/api/referrals", json=referral())).json()["reference_no"]
    looked_up = count_calls(monkeypatch, service, "get_for_citizen")
    answers = await asyncio.gather(*[
        api.get(f"/api/referrals/{ref}", params={"phone_last4": f"{i:04d}"},
                headers={"X-Hotline-Citizen": "web:burst"}) for i in range(2000, 2050)])
    codes = [a.status_code for a in answers]
    assert len(looked_up) == codes.count(404) == LOOKUP_TRIES_PER_CLIENT_AND_REFERENCE
    assert codes.count(429) == 50 - LOOKUP_TRIES_PER_CLIENT_AND_REFERENCE


async def test_one_client_cannot_walk_many_tickets(api):
    from referral.api import LOOKUP_TRIES_PER_CLIENT

    who = {"X-Hotline-Citizen": f"web:walker-{uuid.uuid4().hex[:6]}"}
    codes = [(await api.get(f"/api/referrals/12349-20261201-{n:04d}", params={"phone_last4": "1234"},
                            headers=who)).status_code for n in range(LOOKUP_TRIES_PER_CLIENT + 2)]
    assert codes[:LOOKUP_TRIES_PER_CLIENT] == [404] * LOOKUP_TRIES_PER_CLIENT
    assert codes[-2:] == [429, 429]


async def test_invalid_input_names_the_field(api):
    cases = [
        (referral(program="lottery"), "program"),
        (referral(region="999999"), "region"),
        (referral(citizen={"name": "王"}), "citizen.phone"),
        (referral(citizen={"name": "王", "phone": "abc"}), "citizen.phone"),
        (referral(description=""), "description"),
        (referral(urgency="yesterday"), "urgency"),
    ]
    for body, field in cases:
        r = await api.post("/api/referrals", json=body)
        assert r.status_code == 422, (field, r.text)
        assert r.json()["error"]["field"] == field


async def test_malformed_bodies_get_clear_errors(api):
    r = await api.post("/api/referrals", content=b"{not json",
                       headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    r = await api.post("/api/referrals", content=b"[1,2]")
    assert r.status_code == 400
    r = await api.post("/api/referrals", content=b"x" * (300 * 1024))
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"


async def test_reference_numbers_cannot_be_walked(api, sessions):
    """The day's sequence is readable, the check part random: knowing one ticket's number does
    not give the next one's, and a number with a wrong check part finds nothing."""
    refs = [(await api.post("/api/referrals", json=referral(description=f"编号 {i}"))).json()[
        "reference_no"] for i in range(12)]
    seqs = [int(r.split("-")[2]) for r in refs]
    assert seqs == list(range(seqs[0], seqs[0] + 12))  # still in order, readable
    checks = {r.split("-")[3] for r in refs}
    assert len(checks) > 3  # 12 draws of 1,000: all alike would be a derivable check part
    day, seq, check = refs[0].split("-")[1:]
    wrong = f"12349-{day}-{seq}-{(int(check) + 1) % 1000:03d}"
    assert (await api.get(f"/api/referrals/{wrong}", params={"phone_last4": "1234"})).status_code == 404
    assert (await api.get(f"/api/referrals/{refs[0]}", params={"phone_last4": "1234"})).status_code == 200


async def test_numbers_of_the_old_form_still_look_up(api, sessions):
    ref = (await api.post("/api/referrals", json=referral())).json()["reference_no"]
    old = "12349-20251130-" + ref.split("-")[2]
    async with sessions() as s, s.begin():
        t = await s.scalar(select(Ticket).where(Ticket.reference_no == ref))
        t.reference_no = old
    r = await api.get(f"/api/referrals/{old}", params={"phone_last4": "1234"})
    assert r.status_code == 200 and r.json()["reference_no"] == old
