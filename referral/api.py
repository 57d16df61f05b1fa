"""HTTP entrypoints of the referral service: parse, call one service function, render.

Internal (service token): POST /api/referrals, POST /api/triage. Public: the citizen lookup
GET /api/referrals/{reference_no}. Staff (console session): /api/tickets..., /api/dashboard.
Access is declared per route and enforced by hotline/auth.py.
"""

from __future__ import annotations

import re

from sanic import Blueprint, Request, json

from hotline.auth import internal, public, staff
from hotline.callers import citizen_key, client_ip
from hotline.errors import ApiError, invalid, not_found, read_json
from hotline.privacy import mask_id_number
from referral import domain, needs, service, triage
from referral.access import TICKET_ROLES
from rules.regions import region_codes

bp = Blueprint("referral")

_PHONE_RE = re.compile(r"^\+?\d[\d\- ]{5,19}$")
_ID_RE = re.compile(r"^\d{17}[\dXx]$|^\d{15}$")
_REF_RE = re.compile(r"^12349-\d{8}-\d{4,}(?:-\d{3})?$")  # the check part since 2026-12
_LIMITS = {"citizen.name": 64, "description": 4000, "street": 64, "channel": 16,
           "conversation_id": 128, "citizen.id_number": 18}
# Wrong tries at the citizen lookup per hour: one client on one ticket, one client on any, and
# everyone on one ticket (a spread attack; a citizen can still ask an agent).
LOOKUP_TRIES_PER_CLIENT_AND_REFERENCE = 5
LOOKUP_TRIES_PER_CLIENT = 20
LOOKUP_TRIES_PER_REFERENCE = 30
LOOKUP_WINDOW_S = 3600


def _str(data: dict, path: str, required: bool = True) -> str | None:
    cur = data
    for part in path.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    if cur is None or (isinstance(cur, str) and not cur.strip()):
        if required:
            raise invalid(path, f"{path} is required")
        return None
    if not isinstance(cur, str):
        raise invalid(path, f"{path} must be a string")
    cur = cur.strip()
    if len(cur) > _LIMITS.get(path, 64):
        raise invalid(path, f"{path} is longer than {_LIMITS.get(path, 64)} characters")
    return cur


def parse_new_referral(data: dict) -> service.NewReferral:
    program = _str(data, "program")
    if program not in domain.PROGRAMS:
        raise invalid("program", f"unknown program {program!r}")
    region = _str(data, "region")
    if region not in region_codes():
        raise invalid("region", f"unknown region {region!r}")
    phone = _str(data, "citizen.phone")
    if not _PHONE_RE.match(phone):
        raise invalid("citizen.phone", "citizen.phone is not a phone number")
    id_number = _str(data, "citizen.id_number", required=False)
    if id_number is not None and not _ID_RE.match(id_number):
        raise invalid("citizen.id_number", "citizen.id_number is not a resident ID number")
    urgency = _str(data, "urgency", required=False) or "normal"
    if urgency not in domain.URGENCIES:
        raise invalid("urgency", "urgency must be normal or urgent")
    needs_routing = data.get("needs_routing", False)
    if not isinstance(needs_routing, bool):
        raise invalid("needs_routing", "needs_routing must be true or false")
    amount = data.get("amount_yuan")
    if amount is not None and (isinstance(amount, bool) or not isinstance(amount, int)
                               or not 0 < amount <= 10_000_000):
        raise invalid("amount_yuan", "amount_yuan must be a whole number of yuan above 0")
    return service.NewReferral(
        amount_yuan=amount,
        needs_routing=needs_routing,
        program=program, region=region, citizen_name=_str(data, "citizen.name"),
        citizen_phone=phone, description=_str(data, "description"), urgency=urgency,
        street=_str(data, "street", required=False),
        citizen_id_masked=mask_id_number(id_number) if id_number else None,
        channel=_str(data, "channel", required=False) or "api",
        conversation_id=_str(data, "conversation_id", required=False),
    )


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (1 <= len(key) <= 128):
        raise invalid("Idempotency-Key", "Idempotency-Key must be 1-128 characters")
    return key


