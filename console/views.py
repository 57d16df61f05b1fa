"""Staff console pages (转介工作台): login, queue, ticket detail and actions, dashboard, users.

Handlers are thin: parse the form, call one referral.service or console.users function,
render or redirect (post/redirect/get with a one-shot flash message). Lists show masked
personal data only; the detail page shows it in full and the service audits each view.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import sys
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from urllib.parse import urlencode

import yaml
from sanic import Blueprint, HTTPResponse, Request, json, redirect

from console import auth, users
from console.chart import backlog_chart
from hotline.auth import public, staff
from hotline.callers import client_ip
from hotline.db import utcnow
from hotline.errors import ApiError
from hotline.templating import render
from referral import complaints, domain, service
from referral.access import TICKET_ROLES, can_view
from referral.models import OPEN_STATUSES
from referral.workdays import CHINA, add_working_days, calendar
from rules.regions import regions

bp = Blueprint("console", url_prefix="/console")
PAGE_SIZE = 50
_UNIT_SEP = re.compile(r"[\n,，、;；]+")


@cache
def labels() -> dict:
    return yaml.safe_load(Path(__file__).with_name("labels.yml").read_text(encoding="utf-8"))


@bp.exception(ApiError)
async def _error_page(request: Request, exc: ApiError):
    if request.content_type.startswith("application/json"):
        return json({"error": {"code": exc.code, "message": str(exc), **exc.details}},
                    status=exc.status_code)
    message = labels()["errors"].get(exc.code, str(exc))
    return await _render(request, "error.html", status=exc.status_code, message=message)


def _local_time(value: str | datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if not value:
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(CHINA).strftime(fmt)


def _duration(seconds: int) -> str:
    """Time left as staff read it (the countdown script uses the same format)."""
    s = abs(int(seconds))
    days, hours, minutes = s // 86400, s % 86400 // 3600, s % 3600 // 60
    if days:
        return f"{days}天{hours}小时"
    if hours:
        return f"{hours}小时{minutes}分"
    return f"{minutes}分{s % 60}秒"


def _calendar_warning(viewer) -> str | None:
    """For supervisors and admins: the calendar does not confirm the next 90 days."""
    if viewer is None or viewer.role not in ("supervisor", "admin"):
        return None
    today = utcnow().astimezone(CHINA).date()
    cov = calendar().coverage(today)
    if cov["warning"] is None:
        return None
    until = cov["confirmed_until"] or today.isoformat()
    return labels()["calendar_warning"][cov["missing_state"]].format(
        year=cov["missing_year"], confirmed_until=until)


async def _unit_labels(request: Request, name: str, viewer):
    """codes -> "裕安区平桥乡人民政府（341503204）、…", for pages that show clerks' units."""
    if not (viewer and viewer.units) and name not in ("users.html", "user_edit.html"):
        return None
    async with request.app.ctx.sessions() as s:
        directory = await service.unit_directory(s)

    def labels_of(codes, sep: str = "、") -> str:
        return sep.join(f"{u.label}（{c}）" if (u := directory.get(c)) else c for c in codes or ())
    return labels_of


async def _render(request: Request, name: str, status: int = 200, **ctx) -> HTTPResponse:
    logged_in = getattr(request.ctx, "viewer", None) is not None
    viewer = request.ctx.viewer if logged_in else None
    return await render(
        request, name, status=status, L=labels(), departments=domain.departments(),
        local_time=_local_time, duration=_duration,
        viewer=viewer, user=request.ctx.user if logged_in else None,
        calendar_warning=_calendar_warning(viewer),
        unit_labels=await _unit_labels(request, name, viewer),
        csrf_token=request.ctx.csrf_token if logged_in else "",
        flash=await auth.pop_flash(request) if logged_in else None, **ctx)


def _not_found() -> ApiError:
    return ApiError(404, "not_found", "ticket not found")


@bp.listener("after_server_start")
async def _seed_demo_users(app, _loop=None):
    if not app.ctx.settings.seed_demo_users:
        return
    created = await users.seed_demo_users(app.ctx.sessions)
    if created:
        # Passwords go to a file only this account can read, never to the logs or the terminal.
        path = app.ctx.settings.var_dir / "demo-users.txt"
        lines = "".join(f"{u:<24} {r:<11} {p}\n" for u, r, p in created)
        await asyncio.to_thread(_write_private, path, lines)
        print(f"Demo console users created: their passwords are in {path} (readable by this "
              "account only; change them and delete the file before real use)", file=sys.stderr,
              flush=True)


def _write_private(path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, 0o600)


# --- login ---------------------------------------------------------------------------------------

@bp.get("/", strict_slashes=False)
@public()
async def home(request: Request):
    return redirect("/console/queue")



@bp.get("/login")
@public()
async def login_form(request: Request):
    return await _login_page(request, next_=request.args.get("next", ""))


