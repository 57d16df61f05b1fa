"""From computed facts to a status per program, with reasons a citizen understands.

Each program is assessed along one or more routes (低保: as a household, by the phase-out period,
or a member on their own as a “单人户”). A route is a list of findings; a finding is one
condition of the documents, met (True), not met (False) or unknown for want of information
(None), and names the region parameters it rests on. A route's status:

- not_eligible       a condition is not met;
- need_more_info     otherwise, some condition cannot be judged without more information;
- possibly_eligible  otherwise, a finding rests on a value the documents do not state
                     (verified: false) or on an assessment only the office can make
                     (住房困难标准、单独纳入须本人申请、支出型救助的审核确认 …);
- likely_eligible    every condition is met on verified values.

A result resting on an unverified value says so in its reasons, and the response carries a
warning naming the value. The program's status is that of its best route.

No amount from a value the documents do not state: a yuan figure computed from an unverified
value (the 低保 standard of most regions, a placeholder multiplier or number of months …) is
not shown. The sentence states the rule in words instead (差额发放, 低保标准的N倍, N个月的低保
标准), the estimated amount is null, and the reasons ask the citizen to confirm the local
standard with the 乡镇（街道）or 12349 (Context.figure, Context.pick).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

from rules.region_parameters import RegionParameter
from rules.regions import regions
from rules.screen_request import ScreenRequest
from rules.simulation import Facts

RANK = {"not_eligible": 0, "need_more_info": 1, "possibly_eligible": 2, "likely_eligible": 3}
BASE_PROGRAMS = ("dibao", "tekun", "low_income", "expenditure_hardship")


@cache
def texts() -> dict:
    path = Path(__file__).with_name("screening_texts.yml")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def yuan(amount: float) -> str:
    """700.0 → "700", 561.0833 → "561.08"."""
    return f"{amount:.2f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class Finding:
    ok: bool | None
    text: str
    params: tuple[str, ...] = ()  # region parameters the finding rests on
    missing: tuple[str, ...] = ()  # request fields to ask for when ok is None
    judgement: bool = False  # rests on an assessment the screen cannot make


@dataclass
class Route:
    findings: list[Finding]
    amount: float | None = None  # estimated_monthly_amount when eligible
    notes: list[str] = field(default_factory=list)  # what the citizen gets, shown when eligible
    note_params: tuple[str, ...] = ()  # parameters the amount and notes rest on
    citations: list[str] = field(default_factory=list)  # "<file> <clause>"
    if_not: list[str] = field(default_factory=list)  # said when the program is not eligible


@dataclass
class ProgramResult:
    program: str
    status: str
    reasons: list[str]
    amount: float | None
    citations: list[str]
    missing: list[str]
    rests_on: list[str]  # parameters the result rests on (for unverified-value warnings)


class Context:
    """Everything an assessment needs about one request."""

    def __init__(self, req: ScreenRequest, facts: Facts, params: dict[str, RegionParameter]):
        self.req, self.facts, self.params = req, facts, params
        self.h = facts.household
        self.region_name = regions()[req.region]["name"]
        self.withheld: set[str] = set()  # unverified values a figure of this program was not shown for

    def value(self, path: str):
        return self.params[path].value

    def verified(self, path: str) -> bool:
        return self.params[path].verified

    def text(self, key: str, **values) -> str:
        return texts()["findings"][key].format(**values)

    def note(self, key: str, **values) -> str:
        return texts()["notes"][key].format(**values)

    # --- figures: no amount from a value the documents do not state ---------------------------
    def firm(self, *params: str) -> bool:
        return all(self.verified(p) for p in params)

    def _withhold(self, params: Sequence[str]) -> bool:
        """Whether a figure computed from `params` must not be shown (and remember why)."""
        unverified = [p for p in params if not self.verified(p)]
        self.withheld.update(unverified)
        return bool(unverified)

    def figure(self, key: str, params: Sequence[str], **values) -> str:
        """A yuan figure inside a sentence (texts `figures`), or its rule form when the figure
        is computed from an unverified value."""
        entry = texts()["figures"][key]
        return entry["rule" if self._withhold(params) else "figure"].format(**values)

    def pick(self, key: str, params: Sequence[str], **values) -> str:
        """A note stating an amount, or its `<key>_rule` twin (the rule in words) when the
        amount is computed from an unverified value."""
        return self.note(f"{key}_rule" if self._withhold(params) else key, **values)

    def provision(self, program: str) -> dict:
        """What the program gives here: the region's entry over the program's default."""
        by_region = texts()["provisions"].get(program, {})
        return {**by_region.get("default", {}), **by_region.get(self.req.region, {})}

    def who(self, i: int) -> str:
        age = self.req.members[i].age
        people = texts()["people"]
        return (people["member"].format(n=i + 1) if age is None
                else people["member_with_age"].format(n=i + 1, age=age))

    # --- income ------------------------------------------------------------------------------
    @property
    def standard_param(self) -> str:
        rural = self.req.area == "rural"
        return "dibao.standard_rural_yearly" if rural else "dibao.standard_urban_monthly"

    @property
    def income_params(self) -> tuple[str, ...]:
        if not self.h["has_employed_member"]:
            return (self.standard_param,)
        shares = ("employment_deduction.share_of_dibao_standard",
                  "employment_deduction.share_of_minimum_wage")
        wage = ("minimum_wage_monthly",) if self.value(shares[1]) else ()
        return (self.standard_param, *shares, *wage)

    @property
    def income_missing(self) -> tuple[str, ...]:
        return ((() if self.req.income_known else ("household.monthly_income",))
                + (() if self.req.area else ("area",)))

    @property
    def deduction_params(self) -> tuple[str, ...]:
        """The values the employment-cost deduction is computed from, when there is one."""
        if not self.h["employment_cost_deductions"]:
            return ()
        out: tuple[str, ...] = ()
        if self.value("employment_deduction.share_of_dibao_standard"):
            out += ("employment_deduction.share_of_dibao_standard", self.standard_param)
        if self.value("employment_deduction.share_of_minimum_wage") and self.value("minimum_wage_monthly"):
            out += ("employment_deduction.share_of_minimum_wage", "minimum_wage_monthly")
        return out

    def standard_figure(self) -> str:
        return self.figure("standard", (self.standard_param,), amount=yuan(self.h["dibao_standard"]))

    def income_values(self) -> dict:
        """per_capita, after (rigid expenses deducted), deduction and standard, as shown. A
        deduction computed from an unverified value is stated as a rule, and the incomes shown
        are then before it."""
        h, n = self.h, len(self.req.members)
        deduction, params = h["employment_cost_deductions"], self.deduction_params
        if not deduction:
            per_capita, after, note = h["per_capita_income"], h["per_capita_income_after_rigid_expenses"], ""
        elif not self._withhold(params):
            per_capita, after = h["per_capita_income"], h["per_capita_income_after_rigid_expenses"]
            note = texts()["figures"]["deduction"]["figure"].format(amount=yuan(deduction))
        else:
            gross = self.req.gross_income
            rigid = sum((self.req.rigid_expenses or {}).values())
            per_capita, after = gross / n, max(gross - rigid, 0) / n
            shares = texts()["deduction_shares"]
            share = "或".join(shares[k].format(percent=f"{self.value(f'employment_deduction.{k}') * 100:g}")
                             for k in shares if f"employment_deduction.{k}" in params)
            note = texts()["figures"]["deduction"]["rule"].format(share=share)
        return {"per_capita": yuan(per_capita), "after": yuan(after), "deduction": note,
                "standard": self.standard_figure()}

    def unknown_income(self) -> Finding:
        keys = {"household.monthly_income": "income_unknown", "area": "area_unknown"}
        missing = self.income_missing
        return Finding(None, "".join(self.text(keys[m]) for m in missing), missing=missing)

    def income_finding(self, ok: bool, pass_key: str, fail_key: str,
                       params: tuple[str, ...] = (), **values) -> Finding:
        if self.income_missing:
            return self.unknown_income()
        key = pass_key if ok else fail_key
        # With no income at all, any standard or deduction gives the same answer.
        rests_on = () if self.req.gross_income == 0 else self.income_params + params
        return Finding(ok, self.text(key, **self.income_values(), **values), params=rests_on)

    def assets_finding(self) -> Finding:
        assets = self.req.financial_assets
        if assets is None:
            return Finding(None, self.text("assets_unknown"), missing=("household.financial_assets",))
        if assets == 0:
            return Finding(True, self.text("assets_none"))
        if self.req.area is None:
            return Finding(None, self.text("area_unknown"), missing=("area",))
        ok = self.h["assets_within_limit"]
        params = ("asset_limit_months", self.standard_param)
        limit = self.figure("limit", params, amount=yuan(self.h["asset_limit_per_capita"]))
        return Finding(ok, self.text("assets_ok" if ok else "assets_over",
                                     per_capita_assets=yuan(self.h["per_capita_financial_assets"]),
                                     months=yuan(self.value("asset_limit_months")), limit=limit),
                       params=params)


# --- routes to a status ----------------------------------------------------------------------
def _firm(ctx: Context, f: Finding) -> bool:
    return not f.judgement and all(ctx.verified(p) for p in f.params)


def route_status(ctx: Context, route: Route) -> str:
    findings = route.findings
    if any(f.ok is False for f in findings):
        return "not_eligible"
    if any(f.ok is None for f in findings):
        return "need_more_info"
    if all(_firm(ctx, f) for f in findings):
        return "likely_eligible"
    return "possibly_eligible"


def _citations(ctx: Context, params) -> list[str]:
    out = []
    for path in params:
        p = ctx.params[path]
        if p.verified and p.reference:
            out += [ref.strip() for ref in p.reference.split("；")]
    return out


def resolve(ctx: Context, program: str, routes: list[Route], every_failure: bool = False) -> ProgramResult:
    """The program's result from its best route (the first one on ties: the main route). With
    `every_failure` (routes that are the same test for different members, as for 特困), a
    program no route qualifies for gives the failed conditions of every route."""
    statuses = [route_status(ctx, r) for r in routes]
    best = max(range(len(routes)), key=lambda i: (RANK[statuses[i]], -i))
    route, status = routes[best], statuses[best]
    if status == "not_eligible":
        shown = [f for r in (routes if every_failure else [route]) for f in r.findings if f.ok is False]
    elif status == "need_more_info":
        shown = [f for f in route.findings if f.ok is not False]
    else:
        shown = route.findings
    reasons = [f.text for f in shown]
    rests_on = [p for f in shown for p in f.params]
    eligible = status in ("likely_eligible", "possibly_eligible")
    if eligible:
        reasons += route.notes
        rests_on += route.note_params
    elif status == "not_eligible":
        reasons += route.if_not
    unverified = [p for p in dict.fromkeys(rests_on) if not ctx.verified(p)]
    sources: list[str] = []
    if any(p.startswith("dibao.standard_") for p in unverified):
        reasons.append(ctx.text("confirm_standard", region=ctx.region_name))
        sources = texts()["standard_sources"].get(ctx.req.region, [])
    elif any(p in ctx.withheld for p in unverified):
        reasons.append(ctx.text("confirm_local"))
    if any(not ctx.verified(p) for f in shown if f.ok is not None for p in f.params):
        reasons.append(texts()["findings"]["unverified_basis"])
    missing = [m for f in route.findings if f.ok is None for m in f.missing]
    return ProgramResult(
        program, status, list(dict.fromkeys(reasons)),
        round(route.amount, 2) if eligible and route.amount is not None else None,
        list(dict.fromkeys(_citations(ctx, rests_on) + route.citations + sources)),
        list(dict.fromkeys(missing)), list(dict.fromkeys(rests_on)))


def _provision_route(ctx: Context, program: str, findings: list[Finding]) -> Route:
    provision = ctx.provision(program)
    notes = [provision["text"]] if provision.get("text") else []
    return Route(findings, notes=notes, citations=list(provision.get("citations", [])))


# --- 低保 -------------------------------------------------------------------------------------
def dibao(ctx: Context) -> list[Route]:
    h, req = ctx.h, ctx.req
    assets = ctx.assets_finding()
    household = _provision_route(ctx, "dibao", [
        ctx.income_finding(h["dibao_income_below_standard"], "dibao_income_below",
                           "dibao_income_not_below"),
        assets])
    if h["dibao_eligible"]:  # the gap to the standard, when the rules find the household eligible
        amount_params = (ctx.standard_param, *ctx.deduction_params)
        if ctx.firm(*amount_params):
            household.amount = h["dibao_monthly_amount"]
        household.notes.insert(0, ctx.pick("dibao_amount", amount_params,
                                           amount=yuan(h["dibao_monthly_amount"])))
        household.note_params = ctx.income_params
    routes = [household]
    if "dibao" in req.receiving:
        routes.append(_phase_out(ctx, assets))
    candidates = [i for i, p in enumerate(ctx.facts.persons) if p["dibao_single_person_condition"]]
    if candidates:
        routes.append(_single_person(ctx, candidates, assets))
    return routes


def _phase_out(ctx: Context, assets: Finding) -> Route:
    h = ctx.h
    if h["dibao_income_below_standard"]:
        band = ctx.income_finding(False, "phase_out_in_band", "phase_out_still_below")
    else:
        ceiling = h["dibao_phase_out_income_ceiling"]
        band_params = ("phase_out.income_max_multiplier",) + _at_bound(
            ctx, ceiling, "phase_out.includes_upper_bound")
        multiplier = ctx.value("phase_out.income_max_multiplier")
        shown = ctx.figure("ceiling", ("phase_out.income_max_multiplier", ctx.standard_param),
                           amount=yuan(ceiling)) if multiplier else ""
        band = ctx.income_finding(h["dibao_phase_out_income_in_band"], "phase_out_in_band",
                                  "phase_out_over", band_params, ceiling=shown,
                                  multiplier=yuan(multiplier))
    findings = [Finding(True, ctx.text("dibao_receiving")), band, assets]
    if ctx.value("phase_out.requires_employment"):
        employed = h["has_employed_member"]
        findings.append(Finding(employed, ctx.text("phase_out_employed" if employed
                                                   else "phase_out_not_employed"),
                                params=("phase_out.requires_employment",)))
    months = h["dibao_phase_out_months"]  # shown only when the route's conditions are all met
    months_param = ("phase_out.months_disabled_household" if h["has_disabled_member"]
                    else "phase_out.months")
    notes = [ctx.note("phase_out", months=months)]
    extended = ctx.value("phase_out.months_extended")
    if extended > months:
        notes.append(ctx.note("phase_out_extended", months=extended))
    return Route(findings, notes=notes, note_params=(months_param, "phase_out.months_extended"))


def _single_person(ctx: Context, candidates: list[int], assets: Finding) -> Route:
    h = ctx.h
    allowed = ctx.value("single_person.allowed")
    person_params = ["severe_disability_max_level"]
    if any(ctx.req.members[i].disability_level == 3 for i in candidates):
        person_params.append("single_person.includes_level3_intellectual_mental")
    multiplier = yuan(ctx.value("low_income.multiplier"))
    findings = [
        Finding(allowed, ctx.text("single_allowed" if allowed else "single_not_allowed"),
                params=("single_person.allowed",)),
        ctx.income_finding(h["low_income_income_in_band"], "single_band", "single_not_band",
                           _low_income_params(ctx), multiplier=multiplier),
        assets,
        Finding(True, ctx.text("single_person", who="、".join(ctx.who(i) for i in candidates)),
                params=tuple(person_params), judgement=True),  # “经本人申请，可单独纳入”
    ]
    return Route(findings)


# --- 特困 -------------------------------------------------------------------------------------
def tekun(ctx: Context) -> list[Route]:
    """Every member is a route: 特困 is always answered, with the reason why not (有劳动能力,
    有收入, 有赡养人 …) when no member qualifies."""
    req, h = ctx.req, ctx.h
    supporter = {
        None: Finding(None, ctx.text("supporter_unknown"), missing=("household.has_capable_supporter",)),
        True: Finding(False, ctx.text("tekun_has_supporter")),
        False: Finding(True, ctx.text("tekun_no_supporter")),
    }[req.has_capable_supporter]
    assets = ctx.assets_finding()
    routes = [_tekun_route(ctx, i, supporter, assets) for i in range(len(req.members))]
    statuses = [route_status(ctx, r) for r in routes]
    eligible = sum(RANK[s] >= RANK["possibly_eligible"] for s in statuses)
    per_person = h["tekun_support_standard"]
    multiplier, centralized = ctx.value("tekun.multiplier"), ctx.value("tekun.multiplier_centralized")
    provision = ctx.provision("tekun")
    dispersed = ("tekun.multiplier", ctx.standard_param)
    together = ("tekun.multiplier_centralized", ctx.standard_param)
    for route in routes:
        route.amount = eligible * per_person if ctx.firm(*dispersed) else None
        route.notes = [ctx.note("tekun_amount", multiplier=yuan(multiplier),
                                per_person=ctx.figure("per_person", dispersed, amount=yuan(per_person)))]
        if centralized != multiplier:
            shown = ctx.figure("per_person", together, amount=yuan(h["tekun_support_standard_centralized"]))
            route.notes.append(ctx.note("tekun_centralized", multiplier=yuan(centralized), per_person=shown))
        if provision.get("text"):
            route.notes.append(provision["text"])
        route.note_params = ("tekun.multiplier", "tekun.multiplier_centralized", ctx.standard_param)
        route.citations = list(provision.get("citations", []))
        route.if_not = [ctx.text("tekun_rule")]
    return routes


def _tekun_route(ctx: Context, i: int, supporter: Finding, assets: Finding) -> Route:
    member, who, person = ctx.req.members[i], ctx.who(i), ctx.facts.persons[i]
    minor = member.age is not None and person["is_minor"]
    if minor:
        work = Finding(True, ctx.text("tekun_minor", who=who, minor_age=ctx.value("minor_age")),
                       params=("minor_age",))
    elif member.can_work is None:
        asks = (f"household.members[{i}].can_work",) + (
            (f"household.members[{i}].age",) if member.age is None else ())
        work = Finding(None, ctx.text("tekun_work_unknown", who=who), missing=asks)
    else:
        ok = person["tekun_no_work_ability"]
        work = Finding(ok, ctx.text("tekun_cannot_work" if ok else "tekun_can_work", who=who))
    if ctx.req.member_income(i) is None:
        no_income = Finding(None, ctx.text("tekun_income_unknown", who=who),
                            missing=(f"household.members[{i}].monthly_income",))
    else:
        ok = person["tekun_no_income"]
        no_income = Finding(ok, ctx.text("tekun_no_income" if ok else "tekun_has_income", who=who))
    return Route([work, no_income, supporter, assets])


# --- 低收入、支出型困难 ---------------------------------------------------------------------------
def _at_bound(ctx: Context, bound: float, inclusive_param: str) -> tuple[str, ...]:
    """Whether a bound includes its own value matters only for an income exactly at it."""
    return (inclusive_param,) if ctx.h["per_capita_income"] == bound else ()


def _low_income_params(ctx: Context) -> tuple[str, ...]:
    return ("low_income.multiplier",) + _at_bound(ctx, ctx.h["low_income_ceiling"],
                                                  "low_income.includes_upper_bound")


def low_income(ctx: Context) -> list[Route]:
    h = ctx.h
    band_params = _low_income_params(ctx)
    ceiling_params = ("low_income.multiplier", ctx.standard_param)
    multiplier, ceiling = yuan(ctx.value("low_income.multiplier")), yuan(h["low_income_ceiling"])
    if h["dibao_income_below_standard"]:  # the ceiling plays no part here
        band = ctx.income_finding(False, "low_income_in_band", "low_income_below")
    elif h["low_income_income_in_band"]:
        band = ctx.income_finding(True, "low_income_in_band", "low_income_above", band_params,
                                  multiplier=multiplier,
                                  ceiling=ctx.figure("upper", ceiling_params, amount=ceiling))
    else:
        band = ctx.income_finding(False, "low_income_in_band", "low_income_above", band_params,
                                  multiplier=multiplier,
                                  ceiling=ctx.figure("ceiling", ceiling_params, amount=ceiling))
    return [_provision_route(ctx, "low_income", [band, ctx.assets_finding()])]


def expenditure_hardship(ctx: Context) -> list[Route] | None:
    req, h = ctx.req, ctx.h
    if not req.rigid_expenses or not any(req.rigid_expenses.values()):
        return None
    floor_param = "expenditure_hardship.income_min_multiplier"
    disposable_param = "expenditure_hardship.disposable_income_yearly"
    values = {"multiplier": yuan(ctx.value(floor_param)),
              "floor": ctx.figure("floor", (floor_param, ctx.standard_param),
                                  amount=yuan(h["expenditure_hardship_income_floor"]))}
    if not h["expenditure_hardship_above_floor"]:
        band = ctx.income_finding(False, "hardship_in_band", "hardship_below_band", (floor_param,),
                                  **values)
    elif not h["expenditure_hardship_below_disposable_income"]:
        band = Finding(False, ctx.text("hardship_above_disposable"), params=(disposable_param,))
    else:
        band = ctx.income_finding(True, "hardship_in_band", "hardship_below_band",
                                  (floor_param, disposable_param), **values)
    after = ctx.income_finding(h["expenditure_hardship_below_standard_after_expenses"],
                               "hardship_after_below", "hardship_after_not_below")
    return [_provision_route(ctx, "expenditure_hardship", [band, after])]


# --- 临时救助 ---------------------------------------------------------------------------------
def temporary(ctx: Context) -> list[Route] | None:
    req, h = ctx.req, ctx.h
    routes = []
    if req.emergency:
        label = texts()["emergencies"][req.emergency.type]
        urgent = _provision_route(ctx, "temporary", [
            Finding(True, ctx.text("urgent", emergency=label), judgement=req.emergency.type == "other")])
        notes, params = _temporary_amount_notes(ctx, urgent=True)
        urgent.notes = notes + urgent.notes
        urgent.note_params = params
        routes.append(urgent)
    if req.rigid_expenses and any(req.rigid_expenses.values()):
        finding = ctx.income_finding(h["expenditure_hardship_below_standard_after_expenses"],
                                     "expenditure_temporary", "expenditure_temporary_no")
        if finding.ok:  # 支出型: 按审核确认程序办理
            finding = Finding(True, finding.text, finding.params, judgement=True)
        notes, params = _temporary_amount_notes(ctx, urgent=False)
        routes.append(Route([finding], notes=notes, note_params=params))
    return routes or None


def _temporary_amount_notes(ctx: Context, urgent: bool) -> tuple[list[str], tuple[str, ...]]:
    h, notes, params = ctx.h, [], []
    low, high = ctx.value("temporary.range_min_multiplier"), ctx.value("temporary.range_max_multiplier")
    if high:
        range_params = ("temporary.range_min_multiplier", "temporary.range_max_multiplier",
                        ctx.standard_param)
        shown = ctx.figure("range", range_params, minimum=yuan(h["temporary_assistance_minimum"]),
                           maximum=yuan(h["temporary_assistance_maximum"]))
        notes.append(ctx.note("temporary_range", low=yuan(low), high=yuan(high), range=shown))
        params += range_params
    if urgent and h["temporary_urgent_advance"]:
        advance_params = ("temporary.urgent_advance_months", "dibao.standard_urban_monthly")
        shown = ctx.figure("advance", advance_params, amount=yuan(h["temporary_urgent_advance"]))
        notes.append(ctx.note("temporary_advance", months=yuan(ctx.value("temporary.urgent_advance_months")),
                              advance=shown))
        params += advance_params
        if ctx.value("temporary.completion_days"):
            notes.append(ctx.note("temporary_completion", days=ctx.value("temporary.completion_days")))
            params.append("temporary.completion_days")
    if urgent and h["temporary_approval_level"] != "not_applicable":
        caps = {k: yuan(ctx.value(f"temporary.{k}"))
                for k in ("village_cap", "township_cap", "two_level_cap")}
        cap_params = tuple(f"temporary.{k}" for k in caps)
        notes.append(ctx.pick("temporary_tiers", cap_params, **caps))
        params += cap_params
        amount = ctx.req.emergency.amount
        if amount and ctx.firm(*cap_params):
            notes.append(ctx.note(f"temporary_tier_{h['temporary_approval_level']}", amount=yuan(amount),
                                  village=yuan(h["temporary_village_amount"]),
                                  township=yuan(h["temporary_township_amount"]),
                                  district=yuan(h["temporary_district_amount"])))
    return notes, tuple(params)


# --- 专项救助 ---------------------------------------------------------------------------------
def category_finding(ctx: Context, base: dict[str, ProgramResult]) -> Finding:
    """Whether the household is one that 专项救助 serves (低保、特困、低收入、支出型困难)."""
    names = texts()["categories"]
    for program in ("dibao", "tekun", "low_income"):
        if program in ctx.req.receiving:
            return Finding(True, ctx.text("category_likely", category=names[f"receiving_{program}"]))
    ranked = []
    for program in BASE_PROGRAMS:
        result = base.get(program)
        if result is None:
            continue
        status = result.status
        if program in ("low_income", "expenditure_hardship") and status == "likely_eligible":
            status = "possibly_eligible"  # coverage of these households differs by region and program
        ranked.append((RANK[status], program, result))
    top, program, result = max(ranked, key=lambda item: item[0])
    if top == RANK["likely_eligible"]:
        return Finding(True, ctx.text("category_likely", category=names[program]))
    if top == RANK["possibly_eligible"]:
        return Finding(True, ctx.text("category_possible", category=names[program]), judgement=True)
    if top == RANK["need_more_info"]:
        asks = tuple(m for _, _, r in ranked if r.status == "need_more_info" for m in r.missing)
        return Finding(None, ctx.text("category_unknown"), missing=asks)
    return Finding(False, ctx.text("category_none"))


def _special(ctx: Context, program: str, base, need_key: str) -> Route:
    return _provision_route(ctx, program, [Finding(True, ctx.text(need_key)), category_finding(ctx, base)])


def medical(ctx: Context, base) -> list[Route] | None:
    if not ctx.h["medical_need"]:
        return None
    return [_special(ctx, "medical", base, "special_need_medical")]


def education(ctx: Context, base) -> list[Route] | None:
    students = [i for i, m in enumerate(ctx.req.members) if m.student_stage]
    if not students:
        return None
    route = _special(ctx, "education", base, "special_need_education")
    stages = ctx.provision("education").get("stages", {})
    stage_names = texts()["student_stages"]
    route.notes = [ctx.note("student", who=ctx.who(i), stage=stage_names[ctx.req.members[i].student_stage],
                            measure=stages[ctx.req.members[i].student_stage])
                   for i in students if ctx.req.members[i].student_stage in stages] + route.notes
    return [route]


def housing(ctx: Context, base) -> list[Route] | None:
    if not ctx.req.housing_difficulty:
        return None
    route = _special(ctx, "housing", base, "special_need_housing")
    # “符合规定标准的住房困难”: the standard is not in the documents, the office assesses it
    route.findings[0] = Finding(True, route.findings[0].text, judgement=True)
    return [route]


def employment(ctx: Context, base) -> list[Route] | None:
    if not any(p["unemployed_able_to_work"] for p, m in zip(ctx.facts.persons, ctx.req.members, strict=True)
               if m.can_work is not None):
        return None
    route = _special(ctx, "employment", base, "special_need_employment")
    if ctx.h["zero_employment_household"]:
        route.notes.insert(0, ctx.note("zero_employment"))
    return [route]


def disability(ctx: Context, base) -> list[Route] | None:
    disabled = [i for i, m in enumerate(ctx.req.members) if m.disability_level]
    if not disabled:
        return None
    living = _special(ctx, "disability", base, "special_need_disability")
    severe = [i for i in disabled if ctx.facts.persons[i]["severely_disabled"]]
    care_text = (ctx.text("care_allowance", who="、".join(ctx.who(i) for i in severe)) if severe
                 else ctx.text("care_allowance_no"))
    care = Finding(bool(severe), care_text, params=("severe_disability_max_level",))
    care_route = _provision_route(ctx, "disability",
                                  [Finding(True, ctx.text("special_need_disability")), care])
    return [living, care_route]


def disaster(ctx: Context, base) -> list[Route] | None:
    if not ctx.h["disaster_assistance_eligible"]:
        return None
    return [_provision_route(ctx, "disaster", [Finding(True, ctx.text("disaster"))])]


BASE: dict[str, Callable[[Context], list[Route] | None]] = {
    "dibao": dibao, "tekun": tekun, "low_income": low_income,
    "expenditure_hardship": expenditure_hardship, "temporary": temporary,
}
SPECIAL: dict[str, Callable[[Context, dict], list[Route] | None]] = {
    "medical": medical, "education": education, "housing": housing, "employment": employment,
    "disability": disability, "disaster": disaster,
}


def assess(ctx: Context) -> list[ProgramResult]:
    """Every program the request bears on, in a fixed order."""
    results: dict[str, ProgramResult] = {}
    for program, assessor in BASE.items():
        ctx.withheld = set()
        routes = assessor(ctx)
        if routes:
            results[program] = resolve(ctx, program, routes, every_failure=program == "tekun")
    for program, assessor in SPECIAL.items():
        ctx.withheld = set()
        routes = assessor(ctx, results)
        if routes:
            results[program] = resolve(ctx, program, routes)
    return list(results.values())