async def _filed(call):
    try:
        body, created = await call
    except service.IdempotencyConflict:
        raise ApiError(409, "idempotency_conflict",
                       "this Idempotency-Key was used with a different request") from None
    except service.ValidationError as exc:
        raise invalid(exc.field, str(exc)) from None
    return json(body, status=201 if created else 200)


@bp.post("/api/referrals")
@internal
async def create(request: Request):
    req = parse_new_referral(await read_json(request))
    return await _filed(service.create_referral(request.app.ctx.sessions, req,
                                                _idempotency_key(request), actor=f"api:{req.channel}"))


MAX_REFERRALS = 8


@bp.post("/api/cases")
@internal
async def create_case(request: Request):
    """一门受理: one household, one case, a referral per program: the household's fields once
    (as for /api/referrals), `referrals`: [{"program", "description"?, "urgency"?,
    "amount_yuan"?}], `screen`: the eligibility screen's result, if one was made."""
    data = await read_json(request)
    items = data.get("referrals")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_REFERRALS \
            or not all(isinstance(i, dict) for i in items):
        raise invalid("referrals", f"referrals must be a list of 1-{MAX_REFERRALS} objects")
    screen = data.get("screen") or {}
    if not isinstance(screen, dict):
        raise invalid("screen", "screen must be an object")
    household = {k: v for k, v in data.items() if k not in ("referrals", "screen")}
    reqs = []
    for n, item in enumerate(items):
        try:
            reqs.append(parse_new_referral({**household, **item}))
        except ApiError as exc:
            exc.details = {**exc.details, "referral": n}
            raise
    opened_by = _str(data, "opened_by", required=False) or f"api:{reqs[0].channel}"
    return await _filed(service.create_case(request.app.ctx.sessions, reqs,
                                            _idempotency_key(request), actor=opened_by,
                                            screen=screen))


@bp.get("/api/referrals/<reference_no:str>")
@public()  # its own count of wrong tries, below
async def citizen_lookup(request: Request, reference_no: str):
    """Citizen-facing status. Needs the phone's last 4 digits. Every try is counted before the
    lookup (so a parallel burst cannot pass the limits together) for this client on this
    reference, this client on any reference, and anyone on this reference; a found ticket gives
    its try back. One client's wrong guesses lock only that client out of the ticket."""
    if not _REF_RE.match(reference_no):
        raise not_found("referral")
    last4 = request.args.get("phone_last4", "")
    redis = request.app.ctx.redis
    who = citizen_key(request)
    keys = {f"referral:lookup:{who}:{reference_no}": LOOKUP_TRIES_PER_CLIENT_AND_REFERENCE,
            f"referral:lookup:{who}": LOOKUP_TRIES_PER_CLIENT,
            f"referral:lookup:{reference_no}": LOOKUP_TRIES_PER_REFERENCE}
    async with redis.pipeline(transaction=True) as pipe:
        for key in keys:
            pipe.incr(key).expire(key, LOOKUP_WINDOW_S, nx=True)
        counts = (await pipe.execute())[::2]
    if any(n > limit for n, limit in zip(counts, keys.values(), strict=True)):
        raise ApiError(429, "too_many_attempts", "too many wrong attempts; try again later")
    view = await service.get_for_citizen(request.app.ctx.sessions, reference_no, last4)
    if view is None:
        raise not_found("referral")
    async with redis.pipeline(transaction=True) as pipe:
        for key in keys:
            pipe.decr(key)
        await pipe.execute()
    return json(view)


@bp.post("/api/triage")
@internal
async def triage_text(request: Request):
    """智能分拨 for a free text (e.g. an agent's summary of a phone call)."""
    data = await read_json(request)
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise invalid("text", "text is required")
    if len(text) > 2000:
        raise invalid("text", "text is longer than 2000 characters")
    region = data.get("region")
    if region is not None and (not isinstance(region, str) or region not in region_codes()):
        raise invalid("region", f"unknown region {region!r}")
    ctx = request.app.ctx
    try:
        parsed = await triage.parse(ctx.rasa_http, ctx.settings.rasa_url, text.strip(),
                                    ctx.settings.rasa_timeout_s)
    except triage.ParserUnavailable:
        raise ApiError(503, "bot_unavailable",
                       "the language model is not reachable; try again shortly") from None
    return json(triage.assess(parsed, text, region))


