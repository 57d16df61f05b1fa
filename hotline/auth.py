"""Who may call which route: one declaration per route, one middleware that enforces it.

Every route of the services app declares its access with one of the decorators below; the app
refuses to start if a route has none, so a new route cannot be forgotten, and the route/role
matrix (`route_matrix`, `python -m hotline routes`, tests/services/test_route_matrix.py) is
generated from the same declarations.

- `public(limit=…)`: anyone (citizens' pages and APIs); `limit` names a per-client rate limit
  counted in Redis (settings `RATE_LIMIT_<NAME>_PER_MIN`).
- `provider`: a provider's webhook (WeChat, Twilio); the handler checks the provider's
  signature itself, since only it knows the channel's secret.
- `internal`: the platform's own callers (ARCHITECTURE.md §4.2): the service token, or the
  loopback interface when none is set (hotline.callers.internal_caller).
- `staff(*roles, desk=False)`: a logged-in staff member (console session; CSRF on every
  state-changing request), of one of `roles` when given, on the agents' desk when `desk`.

The middleware sets `request.ctx.viewer` (a referral.access.Viewer, or None) for every package;
the staff session itself is the console's (console.auth), handed in by the app factory.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import quote

from sanic import Request, Sanic, redirect

from hotline.cache import breaker
from hotline.callers import citizen_key, internal_caller
from hotline.errors import ApiError

ACCESS_ATTR = "__hotline_access__"
KINDS = ("public", "provider", "internal", "staff")
LOGIN_PATH = "/console/login"


@dataclass(frozen=True)
class Access:
    kind: str
    roles: tuple[str, ...] = ()
    desk: bool = False
    limit: str | None = None

    def describe(self) -> str:
        if self.kind != "staff":
            return self.kind + (f" (limit {self.limit})" if self.limit else "")
        who = "/".join(self.roles) if self.roles else "any staff role"
        return f"staff: {who}" + (" on the desk" if self.desk else "")


def _declare(spec: Access) -> Callable:
    def mark(handler: Callable) -> Callable:
        setattr(handler, ACCESS_ATTR, spec)
        return handler

    return mark


def public(limit: str | None = None) -> Callable:
    return _declare(Access("public", limit=limit))


provider = _declare(Access("provider"))
internal = _declare(Access("internal"))


def staff(*roles: str, desk: bool = False) -> Callable:
    return _declare(Access("staff", roles=tuple(roles), desk=desk))


def access_of(handler: Callable) -> Access | None:
    return getattr(handler, ACCESS_ATTR, None)


def undeclared_routes(app: Sanic) -> list[str]:
    return sorted(f"{'/'.join(sorted(r.methods))} /{r.path}" for r in app.router.routes
                  if access_of(r.handler) is None)


def route_matrix(app: Sanic) -> list[dict]:
    """Every route with its methods and declared access (the route/role matrix)."""
    rows = [{"path": "/" + r.path, "methods": sorted(r.methods), "access": access_of(r.handler)}
            for r in app.router.routes]
    return sorted(rows, key=lambda row: (row["path"], row["methods"]))


StaffResolver = Callable[[Request], Awaitable]


def install(app: Sanic, staff_viewer: StaffResolver) -> None:
    """`staff_viewer(request)` returns the request's Viewer or raises ApiError 401/403."""

    @app.before_server_start
    async def _every_route_declared(app_, _loop=None):
        if missing := undeclared_routes(app_):
            raise RuntimeError("routes without an access declaration (hotline/auth.py): "
                               + ", ".join(missing))

    @app.on_request(priority=100)  # before every other request middleware
    async def _authorise(request: Request):
        request.ctx.viewer = None
        if "\x00" in request.path or any("\x00" in v for vs in request.args.values() for v in vs):
            raise ApiError(400, "invalid_character", "the request contains a NUL character")
        spec = access_of(request.route.handler) if request.route else None
        if spec is None:
            return None  # no route (404/405): Sanic answers; undeclared routes never start
        if spec.kind == "internal" and not internal_caller(request):
            if request.app.ctx.settings.services_api_token:
                raise ApiError(401, "unauthorized", "this route needs the service token")
            raise ApiError(403, "internal_only",
                           "this route answers the platform's own callers only")
        if spec.kind == "staff":
            try:
                viewer = await staff_viewer(request)
            except ApiError as exc:
                if exc.status_code == 401 and request.path.startswith("/console"):
                    target = request.path + (f"?{request.query_string}"
                                             if request.query_string else "")
                    return redirect(f"{LOGIN_PATH}?next={quote(target, safe='')}")
                raise
            if (spec.roles and viewer.role not in spec.roles) or (spec.desk and not viewer.on_desk):
                raise ApiError(403, "forbidden", "your role may not use this")
            request.ctx.viewer = viewer
        if spec.limit and not internal_caller(request):  # the platform itself is not limited
            await _count(request, spec.limit)
        return None


async def _count(request: Request, name: str) -> None:
    """A fixed one-minute window per client and limit; over it, 429 with Retry-After."""
    per_min = getattr(request.app.ctx.settings, f"rate_limit_{name}_per_min")
    window = int(time.time() // 60)
    key = f"ratelimit:{name}:{citizen_key(request)}:{window}"
    redis = request.app.ctx.redis

    async def incr() -> int:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.incr(key).expire(key, 120)
            count, _ = await pipe.execute()
        return count
    # Without Redis the limit is not counted: a citizen's message is worth more than the limit.
    count = await breaker(redis).run(f"rate limit {name}", incr, 0)
    if count > per_min:
        retry = str(60 - int(time.time()) % 60)
        raise ApiError(429, "rate_limited", "too many requests; try again in a minute",
                       headers={"Retry-After": retry}, retry_after_s=int(retry))