async def _login_page(request: Request, next_: str = "", error: str | None = None,
                      status: int = 200, username: str = "") -> HTTPResponse:
    token = auth.new_login_token()
    response = await _render(request, "login.html", status=status, error=error, login_token=token,
                             next=auth.safe_next(next_), username=username)
    auth.set_login_csrf_cookie(request, response, token)
    return response


@bp.post("/login")
@public()
async def login(request: Request):
    """Form login for the browser; a JSON body (username, password) answers with the CSRF
    token an API client sends as X-CSRF-Token."""
    as_json = request.content_type.startswith("application/json")
    data = (request.json if isinstance(request.json, dict) else {}) if as_json else {
        k: request.form.get(k, "") for k in ("username", "password", "next")}
    username, password = str(data.get("username", "")), str(data.get("password", ""))
    log = request.app.ctx.log
    errors = labels()["errors"]

    async def refuse(code: str, status: int):
        # Not the typed username: people type their password into it.
        log.warning("console login refused", extra={"event": "login_refused", "reason": code,
                                                    "ip": client_ip(request)})
        if as_json:
            raise ApiError(status, code, errors[code])
        return await _login_page(request, data.get("next", ""), errors[code], status, username)

    # JSON needs no login token: a cross-site form cannot send application/json.
    if not as_json and not auth.login_csrf_ok(request):
        return await refuse("login_expired", 403)
    if not await auth.take_login_try(request):
        return await refuse("login_throttled", 429)
    try:
        user = await users.authenticate(request.app.ctx.sessions, username, password)
    except users.LoginFailed:
        # A locked account answers as a wrong password does: the answer tells no one it exists.
        return await refuse("login_failed", 401)
    await auth.give_back_login_try(request)
    token, csrf = await auth.start_session(request, user)
    response = (json({"username": user.username, "role": user.role, "csrf_token": csrf}) if as_json
                else redirect(auth.safe_next(data.get("next"))))
    auth.set_session_cookie(request, response, token)
    response.delete_cookie(auth.LOGIN_CSRF_COOKIE, path=auth.LOGIN_PATH)
    log.info("console login", extra={"event": "login", "username": user.username,
                                      "ip": client_ip(request)})
    return response


@bp.post("/logout")
@staff()
async def logout(request: Request):
    response = redirect(auth.LOGIN_PATH)
    await auth.end_session(request, response)
    return response


# --- queue ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class QueueFilters:
    department: str | None
    status: str | None
    program: str | None
    urgency: str | None
    breached: bool | None
    unplaced: bool
    q: str | None
    page: int

    @classmethod
    def parse(cls, request: Request, sees_all: bool) -> QueueFilters:
        args = request.args
        L = labels()

        def pick(name: str, allowed) -> str | None:
            value = args.get(name, "")
            return value if value in allowed else None

        try:
            page = max(1, int(args.get("page", "1")))
        except ValueError:
            page = 1
        return cls(
            department=pick("department", domain.departments()) if sees_all else None,
            status=pick("status", [*L["statuses"], "all"]),
            program=pick("program", L["programs"]),
            urgency=pick("urgency", L["urgencies"]),
            breached={"1": True, "0": False}.get(args.get("breached", "")),
            unplaced=args.get("unplaced") == "1",
            q=(args.get("q") or "").strip()[:64] or None,
            page=page,
        )

    def query(self, **override) -> str:
        """The query string of these filters, for pagination links."""
        values = {"department": self.department, "status": self.status, "program": self.program,
                  "urgency": self.urgency, "q": self.q, "page": self.page,
                  "breached": {True: "1", False: "0"}.get(self.breached),
                  "unplaced": "1" if self.unplaced else None} | override
        return urlencode({k: v for k, v in values.items() if v not in (None, "", 1)})


def _urgency_class(row: dict, now: datetime, soon_until: datetime) -> str:
    """overdue (red) · soon: less than one working day left (amber) · paused · normal."""
    if row["status"] not in OPEN_STATUSES:
        return "done"
    if row["due_in_s"] < 0:
        return "overdue"
    if row["paused"]:
        return "paused"
    return "soon" if now.timestamp() + row["due_in_s"] < soon_until.timestamp() else "normal"


def _due_target(row: dict, now: datetime) -> str:
    """Which deadline due_in_s counts down to: first_response or resolution."""
    due = now.timestamp() + row["due_in_s"]
    first = datetime.fromisoformat(row["first_response_due"]).timestamp()
    return "first_response" if not row["paused"] and abs(due - first) < 60 else "resolution"


def _with_clock(rows: list[dict]) -> tuple[list[dict], dict]:
    now = utcnow()
    soon_until = add_working_days(now, 1)
    clock = {"now_ms": int(now.timestamp() * 1000), "soon_until_ms": int(soon_until.timestamp() * 1000)}
    return [{**r, "level": _urgency_class(r, now, soon_until), "due_target": _due_target(r, now),
             "due_at_ms": clock["now_ms"] + r["due_in_s"] * 1000} for r in rows], clock


