"""Console login sessions, CSRF and the `Viewer` of a request, for pages and the JSON API alike.

A session is a random token in an HttpOnly, SameSite=Lax cookie; Redis keeps only its SHA-256
(`console:session:<hash>` → user id, CSRF token, a mark of the password hash, one-shot flash
message) with a sliding expiry, so a copy of Redis holds no usable cookie. The account is
re-read on every request: deactivating a user, resetting their password or changing their
role takes effect at once. Every state-changing
request must carry the session's CSRF token (form field `csrf_token` or header X-CSRF-Token).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets

from sanic import HTTPResponse, Request

from console import users
from console.models import StaffUser
from hotline.auth import LOGIN_PATH
from hotline.callers import client_ip
from hotline.errors import ApiError
from referral.access import Viewer

SESSION_COOKIE = "hotline_session"
LOGIN_CSRF_COOKIE = "hotline_login_csrf"
SESSION_TTL_S = 8 * 3600
LOGIN_FAILURES_PER_IP = 20
LOGIN_FAILURE_WINDOW_S = 15 * 60
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _session_key(token: str) -> str:
    return "console:session:" + hashlib.sha256(token.encode()).hexdigest()


def _password_mark(user: StaffUser) -> str:
    """Kept in the session: a password reset changes the hash and so ends every session."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def cookie_secure(request: Request) -> bool:
    return request.app.ctx.settings.cookie_secure


# --- sessions -------------------------------------------------------------------------------

async def start_session(request: Request, user: StaffUser) -> tuple[str, str]:
    """A fresh session for a successful login: (token for the cookie, CSRF token). Any session
    the browser had before is ended, so a planted token is never promoted (session fixation)."""
    await _drop_session(request)
    redis = request.app.ctx.redis
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    key = _session_key(token)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(key, mapping={"user_id": str(user.id), "csrf": csrf, "pw": _password_mark(user)})
        pipe.expire(key, SESSION_TTL_S)
        await pipe.execute()
    return token, csrf


def set_session_cookie(request: Request, response: HTTPResponse, token: str) -> None:
    # No max-age: the cookie dies with the browser; the server side expires after SESSION_TTL_S.
    response.add_cookie(SESSION_COOKIE, token, path="/", httponly=True, samesite="Lax",
                        secure=cookie_secure(request))


async def _load_session(request: Request) -> tuple[str, dict] | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 128:
        return None
    key = _session_key(token)
    async with request.app.ctx.redis.pipeline(transaction=True) as pipe:
        pipe.hgetall(key)
        pipe.expire(key, SESSION_TTL_S)  # sliding expiry: each request renews it
        data, _ = await pipe.execute()
    return (key, data) if data.get("user_id") else None


async def _drop_session(request: Request) -> None:
    if found := await _load_session(request):
        await request.app.ctx.redis.delete(found[0])


async def end_session(request: Request, response: HTTPResponse) -> None:
    """Logout: the session is deleted server-side and the cookie cleared."""
    await _drop_session(request)
    response.delete_cookie(SESSION_COOKIE, path="/")


async def set_flash(request: Request, kind: str, text: str) -> None:
    """A one-shot message for the next page (post/redirect/get)."""
    redis, key = request.app.ctx.redis, request.ctx.session_key
    if await redis.exists(key):  # never recreate a session that has just ended
        async with redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, "flash", json.dumps({"kind": kind, "text": text}, ensure_ascii=False))
            pipe.expire(key, SESSION_TTL_S)
            await pipe.execute()


async def pop_flash(request: Request) -> dict | None:
    redis = request.app.ctx.redis
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hget(request.ctx.session_key, "flash")
        pipe.hdel(request.ctx.session_key, "flash")
        raw, _ = await pipe.execute()
    return json.loads(raw) if raw else None


# --- CSRF -----------------------------------------------------------------------------------

def submitted_csrf(request: Request) -> str:
    header = request.headers.get("X-CSRF-Token")
    if header:
        return header
    if request.content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return request.form.get("csrf_token", "")
    return ""


def _same_token(expected: str | None, given: str) -> bool:
    return bool(expected and given) and hmac.compare_digest(expected.encode(), given.encode())


def new_login_token() -> str:
    return secrets.token_urlsafe(24)


def set_login_csrf_cookie(request: Request, response: HTTPResponse, token: str) -> None:
    """Login form token (double-submit cookie): stops another site logging a browser into an
    account of its choosing."""
    response.add_cookie(LOGIN_CSRF_COOKIE, token, path=LOGIN_PATH, httponly=True,
                        samesite="Strict", max_age=3600, secure=cookie_secure(request))


def login_csrf_ok(request: Request) -> bool:
    return _same_token(request.cookies.get(LOGIN_CSRF_COOKIE), submitted_csrf(request))


# --- who is asking -----------------------------------------------------------------------------

def _login_key(request: Request) -> str:
    return f"console:login-fail:ip:{client_ip(request)}"


async def take_login_try(request: Request) -> bool:
    """Counts a login try from this client before its password is checked, so parallel tries
    cannot all pass the check; False when the client has used up LOGIN_FAILURES_PER_IP."""
    async with request.app.ctx.redis.pipeline(transaction=True) as pipe:
        pipe.incr(_login_key(request))
        pipe.expire(_login_key(request), LOGIN_FAILURE_WINDOW_S, nx=True)
        tries, _ = await pipe.execute()
    return tries <= LOGIN_FAILURES_PER_IP


async def give_back_login_try(request: Request) -> None:
    """A successful login does not count against its client."""
    await request.app.ctx.redis.decr(_login_key(request))


async def current_viewer(request: Request) -> Viewer:
    """The logged-in staff member of this request, as a referral.access.Viewer.

    Raises ApiError 401 (no or expired session, account deactivated, password reset) or 403 (a
    state-changing request without the session's CSRF token). Also sets request.ctx.viewer,
    request.ctx.user and request.ctx.csrf_token. The services app's access middleware
    (hotline/auth.py) calls it for every `staff` route; handlers read request.ctx.viewer.
    """
    if getattr(request.ctx, "viewer", None) is not None:
        return request.ctx.viewer
    found = await _load_session(request)
    if found is None:
        raise ApiError(401, "unauthenticated", "login required")
    key, data = found
    user = await users.get_user(request.app.ctx.sessions, int(data["user_id"]))
    # a deactivated account or a reset password ends the session at once
    if user is None or not user.active or data.get("pw") != _password_mark(user):
        await request.app.ctx.redis.delete(key)
        raise ApiError(401, "unauthenticated", "login required")
    if request.method not in SAFE_METHODS and not _same_token(data.get("csrf"),
                                                                submitted_csrf(request)):
        raise ApiError(403, "csrf_failed", "missing or wrong CSRF token; reload the page")
    request.ctx.session_key, request.ctx.csrf_token = key, data["csrf"]
    request.ctx.user = user
    request.ctx.viewer = users.viewer_of(user)
    return request.ctx.viewer


def safe_next(target: str | None) -> str:
    """Where to go after login: only a console path of this site (no open redirect)."""
    if target and target.startswith("/console/") and not target.startswith("//") \
            and "\\" not in target and not target.startswith(LOGIN_PATH):
        return target
    return "/console/queue"
