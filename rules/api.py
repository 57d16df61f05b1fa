"""Rules service HTTP entrypoints: parse, call one service function, render."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from sanic import Blueprint, Request, json

from hotline.auth import internal, public
from hotline.errors import not_found, read_json
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
    return json(result, ensure_ascii=False)
