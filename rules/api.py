"""Rules service HTTP entrypoints."""

from __future__ import annotations

from sanic import Blueprint, Request, json

from hotline.errors import not_found
from rules.regions import regions

bp = Blueprint("rules")


@bp.get("/api/regions")
async def list_regions(request: Request):
    return json([{"code": code, "name": r["name"]} for code, r in regions().items()])


@bp.get("/api/regions/<code:str>")
async def get_region(request: Request, code: str):
    r = regions().get(code)
    if r is None:
        raise not_found("region")
    return json({"code": code, "name": r["name"], "parameters": {}})
