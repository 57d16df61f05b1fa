"""Console login, lockout, CSRF, logout and session expiry, over real HTTP with cookies."""

import asyncio
from datetime import timedelta

import httpx
from sqlalchemy import select, update

from console import auth
from console.models import StaffUser
from hotline.db import utcnow
from tests.services.console.conftest import PASSWORD, form_login


async def test_login_sets_a_hardened_session_cookie(live_app, make_user):
    username = await make_user()
    async with httpx.AsyncClient(base_url=live_app.url) as c:
        r = await form_login(c, username, PASSWORD, next_="/console/dashboard")
        assert r.status_code == 302 and r.headers["location"] == "/console/dashboard"
        cookie = next(h for h in r.headers.get_list("set-cookie")
                      if h.startswith(auth.SESSION_COOKIE + "="))
        attrs = cookie.lower()
        assert "httponly" in attrs and "samesite=lax" in attrs and "path=/" in attrs
        assert "secure" not in attrs  # COOKIE_SECURE defaults to false for local http
        assert "max-age" not in attrs  # dies with the browser; the server side expires in 8 h
        page = await c.get("/console/queue")
        assert page.status_code == 200 and username in page.text
        assert page.headers["cache-control"] == "no-store"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


async def test_pages_redirect_to_login_and_api_answers_401(api):
    r = await api.get("/console/queue", params={"status": "all"})
    assert r.status_code == 302
    assert r.headers["location"] == "/console/login?next=%2Fconsole%2Fqueue%3Fstatus%3Dall"
    r = await api.get("/api/tickets")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"


