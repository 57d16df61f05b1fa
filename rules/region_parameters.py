"""Region parameters as the API and the screen see them: value, unit, source, verified.

Read from the OpenFisca parameter tree (rules/openfisca_hotline/parameters/), so the numbers the
formulas use and the numbers shown with their sources are the same ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache, lru_cache

from openfisca_core.parameters import Parameter, ParameterNode

from rules.openfisca_hotline import tax_benefit_system
from rules.regions import regions

NATIONAL = ("minor_age",)  # parameters outside parameters/regions/ that apply everywhere


@dataclass(frozen=True)
class RegionParameter:
    path: str  # inside the region folder, e.g. "dibao.standard_urban_monthly"
    description: str
    unit: str
    value: float | int | bool
    reference: str | None  # "<file> <clause>" of ../shared/policy_docs/
    verified: bool
    note: str | None
    since: str

    @property
    def api_name(self) -> str:
        return self.path.replace(".", "_")

    def as_json(self) -> dict:
        out = {"value": self.value, "unit": self.unit, "source": self.reference,
               "verified": self.verified, "description": self.description}
        if self.note:
            out["note"] = self.note
        return out


def parameter_leaves(node: ParameterNode, prefix: str = ""):
    for name, child in node.children.items():
        path = f"{prefix}{name}"
        if isinstance(child, Parameter):
            yield path, child
        else:
            yield from parameter_leaves(child, f"{path}.")


def _at(path: str, parameter: Parameter, instant: str) -> RegionParameter | None:
    for value in parameter.values_list:  # newest first
        if value.instant_str <= instant:
            meta = value.metadata
            return RegionParameter(
                path=path, description=parameter.description or path, unit=meta.get("unit", ""),
                value=value.value, reference=meta.get("reference"),
                verified=bool(meta.get("verified", False)), note=meta.get("note"),
                since=value.instant_str)
    return None


@lru_cache(maxsize=256)  # regions x months: as_of is bounded (rules/screen_request.py)
def region_parameters(code: str, instant: str) -> dict[str, RegionParameter]:
    """The parameters in force at `instant` (YYYY-MM-DD) for region `code`, by path."""
    root = tax_benefit_system().parameters
    leaves = [*parameter_leaves(root.regions.children[regions()[code]["parameters"]]),
              *((name, root.children[name]) for name in NATIONAL)]
    found = {path: _at(path, parameter, instant) for path, parameter in leaves}
    return {path: p for path, p in found.items() if p is not None}


@cache
def earliest_date(code: str) -> date:
    """The first day on which every parameter of the region has a value."""
    root = tax_benefit_system().parameters
    leaves = [*parameter_leaves(root.regions.children[regions()[code]["parameters"]]),
              *((name, root.children[name]) for name in NATIONAL)]
    return max(date.fromisoformat(p.values_list[-1].instant_str) for _, p in leaves)


def _combined(parts: list[RegionParameter], value, unit: str, description: str) -> dict:
    sources = [p.reference for p in parts if p.reference]
    notes = [p.note for p in parts if p.note and not p.verified]
    out = {"value": value, "unit": unit, "source": "；".join(dict.fromkeys(sources)) or None,
           "verified": all(p.verified for p in parts), "description": description}
    if notes:
        out["note"] = " ".join(dict.fromkeys(notes))
    return out


def api_parameters(code: str, instant: str) -> dict[str, dict]:
    """GET /api/regions/{code} `parameters`: every leaf under its flattened name, plus the
    summaries the contract names (rural standard per month, employment deduction, temporary
    assistance range)."""
    params = region_parameters(code, instant)
    out = {p.api_name: p.as_json() for p in params.values()}
    rural = params["dibao.standard_rural_yearly"]
    out["dibao_standard_rural_monthly"] = _combined(
        [rural], round(rural.value / 12, 2), "元/月", "农村低保标准（按年标准除以12折算）")
    shares = [params["employment_deduction.share_of_dibao_standard"],
              params["employment_deduction.share_of_minimum_wage"]]
    wage = params["minimum_wage_monthly"]
    out["employment_deduction"] = _combined(
        shares + ([wage] if shares[1].value else []),
        {"share_of_dibao_standard": shares[0].value, "share_of_minimum_wage": shares[1].value,
         "minimum_wage_monthly": wage.value},
        "比例（每名就业成员每月）", "就业成本扣减：核算家庭收入时为每名已就业成员扣减的金额")
    low, high = params["temporary.range_min_multiplier"], params["temporary.range_max_multiplier"]
    out["temporary_assistance_range"] = _combined(
        [low, high], {"min_multiplier": low.value, "max_multiplier": high.value},
        "倍（低保标准，人均，一次性）", "临时救助人均金额范围（0 表示文件未规定）")
    return dict(sorted(out.items()))
