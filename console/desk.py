"""The agents' desk in the console (坐席工作台): the waiting queue, a conversation's page, the
live event stream, canned replies and the supervisor's figures. Thin handlers over
channels.desk; the pages use the console's login, CSRF and security headers.

Live: `GET /console/desk/events` is a Server-Sent Events stream read from the Redis stream the
gateway and the outbound path write (channels.events), so it works with several app processes
behind a load balancer. Each event carries its stream id; a page that reconnects (EventSource
does by itself) sends Last-Event-ID and resumes from there, losing nothing.
"""

from __future__ import annotations

import asyncio
import json
import secrets

from sanic import Request, redirect
from sanic import json as json_response

from channels import desk, events
from channels.phones import citizen_number, national
from channels.rasa_client import tracker_slots
from console import auth
from console.views import _render, bp, labels
from hotline.auth import staff
from hotline.callers import client_ip
from hotline.db import utcnow
from hotline.errors import ApiError
from hotline.privacy import mask_phone
from referral import complaints, domain, needs, service, triage
from referral.access import PermissionDenied
from rules.regions import regions

# The console's own blueprint: its login, CSP nonce, security headers and error pages apply.
STREAM_BLOCK_MS = 5000
STREAM_SPAN_S = 45  # then the stream ends and the page reconnects with Last-Event-ID


def _wants_json(request: Request) -> bool:
    return request.content_type.startswith("application/json") or \
        "application/json" in request.headers.get("accept", "")


def _desk_error(exc: desk.DeskError) -> ApiError:
    status = {"not_found": 404, "held": 409, "voice": 409, "conflict": 409}.get(exc.code, 422)
    return ApiError(status, exc.code, str(exc), **exc.details)


def _region_names() -> dict[str, str]:
    return {code: r["name"] for code, r in regions().items()}


def _now_ms() -> int:
    return int(utcnow().timestamp() * 1000)


async def _latest_event_id(redis) -> str:
    """Where a page rendered now starts following the stream (nothing between is missed)."""
    last = await redis.xrevrange(events.STREAM, count=1)
    return last[0][0] if last else "0-0"


# --- pages ----------------------------------------------------------------------------------------

@bp.get("/desk", strict_slashes=False)
@staff(desk=True)
async def queue_page(request: Request):
    sf = request.app.ctx.sessions
    q = (request.args.get("q") or "").strip()[:32]
    found = await desk.search(sf, q) if q or "search" in request.args else None
    return await _render(request, "desk.html", nav="desk", waiting=await desk.waiting(sf),
                         mine=await desk.held_by(sf, request.ctx.viewer), found=found, q=q,
                         last_event=await _latest_event_id(request.app.ctx.redis),
                         regions=regions(), region_names=_region_names(), now_ms=_now_ms())


@bp.get("/desk/queue.json")
@staff(desk=True)
async def queue_json(request: Request):
    sf = request.app.ctx.sessions
    return json_response({"waiting": await desk.waiting(sf),
                          "mine": await desk.held_by(sf, request.ctx.viewer)})


async def _prefill(request: Request, view: dict) -> dict:
    """The ticket form, filled from what the bot knew (its slots) and 智能分拨 (triage)."""
    ctx = request.app.ctx
    slots = await tracker_slots(ctx.rasa_http, ctx.settings.rasa_url, view["conversation"]["sender"])
    said = "；".join(m["text"] for m in view["messages"] if m["direction"] == "in" and m["text"])[-800:]
    region = slots.get("region") or view["conversation"]["region"]
    suggestion, parsed = {}, {}  # parsed: text -> parse, shared with the needs read below
    if said:
        try:
            parsed[said[-400:]] = await triage.parse(ctx.rasa_http, ctx.settings.rasa_url, said[-400:], 5)
            suggestion = triage.assess(parsed[said[-400:]], said, region if region in regions() else None)
        except triage.ParserUnavailable:
            suggestion = {}
    phone = _known_phone(slots, view["conversation"])
    told = slots.get("help_description") or said
    program = slots.get("program") or suggestion.get("program") or ""
    return {"also": await _other_needs(request, told, slots, program, parsed),
            "citizen_name": slots.get("citizen_name") or "", "phone": mask_phone(phone) if phone else "",
            "region": region or "", "street": slots.get("street") if slots.get("street") != "unknown" else "",
            "description": slots.get("help_description") or said,
            "program": program,
            "suggested_department": suggestion.get("department_name") or "",
            "urgent": bool(suggestion.get("urgent"))}


