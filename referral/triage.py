"""智能分拨: what the bot understands of a free text and where the platform would route it.

A hotline agent pastes the gist of a phone call; the result pre-fills the referral form.
"""

from __future__ import annotations

import httpx

from hotline.db import utcnow
from referral import domain
from referral.service import iso_local
from rules.regions import regions

URGENT_INTENTS = {"report_emergency", "crisis"}


class ParserUnavailable(Exception):
    pass


async def parse(http: httpx.AsyncClient, rasa_url: str, text: str, timeout: float) -> dict:
    try:
        resp = await http.post(f"{rasa_url}/model/parse", json={"text": text}, timeout=timeout)
        resp.raise_for_status()
        return resp.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise ParserUnavailable(f"{type(exc).__name__}: {exc}") from exc


def need_reader(http: httpx.AsyncClient, rasa_url: str, timeout: float,
                parsed: dict[str, dict] | None = None):
    """`read(text)`: the classifier's need for a text (referral/needs.py reads each piece with
    it). `parsed` (text -> parse result) holds parses already made: a text is parsed once."""
    known = {} if parsed is None else parsed

    async def read(text: str) -> dict:
        if text not in known:
            known[text] = await parse(http, rasa_url, text, timeout)
        return known[text].get("need") or {}
    return read


def assess(parsed: dict, text: str, region: str | None) -> dict:
    """Pure part of triage: intent + entities + text -> program, department, urgency, SLA."""
    intent = parsed.get("intent") or {}
    name = intent.get("name")
    programs = [e["value"] for e in parsed.get("entities", [])
                if e.get("entity") == "program" and e.get("value") in domain.PROGRAMS]
    need = parsed.get("need") or {}
    # A program the citizen names; else the need the classifier read in the text (智能分拨).
    program = programs[0] if programs else need.get("program") if need.get("program") in \
        domain.PROGRAMS else None
    urgent = name in URGENT_INTENTS or any(k in text for k in domain.routing()["urgent_keywords"])
    result = {"intent": name, "confidence": round(float(intent.get("confidence") or 0), 4),
              "program": program, "department": None, "urgent": urgent,
              "need": {k: need[k] for k in ("confidence", "ranking") if k in need},
              "needs_routing": program is None}
    if program is None:
        # Unsure: the 一门受理 office (civil affairs) routes it; never silently wrong.
        result.update(department=domain.UNSURE_DEPARTMENT,
                      department_name=domain.department_name(domain.UNSURE_DEPARTMENT))
        return result
    region_name = regions().get(region or "", {}).get("name", "")
    route = domain.route(program, region or "", text=text, region_name=region_name)
    urgency = "urgent" if urgent else "normal"
    sla = domain.sla_for(program, urgency, route.department)
    first_due, resolution_due = sla.deadlines(utcnow())
    result.update(
        department=route.department,
        department_name=domain.department_name(route.department),
        handling_unit=route.handling_unit if region else None,
        route_source=route.source,
        suggested_sla={**sla.plain(), "first_response_due": iso_local(first_due),
                       "resolution_due": iso_local(resolution_due)},
    )
    return result