@bp.post("/api/cases/proposals")
@internal
async def case_proposals(request: Request):
    """一门受理: the referrals a description (every need read in it) and an eligibility screen
    (every program likely or possible) propose, for the citizen or the agent to confirm."""
    data = await read_json(request)
    text = data.get("text") or ""
    if not isinstance(text, str) or len(text) > 2000:
        raise invalid("text", "text must be a string of at most 2000 characters")
    screen = data.get("screen")
    if screen is not None and not isinstance(screen, dict):
        raise invalid("screen", "screen must be an object")
    if not text.strip() and not screen:
        raise invalid("text", "text or screen is required")
    ctx = request.app.ctx
    read = triage.need_reader(ctx.rasa_http, ctx.settings.rasa_url, ctx.settings.rasa_timeout_s)
    try:
        proposals = await needs.propose(text, read, screen)
    except triage.ParserUnavailable:
        raise ApiError(503, "bot_unavailable",
                       "the language model is not reachable; try again shortly") from None
    return json({"proposals": proposals, "clauses": needs.clauses(text)})


# --- staff API (console session) ----------------------------------------------------------------

async def _run(call):
    try:
        return await call
    except service.NotFound:
        raise not_found("ticket") from None
    except domain.InvalidTransition as exc:
        raise ApiError(409, "invalid_transition", str(exc)) from None
    except service.ValidationError as exc:
        raise invalid(exc.field, str(exc)) from None


def _bool_arg(request: Request, name: str) -> bool | None:
    value = request.args.get(name)
    return None if value in (None, "") else value in ("1", "true", "yes")


@bp.get("/api/tickets")
@staff(*TICKET_ROLES)
async def list_tickets(request: Request):
    viewer = request.ctx.viewer  # set by the access middleware (hotline/auth.py)
    try:
        limit = int(request.args.get("limit", 50))
        offset = int(request.args.get("offset", 0))
    except ValueError:
        raise invalid("limit", "limit and offset must be integers") from None
    rows, total = await service.list_tickets(
        request.app.ctx.sessions, viewer, department=request.args.get("department"),
        status=request.args.get("status"), program=request.args.get("program"),
        urgency=request.args.get("urgency"), q=request.args.get("q"),
        breached=_bool_arg(request, "breached"), limit=limit, offset=offset)
    return json({"total": total, "tickets": rows})


@bp.get("/api/tickets/<reference_no:str>")
@staff(*TICKET_ROLES)
async def get_ticket(request: Request, reference_no: str):
    viewer = request.ctx.viewer  # set by the access middleware (hotline/auth.py)
    return json(await _run(service.get_ticket(request.app.ctx.sessions, viewer, reference_no,
                                              ip=client_ip(request))))




@bp.post("/api/tickets/<reference_no:str>/<action:str>")
@staff(*TICKET_ROLES)
async def change_ticket(request: Request, reference_no: str, action: str):
    viewer = request.ctx.viewer  # set by the access middleware (hotline/auth.py)
    spec = service.ACTIONS.get(action)
    if spec is None:
        raise not_found("action")
    data = await read_json(request) if spec.fields else {}
    args = []
    for f in spec.fields:
        value = data.get(f)
        if not isinstance(value, str) or not value.strip():
            raise invalid(f, f"{f} is required")
        args.append(value)
    return json(await _run(spec.call(request.app.ctx.sessions, viewer, reference_no, *args,
                                     ip=client_ip(request))))


@bp.get("/api/dashboard")
@staff(*TICKET_ROLES)
async def dashboard(request: Request):
    return json({"departments": await service.dashboard(request.app.ctx.sessions,
                                                        request.ctx.viewer)})