async def _other_needs(request: Request, told: str, slots: dict, first: str | None,
                       parsed: dict[str, dict]) -> list[str]:
    """一门受理: the programs to tick beside the first: those the citizen confirmed to the bot,
    else every need read in what they told and every program the bot's screen found hopeful."""
    chosen = slots.get("referral_choice")
    if isinstance(chosen, list):
        return [p for p in chosen if p != first]
    ctx = request.app.ctx
    read = triage.need_reader(ctx.rasa_http, ctx.settings.rasa_url, 5, parsed)
    try:
        proposals = await needs.propose(told[-400:], read,
                                        {"programs": slots.get("screened_programs") or []})
    except triage.ParserUnavailable:
        return []
    return [p["program"] for p in proposals if p["program"] != first]


def _known_phone(slots: dict, conv: dict) -> str | None:
    """The number the bot was given, else the one the citizen writes or calls from."""
    number = slots.get("phone") or conv.get("phone") or (
        conv["contact_id"] if conv["channel"] in ("sms", "voice") else None)
    return national(str(number)) or (str(number) if number else None)


@bp.get("/desk/conversations/<conv_id:int>")
@staff()
async def conversation_page(request: Request, conv_id: int):
    viewer, sf = request.ctx.viewer, request.app.ctx.sessions
    try:
        view = await desk.transcript(sf, viewer, conv_id, ip=client_ip(request))
    except desk.DeskError as exc:
        raise _desk_error(exc) from None
    prefill = await _prefill(request, view) if viewer.on_desk else {}
    prefill["idempotency_key"] = secrets.token_urlsafe(16)  # this drawing of the ticket form
    prefill["complaint_key"] = secrets.token_urlsafe(16)  # and of the complaint form
    return await _render(request, "desk_conversation.html", nav="desk", v=view, prefill=prefill,
                         canned=await desk.canned(sf) if viewer.on_desk else [],
                         last_event=await _latest_event_id(request.app.ctx.redis),
                         regions=regions(), programs=domain.PROGRAMS,
                         queue_name=request.app.ctx.settings.channels.voice_agent_queue)


@bp.get("/desk/conversations/<conv_id:int>/messages.json")
@staff()
async def messages_json(request: Request, conv_id: int):
    viewer, sf = request.ctx.viewer, request.app.ctx.sessions
    if not await desk.may_read(sf, viewer, conv_id):
        raise ApiError(404, "not_found", "conversation not found")
    try:
        after = int(request.args.get("after", "0"))
    except ValueError:
        raise ApiError(422, "invalid", "after must be a message id", field="after") from None
    return json_response({"conversation": await desk.one(sf, conv_id),
                          "messages": await desk.messages_after(sf, conv_id, after)})


# --- actions on a conversation ---------------------------------------------------------------

def _args(request: Request) -> dict:
    if request.content_type.startswith("application/json"):
        return request.json if isinstance(request.json, dict) else {}
    args = {k: request.form.get(k, "") for k in request.form}
    if "also" in request.form:  # the ticket form's other programs: checkboxes, several values
        args["also"] = request.form.getlist("also")
    return args


async def _act(request: Request, conv_id: int, action: str, data: dict):
    ctx, viewer, ip = request.app.ctx, request.ctx.viewer, client_ip(request)
    sf, redis, outbound = ctx.sessions, ctx.redis, ctx.outbound
    calls = {
        "claim": lambda: desk.claim(sf, redis, viewer, conv_id, ip),
        "release": lambda: desk.release(sf, redis, viewer, conv_id, ip),
        "transfer": lambda: desk.transfer(sf, redis, viewer, conv_id, str(data.get("to", "")), ip),
        "reply": lambda: desk.reply(sf, outbound, viewer, conv_id, str(data.get("text", "")), ip),
        "note": lambda: desk.note(sf, redis, viewer, conv_id, str(data.get("text", "")), ip),
        "hand_back": lambda: desk.hand_back(sf, outbound, viewer, conv_id, ip),
        "resolve": lambda: desk.resolve(sf, outbound, viewer, conv_id, ip),
        "ticket": lambda: _file_ticket(request, conv_id, data),
        "attach": lambda: _attach(request, conv_id, data),
        "complain": lambda: _complain(request, conv_id, data),
    }
    if action not in calls:
        raise ApiError(404, "not_found", "no such action")
    return await calls[action]()


