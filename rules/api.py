"""Rules service HTTP entrypoints: parse, call one service function, render."""

from __future__ import annotations

from datetime import datetime

from sanic import Blueprint, Request, json

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


@bp.get("/api/regions")
async def list_regions(request: Request):
    return json([{"code": code, "name": r["name"]} for code, r in regions().items()])


@bp.get("/api/regions/<code:str>")
async def get_region(request: Request, code: str):
    r = regions().get(code)
    if r is None:
        raise not_found("region")
    this_month = datetime.now(CHINA).date().replace(day=1).isoformat()
    return json({"code": code, "name": r["name"], "parameters": api_parameters(code, this_month)})


@bp.post("/api/eligibility/screen")
async def screen_household(request: Request):
    # CPU-bound and short (a few ms of OpenFisca); no I/O happens here.
    return json(screen(await read_json(request)), ensure_ascii=False)