@bp.get("/queue")
@staff()
async def queue(request: Request):
    viewer = request.ctx.viewer
    if viewer.role == "agent":  # agents work the desk; tickets reach them there
        return redirect("/console/desk")
    if viewer.role == "admin":  # accounts, not tickets
        return redirect("/console/users")
    f = QueueFilters.parse(request, viewer.sees_all)
    rows, total = await service.list_tickets(
        request.app.ctx.sessions, viewer, department=f.department, status=f.status,
        program=f.program, urgency=f.urgency, q=f.q, breached=f.breached,
        unplaced=True if f.unplaced else None, limit=PAGE_SIZE, offset=(f.page - 1) * PAGE_SIZE)
    rows, clock = _with_clock(rows)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    return await _render(request, "queue.html", tickets=rows, total=total, filters=f,
                         page=f.page, pages=pages, clock=clock, nav="queue")


# --- ticket detail and actions ---------------------------------------------------------------

ACTIONS = service.ACTIONS


@bp.get("/tickets/<reference_no:str>")
@staff(*TICKET_ROLES)
async def ticket(request: Request, reference_no: str):
    try:
        t = await service.get_ticket(request.app.ctx.sessions, request.ctx.viewer, reference_no,
                                     ip=client_ip(request))
    except service.NotFound:
        raise _not_found() from None
    (row,), clock = _with_clock([t])
    actions = [name for name, a in ACTIONS.items() if a.allowed_for(name, t)]
    region_units = (await service.list_units(request.app.ctx.sessions, t["region"])
                    if "place" in actions else [])
    return await _render(request, "ticket.html", t=row, actions=actions, clock=clock, nav="queue",
                         region_units=region_units)


@bp.get("/cases/<reference_no:str>")
@staff(*TICKET_ROLES)
async def case_page(request: Request, reference_no: str):
    """一门受理: the household's referrals side by side; a clerk opens their own, and sees of
    the others only which department has them and where they stand."""
    try:
        c = await service.get_case(request.app.ctx.sessions, request.ctx.viewer, reference_no)
    except service.NotFound:
        raise _not_found() from None
    return await _render(request, "case.html", c=c, nav="queue")


@bp.post("/tickets/<reference_no:str>/<action:str>")
@staff(*TICKET_ROLES)
async def ticket_action(request: Request, reference_no: str, action: str):
    spec = ACTIONS.get(action)
    if spec is None:
        raise _not_found()
    here = f"/console/tickets/{reference_no}"
    L = labels()
    fields = L["actions"][action].get("fields", {})
    args = [request.form.get(name, "").strip() for name in spec.fields]
    missing = [name for name, value in zip(spec.fields, args, strict=True) if not value]
    if missing:
        await auth.set_flash(request, "error",
                             L["messages"]["missing_field"].format(field=fields[missing[0]]))
        return redirect(here)
    viewer = request.ctx.viewer
    try:
        t = await spec.call(request.app.ctx.sessions, viewer, reference_no, *args,
                            ip=client_ip(request))
    except service.NotFound:
        raise _not_found() from None
    except domain.InvalidTransition:
        await auth.set_flash(request, "error", L["errors"]["invalid_transition"])
        return redirect(here)
    except service.ValidationError as exc:
        await auth.set_flash(request, "error", L["messages"]["check_field"].format(
            field=fields.get(exc.field, exc.field), message=exc))
        return redirect(here)
    if not can_view(viewer, t["department"], t["unit_code"]):  # moved out of reach
        away = "transferred_away_placed" if action == "place" else "transferred_away"
        await auth.set_flash(request, "ok", L["messages"][away].format(**t))
        return redirect("/console/queue")
    await auth.set_flash(request, "ok", L["actions"][action]["done"].format(**t))
    return redirect(here)


# --- dashboard -----------------------------------------------------------------------------------

@bp.get("/dashboard")
@staff(*TICKET_ROLES)
async def dashboard(request: Request):
    rows = await service.dashboard(request.app.ctx.sessions, request.ctx.viewer)
    totals = {k: sum(r[k] for r in rows) for k in ("open", "breached", "approaching")}
    cases = await service.case_counts(request.app.ctx.sessions, request.ctx.viewer)
    viewer = request.ctx.viewer
    by_department = (await complaints.counts(request.app.ctx.sessions, viewer)
                     if viewer.role == "supervisor" else None)
    return await _render(request, "dashboard.html", rows=rows, chart=backlog_chart(rows), cases=cases,
                         complaints=by_department,
                         totals=totals, open_statuses=OPEN_STATUSES, nav="dashboard")