async def _complain(request: Request, conv_id: int, data: dict) -> dict:
    """The agent files the citizen's complaint (about a referral of theirs, else the department
    they name): it goes to the supervisors, not to the clerk complained about."""
    conv = await _held(request, conv_id)
    key = str(data.get("complaint_key") or "").strip()[:64] or secrets.token_hex(8)
    try:
        return await complaints.file_by_staff(
            request.app.ctx.sessions, request.ctx.viewer,
            what_happened=str(data.get("what_happened", "")), wants=str(data.get("wants", "")),
            ticket_ref=str(data.get("ticket", "")).strip() or None,
            department=str(data.get("department", "")).strip() or None, conversation_id=conv.id,
            phone=citizen_number(conv),
            channel=conv.channel, source_key=f"desk:complaint:{conv_id}:{key}")
    except service.ValidationError as exc:
        raise desk.DeskError("invalid", str(exc), field=exc.field) from None


async def _held(request: Request, conv_id: int):
    """The conversation, if the caller holds it (filing and attaching are the holder's)."""
    async with request.app.ctx.sessions() as s:
        conv = await desk.conversation(s, conv_id)
    if not desk.holds(conv, request.ctx.viewer):
        raise desk.HeldBy(conv.assignee, conv.status)
    return conv


def _idempotency_key(request: Request, conv_id: int, data: dict) -> str | None:
    """The form's own key (a fresh one each time the page is drawn) or an API caller's
    Idempotency-Key: pressing the button twice, or a retried request, files one referral."""
    key = str(data.get("idempotency_key") or request.headers.get("idempotency-key") or "").strip()
    if not key:
        return None
    if len(key) > 64:
        raise desk.DeskError("invalid", "idempotency_key is longer than 64 characters",
                             field="idempotency_key")
    return f"desk:ticket:{conv_id}:{key}"


async def _file_ticket(request: Request, conv_id: int, data: dict) -> dict:
    """A case from the conversation: the form's fields, a referral for its program and for each
    other program ticked (`also`), the conversation linked."""
    from referral.api import parse_new_referral

    ctx, viewer, sf = request.app.ctx, request.ctx.viewer, request.app.ctx.sessions
    conv = await _held(request, conv_id)
    phone = str(data.get("phone") or "").strip()
    if "*" in phone:  # the form shows the number masked: unchanged, it stands for the real one
        slots = await tracker_slots(ctx.rasa_http, ctx.settings.rasa_url, conv.sender_key)
        known = _known_phone(slots, {"phone": conv.phone, "contact_id": conv.contact_id,
                                     "channel": conv.channel})
        phone = known if known and mask_phone(known) == phone else phone
    body = {"program": data.get("program"), "region": data.get("region"),
            "street": data.get("street") or None, "description": data.get("description"),
            "urgency": "urgent" if data.get("urgent") in ("1", True, "true") else "normal",
            "citizen": {"name": data.get("citizen_name"), "phone": phone},
            "channel": conv.channel, "conversation_id": str(conv_id)}
    also = data.get("also") or []
    if not isinstance(also, list) or not all(isinstance(p, str) for p in also):
        raise desk.DeskError("invalid", "also must be a list of programs", field="also")
    # 一门受理: the program chosen and each other need ticked: one case, a referral each
    programs = list(dict.fromkeys([str(body["program"] or ""), *also]))
    reqs = [parse_new_referral({**body, "program": p}) for p in programs]
    try:
        ticket, created = await service.create_case(sf, reqs, _idempotency_key(request, conv_id, data),
                                                    actor=viewer.actor, view=service.created_view)
    except service.IdempotencyConflict:
        raise desk.DeskError("conflict", labels()["desk"]["ticket_form_used"]) from None
    except service.ValidationError as exc:
        raise desk.DeskError("invalid", str(exc), field=exc.field) from None
    ticket["referrals"] = len(reqs)
    if created:
        await service.record_audit(sf, viewer.actor, "conversation_ticket", {"conversation_id": conv_id},
                                   client_ip(request), ticket["reference_no"])
    return ticket


