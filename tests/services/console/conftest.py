"""Console test helpers: accounts, logged-in HTTP clients (real cookies and CSRF), tickets."""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass

import httpx
import pytest

from console import auth, users

PASSWORD = "correct-horse-12349"
_META_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
_LOGIN_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


@dataclass
class Staff:
    """A logged-in browser-like client: cookies kept, CSRF token from the page."""

    client: httpx.AsyncClient
    username: str
    csrf: str

    async def post_form(self, path: str, data: dict | None = None, csrf: str | None = "auto"):
        body = dict(data or {})
        if csrf is not None:
            body["csrf_token"] = self.csrf if csrf == "auto" else csrf
        return await self.client.post(path, data=body)

    async def api_post(self, path: str, body: dict | None = None):
        return await self.client.post(path, json=body or {}, headers={"X-CSRF-Token": self.csrf})

    def session_key(self) -> str:
        token = self.client.cookies.get(auth.SESSION_COOKIE)
        return "console:session:" + hashlib.sha256(token.encode()).hexdigest()


async def form_login(client: httpx.AsyncClient, username: str, password: str,
                     next_: str = "") -> httpx.Response:
    page = await client.get("/console/login")
    token = _LOGIN_TOKEN.search(page.text).group(1)
    return await client.post("/console/login", data={
        "username": username, "password": password, "csrf_token": token, "next": next_})


async def new_user(sessions, role: str = "staff", department: str | None = "civil_affairs",
                   units: tuple[str, ...] = (), password: str = PASSWORD) -> str:
    username = unique(role)
    await users.create_user(sessions, username, password, role,
                            department if role == "staff" else None, units)
    return username


async def logged_in(base_url: str, username: str, password: str = PASSWORD) -> Staff:
    """A Staff client logged in through the real login form (close its .client when done)."""
    client = httpx.AsyncClient(base_url=base_url, timeout=30)
    r = await form_login(client, username, password)
    assert r.status_code == 302, r.text
    page = await client.get("/console/queue", follow_redirects=True)  # agents land on the desk
    return Staff(client, username, _META_CSRF.search(page.text).group(1))


@pytest.fixture
async def make_user(sessions):
    async def make(*args, **kwargs) -> str:
        return await new_user(sessions, *args, **kwargs)
    return make


@pytest.fixture
async def login(live_app):
    """login(username) -> Staff, through the real login form."""
    clients = []

    async def do(username: str, password: str = PASSWORD) -> Staff:
        staff = await logged_in(live_app.url, username, password)
        clients.append(staff.client)
        return staff

    yield do
    for c in clients:
        await c.aclose()


@pytest.fixture(autouse=True)
async def _fresh_ip_counter(live_app):
    """Every test comes from 127.0.0.1: start each with a clean per-IP failure count."""
    redis = live_app.app.ctx.redis
    for key in await redis.keys("console:login-fail:ip:*"):
        await redis.delete(key)


async def new_ticket(api: httpx.AsyncClient, program: str = "dibao", region: str = "341503",
                     street: str | None = None, **over) -> str:
    """File a referral through the public API; returns its reference number."""
    body = {"program": program, "region": region,
            "citizen": {"name": "王秀英", "phone": "13800001234"},
            "description": f"老伴瘫痪在床，没有收入 {uuid.uuid4().hex[:6]}", "channel": "web"}
    if street:
        body["street"] = street
    body.update(over)
    r = await api.post("/api/referrals", json=body)
    assert r.status_code == 201, r.text
    return r.json()["reference_no"]


@pytest.fixture
async def file_ticket(api):
    """file_ticket(program, region, street, **over) -> reference_no."""
    async def file(*args, **kwargs) -> str:
        return await new_ticket(api, *args, **kwargs)
    return file
