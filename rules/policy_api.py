"""GET /api/policy — the policy knowledge base (rules/knowledge.py), for the bot and the agents.

Query parameters:
  program  required  a program code of ARCHITECTURE.md §4.1 (dibao, tekun, … elderly_care)
  aspect   optional  条件 | 标准 | 金额 | 材料 | 流程 | 时限 | 部门
  region   optional  a seeded region code (320200, 430200, 511700, 220000, 341503); without it,
                     the region-independent answer

With an aspect, 200 and one answer:
  {"program": "temporary", "aspect": "金额", "region": "341503",
   "short": "…(SMS, ≤3 sentences, ≤120 characters)…", "long": "…(for the agent)…",
   "citations": [{"document": "004_661d87b0b2d25674.txt", "clause": "四(三)2"}],
   "verified": true}
  "region" is the region whose answer was used, or "default" when that region's own document
  says nothing specific on this aspect. "verified": false means the documents do not settle the
  question for that place and the answer points the citizen to the local office.

Without an aspect, 200 and every aspect of the program, in the order of knowledge.ASPECTS:
  {"program": "dibao", "name": "最低生活保障（低保）", "region": "430200" | null,
   "answers": [<one answer as above>, …]}

Errors (hotline.errors): 422 {"error": {"code": "invalid", "field": "program" | "aspect", …}}
when program is missing or unknown or aspect is unknown; 404 {"error": {"code": "not_found", …}}
when region is not a seeded region. JSON is UTF-8 with the Chinese text unescaped.
"""

from __future__ import annotations

import json as jsonlib
from functools import partial

from sanic import Blueprint, Request, json

from hotline.auth import public
from hotline.errors import invalid, not_found
from rules import knowledge
from rules.regions import regions

bp = Blueprint("policy")
_dumps = partial(jsonlib.dumps, ensure_ascii=False, separators=(",", ":"))  # readable Chinese


@bp.before_server_start
async def _load_knowledge(app, _loop=None):
    knowledge.knowledge()  # read and validate the files once, before the first request


def _param(request: Request, name: str) -> str | None:
    value = (request.args.get(name) or "").strip()
    return value or None


@bp.get("/api/policy")
@public(limit="read")
async def get_policy(request: Request):
    program, aspect, region = (_param(request, k) for k in ("program", "aspect", "region"))
    if program is None:
        raise invalid("program", "program is required, e.g. ?program=dibao")
    if program not in knowledge.knowledge():
        raise invalid("program", f"unknown program {program!r}; see ARCHITECTURE.md §4.1 for the codes")
    if aspect is not None and aspect not in knowledge.ASPECTS:
        raise invalid("aspect", f"unknown aspect {aspect!r}; aspects are {'、'.join(knowledge.ASPECTS)}")
    if region is not None and region not in regions():
        raise not_found("region")
    if aspect is not None:
        return json(knowledge.lookup(program, aspect, region), dumps=_dumps)
    return json(
        {
            "program": program,
            "name": knowledge.program_name(program),
            "region": region,
            "answers": [knowledge.lookup(program, a, region) for a in knowledge.ASPECTS],
        },
        dumps=_dumps,
    )