# --- users (admin) -------------------------------------------------------------------------------

def _units(text: str) -> list[str]:
    return [u for u in _UNIT_SEP.split(text or "") if u.strip()]


def _audit_account(request: Request, event: str, username: str, **detail) -> None:
    request.app.ctx.log.info("console account change", extra={
        "event": event, "actor": request.ctx.viewer.actor, "target_user": username,
        "ip": client_ip(request), **detail})


@bp.get("/users")
@staff("admin")
async def users_page(request: Request):
    return await _render(request, "users.html", accounts=await users.list_users(request.app.ctx.sessions),
                         is_locked=users.is_locked, min_password=users.MIN_PASSWORD_LENGTH,
                         nav="users")


@bp.post("/users")
@staff("admin")
async def create_user(request: Request):
    form = request.form
    try:
        user = await users.create_user(
            request.app.ctx.sessions, form.get("username", ""), form.get("password", ""),
            form.get("role", ""), form.get("department") or None, _units(form.get("units", "")),
            form.get("display_name") or None, desk=form.get("desk") == "1")
    except users.UserError as exc:
        await auth.set_flash(request, "error", str(exc))
        return redirect("/console/users")
    _audit_account(request, "user_created", user.username, role=user.role,
                   department=user.department, units=user.units, desk=user.desk)
    await auth.set_flash(request, "ok", labels()["messages"]["user_created"].format(
        username=user.username))
    return redirect("/console/users")


@bp.get("/users/<user_id:int>")
@staff("admin")
async def user_page(request: Request, user_id: int):
    account = await users.get_user(request.app.ctx.sessions, user_id)
    if account is None:
        raise ApiError(404, "not_found", "user not found")
    return await _render(request, "user_edit.html", account=account, is_locked=users.is_locked,
                         min_password=users.MIN_PASSWORD_LENGTH, nav="users")


@bp.post("/users/<user_id:int>/<action:str>")
@staff("admin")
async def user_action(request: Request, user_id: int, action: str):
    sf, form, me = request.app.ctx.sessions, request.form, request.ctx.user
    here, messages = f"/console/users/{user_id}", labels()["messages"]
    if user_id == me.id and (action == "deactivate" or (
            action == "profile" and form.get("role") != me.role)):
        await auth.set_flash(request, "error", messages["not_self"])
        return redirect(here)
    try:
        if action == "profile":
            user = await users.update_profile(sf, user_id, form.get("role", ""),
                                              form.get("department") or None,
                                              _units(form.get("units", "")),
                                              form.get("display_name", ""),
                                              desk=form.get("desk") == "1")
        elif action == "password":
            user = await users.set_password(sf, user_id, form.get("password", ""))
        elif action in ("deactivate", "activate"):
            user = await users.set_active(sf, user_id, action == "activate")
        else:
            raise ApiError(404, "not_found", "no such action")
    except users.UserError as exc:
        await auth.set_flash(request, "error", str(exc))
        return redirect(here)
    _audit_account(request, f"user_{action}", user.username, role=user.role,
                   department=user.department, units=user.units, active=user.active)
    await auth.set_flash(request, "ok", messages[f"user_{action}"])
    return redirect(here)


# --- the unit directory (admin) ----------------------------------------------------------------

UNITS_SHOWN = 300
_ALIAS_SEP = re.compile(r"[\n,，、;；]+")


@bp.get("/units")
@staff("admin")
async def units_page(request: Request):
    region = request.args.get("region", "")
    if region not in regions():
        region = next(iter(regions()))
    q = (request.args.get("q") or "").strip()[:32]
    rows = await service.list_units(request.app.ctx.sessions, region)
    if q:
        rows = [u for u in rows if q in u["code"] or any(q in u[k] for k in ("name", "county", "office"))
                or any(q in a for a in u["aliases"])]
    return await _render(request, "units.html", units=rows[:UNITS_SHOWN], total=len(rows),
                         shown=min(len(rows), UNITS_SHOWN), region=region, q=q, regions=regions(),
                         region_name=regions()[region]["name"], nav="units")


@bp.post("/units/<code:str>")
@staff("admin")
async def edit_unit(request: Request, code: str):
    form = request.form
    back = "/console/units?" + urlencode({"region": form.get("region", ""), "q": form.get("q", "")})
    try:
        unit = await service.edit_unit(request.app.ctx.sessions, request.ctx.viewer, code,
                                       form.get("office", ""),
                                       _ALIAS_SEP.split(form.get("aliases", "")),
                                       ip=client_ip(request))
    except service.NotFound:
        raise ApiError(404, "not_found", "unit not found") from None
    except service.ValidationError as exc:
        await auth.set_flash(request, "error", str(exc))
        return redirect(back)
    await auth.set_flash(request, "ok", labels()["messages"]["unit_saved"].format(**unit))
    return redirect(back)
