"""投诉 and 主动发现 in the console: the supervisors' complaint list, a complaint's page and its
answer; the agents' call-back list (unreached notices, unclaimed handoffs, households clerks
flagged), each call's result. Thin handlers over referral.complaints and referral.service."""

from __future__ import annotations

import secrets

from sanic import Request, redirect

from console import auth
from console.views import _not_found, _render, bp, labels
from hotline.auth import staff
from hotline.callers import client_ip
from referral import complaints, domain, service


@bp.get("/complaints")
@staff("supervisor")
async def complaint_list(request: Request):
    status = request.args.get("status", "open")
    department = request.args.get("department") or None
    rows = await complaints.list_complaints(request.app.ctx.sessions, request.ctx.viewer,
                                            status if status in complaints.STATUSES else None,
                                            department if department in domain.departments() else None)
    return await _render(request, "complaints.html", rows=rows, shown=status,
                         idempotency_key=secrets.token_urlsafe(16),
                         department=department, nav="complaints")


@bp.post("/complaints")
@staff("supervisor")
async def complaint_new(request: Request):
    """A complaint that came another way (a letter, a call to the office): the supervisor files
    it for the citizen. The form's key makes a double submit one complaint."""
    f, L = request.form, labels()["complaints"]
    key = (f.get("idempotency_key") or "").strip()[:64]
    try:
        c = await complaints.file_by_staff(
            request.app.ctx.sessions, request.ctx.viewer, what_happened=f.get("what_happened", ""),
            wants=f.get("wants", ""), ticket_ref=(f.get("ticket") or "").strip() or None,
            department=(f.get("department") or "").strip() or None, conversation_id=None,
            phone=(f.get("phone") or "").strip() or None, channel="sms",
            source_key=f"console:complaint:{key}" if key else f"console:complaint:{secrets.token_hex(8)}")
    except service.ValidationError as exc:
        await auth.set_flash(request, "error", L["check"].format(message=exc))
        return redirect("/console/complaints")
    await auth.set_flash(request, "ok", L["filed"].format(**c))
    return redirect(f"/console/complaints/{c['reference_no']}")


@bp.get("/complaints/<reference_no:str>")
@staff("supervisor")
async def complaint_page(request: Request, reference_no: str):
    try:
        c = await complaints.get_complaint(request.app.ctx.sessions, request.ctx.viewer,
                                           reference_no, ip=client_ip(request))
    except complaints.NotFound:
        raise _not_found() from None
    return await _render(request, "complaint.html", c=c, nav="complaints")


@bp.post("/complaints/<reference_no:str>/answer")
@staff("supervisor")
async def complaint_answer(request: Request, reference_no: str):
    here = f"/console/complaints/{reference_no}"
    L = labels()["complaints"]
    try:
        await complaints.answer(request.app.ctx.sessions, request.ctx.viewer, reference_no,
                                request.form.get("outcome", ""), ip=client_ip(request))
    except complaints.NotFound:
        raise _not_found() from None
    except service.ValidationError:
        await auth.set_flash(request, "error", L["outcome_required"])
        return redirect(here)
    except domain.InvalidTransition:
        await auth.set_flash(request, "error", L["already_answered"])
        return redirect(here)
    await auth.set_flash(request, "ok", L["answered"])
    return redirect(here)


# --- the agents' call-back list ------------------------------------------------------------------

@bp.get("/desk/call-backs")
@staff(desk=True)
async def call_back_list(request: Request):
    rows = await service.list_call_backs(request.app.ctx.sessions, request.ctx.viewer)
    return await _render(request, "call_backs.html", rows=rows, nav="call_backs")


@bp.get("/desk/call-backs/<call_back_id:int>")
@staff(desk=True)
async def call_back_page(request: Request, call_back_id: int):
    try:
        c = await service.get_call_back(request.app.ctx.sessions, request.ctx.viewer, call_back_id,
                                        ip=client_ip(request))
    except LookupError:
        raise _not_found() from None
    return await _render(request, "call_back.html", c=c, nav="call_backs")


@bp.post("/desk/call-backs/<call_back_id:int>/result")
@staff(desk=True)
async def call_back_result(request: Request, call_back_id: int):
    L = labels()["call_backs"]
    try:
        c = await service.call_back_result(request.app.ctx.sessions, request.ctx.viewer, call_back_id,
                                           request.form.get("result", ""), request.form.get("note", ""),
                                           ip=client_ip(request))
    except LookupError:
        raise _not_found() from None
    except (service.ValidationError, domain.InvalidTransition):
        await auth.set_flash(request, "error", L["bad_result"])
        return redirect(f"/console/desk/call-backs/{call_back_id}")
    await auth.set_flash(request, "ok", L["done"][c["result"]] if c["status"] == "done" else L["again"])
    return redirect("/console/desk/call-backs")