async def _attach(request: Request, conv_id: int, data: dict) -> dict:
    conv = await _held(request, conv_id)
    phone = conv.phone or (conv.contact_id if conv.channel in ("sms", "voice") else None)
    try:
        return await service.attach_conversation(request.app.ctx.sessions, request.ctx.viewer,
                                                 str(data.get("reference_no", "")).strip(), conv_id,
                                                 national(phone) if phone else None,
                                                 ip=client_ip(request))
    except service.NotFound:
        raise desk.DeskError("invalid", "没有这个编号的转介", field="reference_no") from None
    except service.ValidationError as exc:
        raise desk.DeskError("invalid", str(exc), field=exc.field) from None


@bp.post("/desk/conversations/<conv_id:int>/<action:str>")
@staff(desk=True)
async def conversation_action(request: Request, conv_id: int, action: str):
    data = _args(request)
    here = f"/console/desk/conversations/{conv_id}"
    try:
        result = await _act(request, conv_id, action, data)
    except desk.DeskError as exc:
        if _wants_json(request):
            raise _desk_error(exc) from None
        await auth.set_flash(request, "error", str(exc))
        return redirect(here)
    except (ApiError, PermissionDenied) as exc:
        if _wants_json(request):
            raise
        await auth.set_flash(request, "error", labels()["desk"]["check"].format(message=exc))
        return redirect(here)
    if _wants_json(request):
        return json_response(result)
    done = labels()["desk"]["done"][action]
    await auth.set_flash(request, "ok", done.format(**result) if isinstance(result, dict) else done)
    return redirect("/console/desk" if action in ("hand_back", "resolve", "release", "transfer") else here)


# --- live ----------------------------------------------------------------------------------------

@bp.get("/desk/events")
@staff(desk=True)
async def event_stream(request: Request):
    """Server-Sent Events from the conversations' Redis stream; resumes from Last-Event-ID."""
    redis, viewer = request.app.ctx.redis, request.ctx.viewer
    last = request.headers.get("Last-Event-ID") or request.args.get("last") or "$"
    response = await request.respond(content_type="text/event-stream; charset=utf-8",
                                     headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
    await response.send("retry: 1000\n\n")
    loop = asyncio.get_running_loop()
    ends = loop.time() + STREAM_SPAN_S
    try:
        while loop.time() < ends:
            await desk.mark_online(redis, viewer)
            got = await request.app.ctx.redis_stream.xread({events.STREAM: last},
                                                           block=STREAM_BLOCK_MS, count=200)
            if not got:
                await response.send(": waiting\n\n")
                continue
            for entry_id, fields in got[0][1]:
                event = events.decode(entry_id, fields)
                await response.send(f"id: {entry_id}\nevent: {event['kind']}\n"
                                    f"data: {json.dumps(event, ensure_ascii=False)}\n\n")
                last = entry_id
    finally:
        await response.eof()


# --- canned replies and the supervisor's view ----------------------------------------------------

@bp.get("/desk/canned")
@staff(desk=True)
async def canned_page(request: Request):
    return await _render(request, "desk_canned.html", nav="desk",
                         canned=await desk.canned(request.app.ctx.sessions))


@bp.post("/desk/canned")
@staff("supervisor")
async def canned_save(request: Request):
    form, sf, viewer = request.form, request.app.ctx.sessions, request.ctx.viewer
    try:
        if form.get("delete"):
            await desk.delete_canned(sf, viewer, form.get("code", ""))
        else:
            await desk.save_canned(sf, viewer, form.get("code", ""), form.get("text", ""))
    except desk.DeskError as exc:
        await auth.set_flash(request, "error", str(exc))
        return redirect("/console/desk/canned")
    await auth.set_flash(request, "ok", labels()["desk"]["canned_saved"])
    return redirect("/console/desk/canned")


@bp.get("/desk/supervisor")
@staff("supervisor")
async def supervisor_page(request: Request):
    ctx = request.app.ctx
    return await _render(request, "desk_supervisor.html", nav="desk_supervisor",
                         f=await desk.figures(ctx.sessions, ctx.redis),
                         waiting=await desk.waiting(ctx.sessions), regions=regions())


@bp.get("/desk/supervisor.json")
@staff("supervisor")
async def supervisor_json(request: Request):
    ctx = request.app.ctx
    return json_response(await desk.figures(ctx.sessions, ctx.redis))