async def test_wrong_password_and_unknown_user_look_the_same(live_app, make_user):
    username = await make_user()
    async with httpx.AsyncClient(base_url=live_app.url) as c:
        wrong = await form_login(c, username, "not-the-password")
        unknown = await form_login(c, "nobody_here", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    assert "用户名或密码错误" in wrong.text and "用户名或密码错误" in unknown.text
    assert auth.SESSION_COOKIE not in wrong.cookies


async def test_five_failures_lock_the_account_for_fifteen_minutes(live_app, make_user, sessions):
    username = await make_user()
    async with httpx.AsyncClient(base_url=live_app.url) as c:
        codes = [(await form_login(c, username, f"wrong-{i}")).status_code for i in range(5)]
        assert codes == [401, 401, 401, 401, 423]
        locked = await form_login(c, username, PASSWORD)  # even the right password
        assert locked.status_code == 423 and "锁定" in locked.text
        async with sessions() as s:
            user = await s.scalar(select(StaffUser).where(StaffUser.username == username))
        remaining = user.locked_until - utcnow()
        assert timedelta(minutes=14) < remaining <= timedelta(minutes=15)
        # fifteen minutes later
        async with sessions() as s, s.begin():
            await s.execute(update(StaffUser).where(StaffUser.id == user.id)
                            .values(locked_until=utcnow() - timedelta(seconds=1)))
        assert (await form_login(c, username, PASSWORD)).status_code == 302


async def test_a_success_resets_the_failure_count(live_app, make_user):
    username = await make_user()
    async with httpx.AsyncClient(base_url=live_app.url) as c:
        for i in range(4):
            assert (await form_login(c, username, f"wrong-{i}")).status_code == 401
        assert (await form_login(c, username, PASSWORD)).status_code == 302
        for i in range(4):
            assert (await form_login(c, username, f"wrong-{i}")).status_code == 401


async def test_failures_from_one_address_are_rate_limited(live_app, make_user):
    username = await make_user()
    await live_app.app.ctx.redis.set("console:login-fail:ip:127.0.0.1",
                                     auth.LOGIN_FAILURES_PER_IP)
    async with httpx.AsyncClient(base_url=live_app.url) as c:
        r = await form_login(c, username, PASSWORD)
    assert r.status_code == 429 and "15 分钟" in r.text


async def test_login_form_needs_its_token(live_app, make_user):
    username = await make_user()
    async with httpx.AsyncClient(base_url=live_app.url) as c:
        r = await c.post("/console/login", data={"username": username, "password": PASSWORD})
    assert r.status_code == 403 and auth.SESSION_COOKIE not in r.cookies


async def test_login_never_redirects_off_site(live_app, make_user):
    username = await make_user()
    for target in ("//evil.example/x", "https://evil.example/", "/api/tickets", "/console\\\\evil"):
        async with httpx.AsyncClient(base_url=live_app.url) as c:
            r = await form_login(c, username, PASSWORD, next_=target)
        assert r.headers["location"] == "/console/queue", target


async def test_json_login_gives_the_csrf_token_for_the_api(live_app, make_user):
    username = await make_user()
    async with httpx.AsyncClient(base_url=live_app.url) as c:
        r = await c.post("/console/login", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200 and r.json()["role"] == "staff"
        assert r.json()["csrf_token"]
        bad = await c.post("/console/login", json={"username": username, "password": "x"})
        assert bad.status_code == 401 and bad.json()["error"]["code"] == "login_failed"


async def test_state_changes_need_the_csrf_token(login, make_user, file_ticket):
    staff = await login(await make_user())
    ref = await file_ticket()
    for token in (None, "", "forged-token"):
        r = await staff.post_form(f"/console/tickets/{ref}/claim", csrf=token)
        assert r.status_code == 403 and "页面已过期" in r.text, token
        r = await staff.client.post(f"/api/tickets/{ref}/claim", json={},
                                    headers={"X-CSRF-Token": token} if token else {})
        assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed"
    assert (await staff.post_form("/console/logout", csrf=None)).status_code == 403
    page = await staff.client.get(f"/console/tickets/{ref}")
    assert "新转介" in page.text  # nothing changed
    ok = await staff.post_form(f"/console/tickets/{ref}/claim")
    assert ok.status_code == 302


async def test_csrf_token_is_bound_to_the_session(login, make_user, file_ticket):
    one, two = await login(await make_user()), await login(await make_user())
    ref = await file_ticket()
    r = await one.post_form(f"/console/tickets/{ref}/claim", csrf=two.csrf)
    assert r.status_code == 403


async def test_logout_ends_the_session_on_the_server(login, make_user, live_app):
    staff = await login(await make_user())
    token = staff.client.cookies.get(auth.SESSION_COOKIE)
    r = await staff.post_form("/console/logout")
    assert r.status_code == 302 and r.headers["location"] == "/console/login"
    assert (await staff.client.get("/console/queue")).status_code == 302
    # a copy of the old cookie is worthless too
    async with httpx.AsyncClient(base_url=live_app.url,
                                 cookies={auth.SESSION_COOKIE: token}) as replay:
        assert (await replay.get("/console/queue")).status_code == 302
        assert (await replay.get("/api/tickets")).status_code == 401


async def test_sessions_expire_after_idle_time_and_slide_with_use(login, make_user, live_app):
    redis = live_app.app.ctx.redis
    staff = await login(await make_user())
    key = staff.session_key()
    assert 0 < await redis.ttl(key) <= auth.SESSION_TTL_S
    await redis.expire(key, 100)
    assert (await staff.client.get("/console/queue")).status_code == 200
    assert await redis.ttl(key) > auth.SESSION_TTL_S - 60  # renewed by use
    await redis.expire(key, 1)
    await asyncio.sleep(1.5)
    r = await staff.client.get("/console/queue")
    assert r.status_code == 302 and r.headers["location"].startswith("/console/login")


async def test_redis_holds_no_usable_session_token(login, make_user, live_app):
    staff = await login(await make_user())
    token = staff.client.cookies.get(auth.SESSION_COOKIE)
    keys = await live_app.app.ctx.redis.keys("console:session:*")
    assert staff.session_key() in keys and not any(token in k for k in keys)


async def test_login_replaces_an_earlier_session(login, make_user, live_app):
    username = await make_user()
    staff = await login(username)
    old_key = staff.session_key()
    await form_login(staff.client, username, PASSWORD)
    assert not await live_app.app.ctx.redis.exists(old_key)
    assert staff.session_key() != old_key
