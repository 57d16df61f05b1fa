"""The eligibility screen (POST /api/eligibility/screen), as one service function: validate,
compute with the OpenFisca rules, assess each program, render the contract's response shape
(ARCHITECTURE.md §4.2). No I/O: the rules and texts are loaded once per process."""

from __future__ import annotations

from referral.domain import department_for
from rules.assessment import Context, ProgramResult, assess, texts, yuan
from rules.region_parameters import RegionParameter, region_parameters
from rules.screen_request import parse_screen_request
from rules.simulation import compute


def screen(data: dict) -> dict:
    """Raises hotline.errors.ApiError (422 naming the field, 404 unknown region)."""
    req = parse_screen_request(data)
    facts = compute(req)
    params = region_parameters(req.region, req.as_of.replace(day=1).isoformat())
    ctx = Context(req, facts, params)
    results = assess(ctx)
    unverified = [ctx.params[p] for p in dict.fromkeys(p for r in results for p in r.rests_on)
                  if not ctx.params[p].verified]
    return {
        "region": req.region,
        "as_of": req.as_of.isoformat(),
        "programs": [_program(r) for r in results],
        "missing": list(dict.fromkeys(m for r in results if r.status == "need_more_info"
                                      for m in r.missing)),
        "warnings": list(dict.fromkeys(unverified_warning(ctx.region_name, p) for p in unverified)),
    }


def _program(r: ProgramResult) -> dict:
    return {
        "program": r.program,
        "status": r.status,
        "reasons": r.reasons,
        "estimated_monthly_amount": r.amount,
        "department": department_for(r.program),  # referral routing owns the division of duties
        "citations": [_citation(c) for c in dict.fromkeys(r.citations)],
    }


def _citation(reference: str) -> dict:
    document, _, clause = reference.partition(" ")
    return {"document": document, "clause": clause}


def _display(p: RegionParameter) -> str:
    if p.unit == "比例":
        return f"{p.value * 100:g}%"
    if p.unit.startswith("元"):
        return f"{yuan(p.value)}{p.unit}"
    return f"{p.value:g}{p.unit}"


def unverified_warning(region_name: str, p: RegionParameter) -> str:
    """Plain Chinese: this result rests on a value the documents do not state."""
    t = texts()["warnings"]
    if p.value is True:
        return t["unverified_on"].format(region=region_name, label=p.description)
    if not p.value:
        return t["unverified_off"].format(region=region_name, label=p.description)
    if p.unit.startswith("元"):  # a placeholder amount is not shown, nor anything computed from it
        return t["unverified_amount"].format(region=region_name, label=p.description)
    return t["unverified_value"].format(region=region_name, label=p.description, value=_display(p))
