"""Rules service HTTP entrypoints: parse, call one service function, render."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from sanic import Blueprint, Request, json
from sqlalchemy import select

from channels.models import Conversation
from hotline.auth import internal, public
from hotline.errors import invalid, not_found, read_json
from referral import outreach
from rules.assessment import texts
from rules.eligibility import screen
from rules.openfisca_hotline import tax_benefit_system
from rules.region_parameters import api_parameters
from rules.regions import regions
from rules.screen_request import CHINA

bp = Blueprint("rules")


@bp.before_server_start
async def _load_rules(app, _loop=None):
    # Parameters, variables and texts load once (≈0.5 s), at start-up rather than on the first
    # screen; a malformed parameter file stops the start instead of failing a citizen's request.
    tax_benefit_system()
    texts()
    # Screens run here, one at a time, off the event loop: OpenFisca is CPU work.
    app.ctx.rules_pool = ThreadPoolExecutor(1, thread_name_prefix="rules")


@bp.after_server_stop
async def _stop_rules(app, _loop=None):
    app.ctx.rules_pool.shutdown(wait=True)


@bp.get("/api/regions")
@public(limit="read")
async def list_regions(request: Request):
    return json([{"code": code, "name": r["name"]} for code, r in regions().items()])


@bp.get("/api/regions/<code:str>")
@public(limit="read")
async def get_region(request: Request, code: str):
    r = regions().get(code)
    if r is None:
        raise not_found("region")
    this_month = datetime.now(CHINA).date().replace(day=1).isoformat()
    return json({"code": code, "name": r["name"], "parameters": api_parameters(code, this_month)})


@bp.post("/api/eligibility/screen")
@internal
async def screen_household(request: Request):
    data = await read_json(request)
    result = await asyncio.get_running_loop().run_in_executor(request.app.ctx.rules_pool, screen, data)
    contact = await _contact(request.app.ctx.sessions, data.get("contact"))
    if contact:  # kept for re-screening when a standard changes (referral/outreach.py)
        told = {k: v for k, v in data.items() if k not in ("contact", "consent_to_contact", "as_of")}
        result["screen_id"] = await outreach.keep_screen(
            request.app.ctx.sessions, told, result, contact, data.get("consent_to_contact") is True)
    return json(result, ensure_ascii=False)


async def _contact(sf, raw) -> dict | None:
    """Who was screened, when the caller says: {"sender": "<channel>:<id>"} (the bot's sender
    key), {"conversation_id"} or {"phone"}, with the channel. None: the screen is not kept."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise invalid("contact", "contact must be an object")
    out = {k: raw[k] for k in ("channel", "conversation_id", "phone") if isinstance(raw.get(k), (str, int))}
    sender = raw.get("sender")
    if isinstance(sender, str) and ":" in sender:
        channel, contact_id = sender.split(":", 1)
        async with sf() as s:
            conv = await s.scalar(select(Conversation).where(
                Conversation.channel == channel, Conversation.contact_id == contact_id))
        if conv is not None:
            out |= {"channel": conv.channel, "conversation_id": conv.id}
    if out.get("phone") is not None and not isinstance(out["phone"], str):
        raise invalid("contact.phone", "contact.phone must be a string")
    return out if (out.get("conversation_id") or out.get("phone")) else None
