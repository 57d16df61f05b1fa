"""The route/role matrix: every route declares who may call it (hotline/auth.py), the table
tests/services/data/route_access.yml says by hand who should, and every route is tried as a
stranger, with the service token and as each staff role against the table. A new route, or a
changed declaration, fails until the table agrees."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import httpx
import pytest
import yaml
from sanic import json

from console import users
from hotline.app import create_app
from hotline.auth import route_matrix, undeclared_routes
from referral.access import ROLES
from tests.services.conftest import serve, shutdown
from tests.services.console.conftest import PASSWORD, logged_in, new_user, unique

TOKEN = "matrix-service-token-0123456789"
OUTSIDE = {"X-Forwarded-For": "203.0.113.9"}  # a client on the Internet, behind one proxy
VALUES = {"int": "999999", "str": "x"}
NAMED = {"reference_no": "12349-20260101-0001-123", "code": "000000000000"}
_PARAM = re.compile(r"<(\w+):(\w+)>")


def concrete(path: str) -> str:
    return _PARAM.sub(lambda m: NAMED.get(m.group(1), VALUES[m.group(2)]), path)


@pytest.fixture(scope="module")
async def matrix_app(settings, rasa):
    channels = settings.channels.__class__(
        public_base_url="http://127.0.0.1:8000", wechat_token="wechat-token",
        twilio_account_sid="AC" + "0" * 32, twilio_auth_token="twilio-token",
        twilio_sms_from="+15550001111")
    live, server = await serve(settings, services_api_token=TOKEN, proxies_count=1,
                               rasa_url=rasa.url, channels=channels,
                               rate_limit_read_per_min=10_000, rate_limit_chat_per_min=10_000)
    yield live
    await shutdown(server)


@pytest.fixture(scope="module")
async def staff_clients(matrix_app, sessions):
    clients = {}
    for role in ROLES:
        username = await new_user(sessions, role, "civil_affairs" if role == "staff" else None)
        clients[role] = await logged_in(matrix_app.url, username)
    desk_clerk = unique("clerk")
    await users.create_user(sessions, desk_clerk, PASSWORD, "staff", "civil_affairs", desk=True)
    clients["staff+desk"] = await logged_in(matrix_app.url, desk_clerk)
    yield clients
    for c in {id(c): c for c in clients.values()}.values():
        await c.client.aclose()


REFUSALS = {"unauthorized", "internal_only", "unauthenticated", "forbidden"}  # hotline/auth.py


async def _status(client: httpx.AsyncClient, method: str, path: str, headers: dict) -> int:
    """The status, with 401/403 only when the access check refused (a handler's own 401, such
    as a wrong password at the login form, is the handler's answer); the body is not read from
    the desk's event stream, which would otherwise run for its whole span."""
    request = client.build_request(method, path, headers=headers,
                                   json={} if method == "POST" else None)
    response = await client.send(request, stream=True)
    try:
        if response.status_code in (401, 403) and \
                response.headers.get("content-type", "").startswith("application/json"):
            code = (await response.aread()) and response.json()["error"]["code"]
            if code not in REFUSALS | {"bad_signature", "csrf_failed"}:
                return -response.status_code  # refused by the handler, not by access
    finally:
        await response.aclose()
    return response.status_code


WHO = (*ROLES, "staff+desk")


@cache
def expected() -> dict[str, str | tuple[str, ...]]:
    """'METHOD /path' → public, provider, internal, or the staff who may call it."""
    table = yaml.safe_load((Path(__file__).parent / "data" / "route_access.yml").read_text("utf-8"))
    return {route: who if isinstance(who, str) else tuple(who) for route, who in table.items()}


def _rows(app):
    """(method, path, who should reach it) for every route of the app."""
    return [(method, row["path"], expected()[f"{method} {row['path']}"])
            for row in route_matrix(app) for method in row["methods"]]


def _declared(row, method: str) -> str | tuple[str, ...]:
    spec = row["access"]
    if spec.kind != "staff":
        return spec.kind
    return tuple(w for w in WHO if (not spec.roles or w.split("+")[0] in spec.roles)
                 and (not spec.desk or w in ("agent", "supervisor", "staff+desk")))


def test_every_route_declares_its_access(settings):
    assert undeclared_routes(create_app(settings, name="matrix_declared")) == []


def test_the_declarations_are_the_written_table(settings):
    app = create_app(settings, name="matrix_table")
    declared = {f"{m} {row['path']}": _declared(row, m) for row in route_matrix(app)
                for m in row["methods"]}
    table = expected()
    assert sorted(set(declared) - set(table)) == [], "routes missing from route_access.yml"
    assert sorted(set(table) - set(declared)) == [], "route_access.yml names routes that are gone"
    assert {r: w for r, w in declared.items() if table[r] != w} == {}
    assert all(set(w) <= set(WHO) for w in table.values() if isinstance(w, tuple))


async def test_a_route_without_a_declaration_stops_the_start(settings):
    app = create_app(settings, name="matrix_undeclared")

    @app.get("/forgotten")
    async def forgotten(request):
        return json({})

    with pytest.raises(RuntimeError, match="forgotten"):
        await serve_app(app)


async def serve_app(app):
    server = await app.create_server(host="127.0.0.1", port=0, return_asyncio_server=True)
    try:
        await server.startup()
        await server.before_start()
    finally:
        server.close()


async def test_strangers_reach_only_public_routes(matrix_app):
    async with httpx.AsyncClient(base_url=matrix_app.url, timeout=30) as c:
        for method, route, who in _rows(matrix_app.app):
            path = concrete(route)
            status = await _status(c, method, path, OUTSIDE)
            where = (method, route, status)
            if who == "public":
                assert status not in (401, 403), where
            elif who == "provider":  # the channel checks its provider's signature
                assert status == 403, where
            elif who == "internal":
                assert status == 401, where
            elif path.startswith("/console"):  # a page: to the login form
                assert status == 302, where
            else:
                assert status == 401, where


async def test_the_service_token_opens_internal_routes_only(matrix_app):
    auth = {**OUTSIDE, "Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=matrix_app.url, timeout=30) as c:
        for method, route, who in _rows(matrix_app.app):
            if who in ("public", "provider"):
                continue
            status = await _status(c, method, concrete(route), auth)
            if who == "internal":
                assert status not in (401, 403), (method, route, status)
            else:  # a token is not a staff session
                assert status in (302, 401), (method, route, status)


@pytest.mark.parametrize("who", WHO)
async def test_each_role_reaches_what_the_table_allows(matrix_app, staff_clients, who):
    staff = staff_clients[who]
    for method, route, allowed in _rows(matrix_app.app):
        if isinstance(allowed, str) or route == "/console/logout":
            continue
        status = await _status(staff.client, method, concrete(route),
                               {**OUTSIDE, "X-CSRF-Token": staff.csrf})
        if who in allowed:
            assert status not in (401, 403), (who, method, route, status)
        else:
            assert status == 403, (who, method, route, status)
    # and a session with a wrong CSRF token changes nothing
    r = await staff.client.post("/console/logout", headers={"X-CSRF-Token": "wrong"})
    assert r.status_code == 403


async def test_the_admin_sees_no_ticket_route(matrix_app, staff_clients):
    admin = staff_clients["admin"].client
    for path in ("/api/tickets", "/api/dashboard", "/console/dashboard",
                 f"/console/tickets/{NAMED['reference_no']}"):
        assert (await admin.get(path)).status_code == 403, path
