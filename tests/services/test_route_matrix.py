"""The route/role matrix, generated from the app's route list: every route declares who may
call it (hotline/auth.py) and every route is tried as a stranger, with the service token and
as each staff role, so a new route is covered the day it is added."""

from __future__ import annotations

import re

import httpx
import pytest
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


def _rows(app):
    return [(method, row) for row in route_matrix(app) for method in row["methods"]]


def test_every_route_declares_its_access(settings):
    assert undeclared_routes(create_app(settings, name="matrix_declared")) == []


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
        for method, row in _rows(matrix_app.app):
            spec, path = row["access"], concrete(row["path"])
            status = await _status(c, method, path, OUTSIDE)
            where = (method, row["path"], status)
            if spec.kind == "public":
                assert status not in (401, 403), where
            elif spec.kind == "provider":  # the channel checks its provider's signature
                assert status == 403, where
            elif spec.kind == "internal":
                assert status == 401, where
            elif path.startswith("/console"):  # a page: to the login form
                assert status == 302, where
            else:
                assert status == 401, where


async def test_the_service_token_opens_internal_routes_only(matrix_app):
    auth = {**OUTSIDE, "Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=matrix_app.url, timeout=30) as c:
        for method, row in _rows(matrix_app.app):
            if row["access"].kind not in ("internal", "staff"):
                continue
            status = await _status(c, method, concrete(row["path"]), auth)
            if row["access"].kind == "internal":
                assert status not in (401, 403), (method, row["path"], status)
            else:  # a token is not a staff session
                assert status in (302, 401), (method, row["path"], status)


@pytest.mark.parametrize("who", [*ROLES, "staff+desk"])
async def test_each_role_reaches_what_its_declaration_allows(matrix_app, staff_clients, who):
    staff = staff_clients[who]
    role, on_desk = who.split("+")[0], who in ("agent", "supervisor", "staff+desk")
    for method, row in _rows(matrix_app.app):
        spec = row["access"]
        if spec.kind != "staff" or row["path"] == "/console/logout":
            continue
        status = await _status(staff.client, method, concrete(row["path"]),
                               {**OUTSIDE, "X-CSRF-Token": staff.csrf})
        allowed = (not spec.roles or role in spec.roles) and (not spec.desk or on_desk)
        if allowed:
            assert status not in (401, 403), (who, method, row["path"], status)
        else:
            assert status == 403, (who, method, row["path"], status)
    # and a session with a wrong CSRF token changes nothing
    r = await staff.client.post("/console/logout", headers={"X-CSRF-Token": "wrong"})
    assert r.status_code == 403


async def test_the_admin_sees_no_ticket_route(matrix_app, staff_clients):
    admin = staff_clients["admin"].client
    for path in ("/api/tickets", "/api/dashboard", "/console/dashboard",
                 f"/console/tickets/{NAMED['reference_no']}"):
        assert (await admin.get(path)).status_code == 403, path
