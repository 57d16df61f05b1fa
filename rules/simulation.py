"""Run the OpenFisca rules for one screen request and return plain Python facts.

Inputs the citizen did not give are filled with neutral values here; the screen knows which
ones were missing and does not rely on findings computed from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from openfisca_core import periods
from openfisca_core.indexed_enums import EnumArray
from openfisca_core.simulations import SimulationBuilder

from rules.openfisca_hotline import tax_benefit_system
from rules.regions import regions
from rules.screen_request import ScreenRequest

HOUSEHOLD_VARIABLES = (
    "dibao_standard", "employment_cost_deductions",
    "per_capita_income", "per_capita_financial_assets", "asset_limit_per_capita",
    "assets_within_limit", "dibao_income_below_standard", "dibao_eligible", "dibao_monthly_amount",
    "dibao_phase_out_income_ceiling", "dibao_phase_out_income_in_band", "dibao_phase_out_months",
    "has_disabled_member", "has_employed_member",
    "tekun_support_standard", "tekun_support_standard_centralized",
    "low_income_ceiling", "low_income_income_in_band",
    "expenditure_hardship_income_floor", "expenditure_hardship_above_floor",
    "expenditure_hardship_below_disposable_income",
    "expenditure_hardship_below_standard_after_expenses", "per_capita_income_after_rigid_expenses",
    "temporary_assistance_minimum", "temporary_assistance_maximum",
    "temporary_urgent_advance", "temporary_approval_level", "temporary_village_amount",
    "temporary_township_amount", "temporary_district_amount",
    "medical_need", "zero_employment_household", "disaster_assistance_eligible",
)
PERSON_VARIABLES = (
    "is_minor", "severely_disabled", "tekun_no_work_ability", "tekun_no_income",
    "dibao_single_person_condition", "unemployed_able_to_work",
)


@dataclass(frozen=True)
class Facts:
    household: dict[str, Any]
    persons: list[dict[str, Any]]


def _values(array) -> list:
    if isinstance(array, EnumArray):
        return [str(v) for v in array.decode_to_str()]
    return array.tolist()


def inputs(req: ScreenRequest) -> tuple[dict[str, list], dict[str, Any]]:
    """The OpenFisca inputs for one household: per-person columns and household values."""
    members = req.members
    persons = {
        "age": [m.age if m.age is not None else 30 for m in members],
        "can_work": [m.can_work is not False for m in members],
        "monthly_income": [req.member_income(i) or 0 for i in range(len(members))],
        "disability_level": [m.disability_level or 0 for m in members],
        "disability_category": [m.disability_category or "unknown" for m in members],
        "serious_illness": [m.serious_illness for m in members],
        "employed": [m.employed for m in members],
        "student_stage": [m.student_stage or "none" for m in members],
    }
    rigid = req.rigid_expenses or {}
    emergency = req.emergency
    household = {
        "region": regions()[req.region]["parameters"],
        "area": req.area or "urban",
        "financial_assets": req.financial_assets or 0,
        "medical_expenses": rigid.get("medical", 0),
        "education_expenses": rigid.get("education", 0),
        "care_expenses": rigid.get("care", 0),
        "has_capable_supporter": req.has_capable_supporter is not False,
        "receiving_dibao": "dibao" in req.receiving,
        "receiving_tekun": "tekun" in req.receiving,
        "receiving_low_income": "low_income" in req.receiving,
        "housing_difficulty": bool(req.housing_difficulty),
        "emergency_type": emergency.type if emergency else "none",
        "emergency_amount_needed": (emergency.amount or 0) if emergency else 0,
    }
    if req.monthly_income is not None:  # the household total overrides the sum of members
        household["household_gross_income"] = req.monthly_income
    return persons, household


def compute(req: ScreenRequest) -> Facts:
    """One household, built with OpenFisca's array API (entities declared, inputs set as
    columns): much cheaper per request than parsing a situation dict."""
    period = periods.period(req.as_of.strftime("%Y-%m"))
    tbs = tax_benefit_system()
    n = len(req.members)
    builder = SimulationBuilder()
    builder.create_entities(tbs)
    builder.declare_person_entity("person", [f"m{i}" for i in range(n)])
    group = builder.declare_entity("household", ["household"])
    builder.join_with_persons(group, ["household"] * n, ["member"] * n)
    simulation = builder.build(tbs)
    person_inputs, household_inputs = inputs(req)
    for name, column in person_inputs.items():
        simulation.set_input(name, period, column)
    for name, value in household_inputs.items():
        simulation.set_input(name, period, [value])
    household = {name: _values(simulation.calculate(name, period))[0] for name in HOUSEHOLD_VARIABLES}
    columns = {name: _values(simulation.calculate(name, period)) for name in PERSON_VARIABLES}
    persons = [{name: columns[name][i] for name in PERSON_VARIABLES} for i in range(n)]
    return Facts(household=household, persons=persons)
