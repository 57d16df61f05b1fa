"""Console login, lockout, CSRF, logout and session expiry, over real HTTP with cookies."""

import asyncio
import re
from datetime import timedelta

import httpx
from sqlalchemy import select, update

from console import auth, users
from console.models import StaffUser
from hotline.db import utcnow
from referral.models import AuditEntry
from tests.services.conftest import count_calls, serve, shutdown
from tests.services.console.conftest import PASSWORD, form_login, new_ticket

LOGIN_ERROR = re.compile(r'role="alert">([^<]*)<')


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
        assert codes == [401] * 5
        locked = await form_login(c, username, PASSWORD)  # even the right password
        wrong = await form_login(c, "nobody_here", "not-the-password")
        # locked answers as unknown and wrong do: nobody learns that the account exists
        assert locked.status_code == wrong.status_code == 401
        assert LOGIN_ERROR.search(locked.text).group(0) == LOGIN_ERROR.search(wrong.text).group(0)
        async with sessions() as s:
            user = await s.scalar(select(StaffUser).where(StaffUser.username == username))
        remaining = user.locked_until - utcnow()
        assert timedelta(minutes=14) < remaining <= timedelta(minutes=15)
        # fifteen minutes later
        async with sessions() as s, s.begin():
            await s.execute(update(StaffUser).where(StaffUser.id == user.id)
                            .values(locked_until=utcnow() - timedelta(seconds=1)))
        assert (await form_login(c, username, PASSWORD)).status_code == 302


async def test_a_burst_of_parallel_guesses_gets_five_checked(live_app, make_user, monkeypatch):
    """50 wrong passwords at once for one account (from as many addresses as the limit lets
    through): at most five are checked against its hash, then it is locked."""
    username = await make_user()
    async with live_app.app.ctx.sessions() as s:
        real_hash = (await s.scalar(select(StaffUser).where(StaffUser.username == username))).password_hash
    checked = []
    verify = users._verify

    def counting(hash_, password):
        if hash_ == real_hash:
            checked.append(password)
        return verify(hash_, password)

    monkeypatch.setattr(users, "_verify", counting)
    monkeypatch.setattr(auth, "LOGIN_FAILURES_PER_IP", 1000)
    async with httpx.AsyncClient(base_url=live_app.url, timeout=60) as c:
        answers = await asyncio.gather(*[
            c.post("/console/login", json={"username": username, "password": f"guess-{i}"})
            for i in range(50)])
        assert {a.status_code for a in answers} == {401}
        assert 1 <= len(checked) <= users.MAX_FAILED_LOGINS
        right = await c.post("/console/login", json={"username": username, "password": PASSWORD})
    assert right.status_code == 401  # locked now


async def test_a_burst_from_one_address_is_cut_at_the_limit(live_app, make_user, monkeypatch):
    """The per-address limit counts each try before the password is checked: of 50 parallel
    tries from one address, no more than the limit reach an account."""
    reached = count_calls(monkeypatch, users, "authenticate")
    names = [await make_user() for _ in range(10)]  # spread, so no account lock stops them first
    async with httpx.AsyncClient(base_url=live_app.url, timeout=60) as c:
        answers = await asyncio.gather(*[
            c.post("/console/login", json={"username": names[i % 10], "password": f"g-{i}"})
            for i in range(50)])
    codes = [a.status_code for a in answers]
    assert len(reached) == codes.count(401) == auth.LOGIN_FAILURES_PER_IP
    assert codes.count(429) == 50 - auth.LOGIN_FAILURES_PER_IP


async def test_behind_a_proxy_each_client_is_counted_apart(settings, live_app, make_user, sessions):
    """With PROXIES_COUNT=1 the address is the one the proxy appends to X-Forwarded-For, for the
    limit and the audit log alike; without it, a client writing that header changes nothing."""
    username = await make_user("supervisor")
    limit = auth.LOGIN_FAILURES_PER_IP
    behind, server = await serve(settings, proxies_count=1)
    try:
        redis = behind.app.ctx.redis
        await redis.set("console:login-fail:ip:203.0.113.7", limit)
        async with httpx.AsyncClient(base_url=behind.url) as c:
            ref = await new_ticket(c)
            blocked = await c.post("/console/login", headers={"X-Forwarded-For": "203.0.113.7"},
                                   json={"username": username, "password": PASSWORD})
            other = await c.post("/console/login", headers={"X-Forwarded-For": "203.0.113.8"},
                                 json={"username": username, "password": PASSWORD})
            assert blocked.status_code == 429 and other.status_code == 200
            seen = await c.get(f"/api/tickets/{ref}", headers={"X-Forwarded-For": "203.0.113.8"})
            assert seen.status_code == 200
        async with sessions() as s:
            ips = set(await s.scalars(select(AuditEntry.ip).where(
                AuditEntry.actor == f"supervisor:{username}")))
        assert ips == {"203.0.113.8"}
        async with httpx.AsyncClient(base_url=live_app.url) as c:  # no proxy configured
            spoofed = await c.post("/console/login", headers={"X-Forwarded-For": "203.0.113.7"},
                                   json={"username": username, "password": PASSWORD})
        assert spoofed.status_code == 200
        await redis.delete("console:login-fail:ip:203.0.113.7")
    finally:
        await shutdown(server)


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
