"""Referral rules with no database or web server: routing, SLA policies, ticket lifecycle,
reference numbers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from functools import cache
from pathlib import Path

import yaml

from hotline.hours import parse_spans
from referral import units
from referral.units import Directory
from referral.workdays import add_calendar_days, add_working_days, add_working_hours

HERE = Path(__file__).parent
PROGRAMS = (
    "dibao tekun low_income expenditure_hardship temporary medical education housing employment "
    "disaster disability legal_aid vagrant child_welfare elderly_care"
).split()
URGENCIES = ("normal", "urgent")
UNSURE_DEPARTMENT = "civil_affairs"  # 一门受理: requests nobody could route start there


@cache
def routing() -> dict:
    return yaml.safe_load((HERE / "routing.yml").read_text(encoding="utf-8"))


@cache
def sla_policies() -> dict:
    return yaml.safe_load((HERE / "sla_policies.yml").read_text(encoding="utf-8"))


def departments() -> dict[str, str]:
    return routing()["departments"]


def department_for(program: str) -> str:
    return routing()["programs"][program]["department"]


def department_name(code: str) -> str:
    return departments().get(code, code)


# --- routing -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Route:
    department: str
    handling_unit: str | None
    source: str
    unit_code: str | None = None  # the 乡镇/街道 of the directory that handles it
    unplaced: bool = False  # 待分派: street routing found no unit; a person places it


def _matches(match: dict, program: str, region: str, text: str) -> bool:
    if "region" in match and match["region"] != region:
        return False
    if "programs" in match and program not in match["programs"]:
        return False
    return not ("keywords" in match and not any(k in text for k in match["keywords"]))


def route(program: str, region: str, street: str | None = None, text: str = "",
          region_name: str = "", directory: Directory | None = None,
          department: str | None = None, unsure: bool = False) -> Route:
    """Department and handling unit for a request; the first matching rule refines the default.

    A rule whose unit is "{street}" hands the request to the citizen's 乡镇/街道 office, found in
    the unit directory; when the street matches no unit (or none was given) the request goes to
    the region's office of that department, flagged unplaced (待分派). `department` routes a
    transfer: only rules that lead to that department apply, so street routing is kept.
    `unsure`: nobody could tell what the request needs; it goes to the region's civil-affairs
    office (一门受理), flagged for a person to route, never silently to a wrong department.
    """
    if unsure:
        return Route(UNSURE_DEPARTMENT, f"{region_name}{department_name(UNSURE_DEPARTMENT)}", "unsure",
                     unplaced=True)
    target = department or department_for(program)
    source = routing()["programs"][program]["source"] if department is None else "transfer"
    for rule in routing()["rules"]:
        if not _matches(rule["match"], program, region, text):
            continue
        ruled = rule.get("department", department_for(program))
        if department is not None and ruled != department:
            continue
        target, source = ruled, rule["source"]
        if rule.get("unit") == "{street}":
            found = (directory or units.seeded()).match(region, street).unit
            if found is not None:
                return Route(target, found.office, source, found.code)
            return Route(target, f"{region_name}{department_name(target)}", source, unplaced=True)
        if rule.get("unit"):
            return Route(target, rule["unit"], source)
        break
    return Route(target, f"{region_name}{department_name(target)}", source)


# --- a region's own path: 救急难 tiers, 先行救助 --------------------------------------------------

@cache
def pathways() -> dict:
    return yaml.safe_load((HERE / "pathways.yml").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Pathway:
    """What pathways.yml says of one referral: its tier (which level handles it, on which
    clock) and its fast path (first help due by `first`, the whole by `complete`)."""
    tier: dict | None = None
    fast_path: dict | None = None

    @property
    def unit(self) -> str | None:  # street | office: who handles it, by the tier
        return self.tier["unit"] if self.tier else None

    def resolution(self) -> Target | None:
        """The referral's resolution target, if its path sets one (the fast path's completion
        limit before the tier's)."""
        conf = (self.fast_path or {}).get("complete") or (self.tier or {}).get("resolution")
        return Target(**conf) if conf else None

    def first_help_due(self, start: datetime) -> datetime | None:
        conf = (self.fast_path or {}).get("first")
        return Target(**conf).due_from(start) if conf else None

    def plain(self) -> dict:
        return {k: v for k, v in (("tier", self.tier), ("fast_path", self.fast_path)) if v}


def pathway(program: str, region: str, urgency: str, amount_yuan: int | None) -> Pathway:
    conf = pathways()
    # The tier follows the amount asked; with none told, the referral keeps its program's
    # clock and the 乡镇 that receives it decides (no tier guessed).
    steps = conf.get("tiers", {}).get(region, {}).get(program, []) if amount_yuan else []
    tier = next((s for s in steps if "up_to_yuan" not in s or amount_yuan <= s["up_to_yuan"]), None)
    fast = next((f for f in conf.get("fast_paths", {}).get(region, [])
                 if program in f["programs"] and (urgency == "urgent" or not f.get("urgent_only"))),
                None)
    return Pathway(tier, fast)


# --- SLA policies ----------------------------------------------------------------------------

def office_hours() -> list[tuple[time, time]]:
    return list(parse_spans(sla_policies()["office_hours"]["value"], "office_hours"))


@dataclass(frozen=True)
class Target:
    value: float
    unit: str  # working_hours | working_days | calendar_days
    source: str
    verified: bool

    def due_from(self, start: datetime) -> datetime:
        if self.unit == "working_hours":
            return add_working_hours(start, self.value, office_hours())
        if self.unit == "working_days":
            return add_working_days(start, int(self.value))
        if self.unit == "calendar_days":
            return add_calendar_days(start, int(self.value))
        raise ValueError(f"unknown SLA unit {self.unit!r}")

    def plain(self) -> dict:
        return {"value": self.value, "unit": self.unit, "source": self.source,
                "verified": self.verified}


@dataclass(frozen=True)
class AppliedSla:
    policy: str
    first_response: Target
    resolution: Target

    def deadlines(self, start: datetime) -> tuple[datetime, datetime]:
        return self.first_response.due_from(start), self.resolution.due_from(start)

    def plain(self) -> dict:
        return {"policy": self.policy, "first_response": self.first_response.plain(),
                "resolution": self.resolution.plain()}


def sla_for(program: str, urgency: str, department: str | None = None) -> AppliedSla:
    """Default, then the holding department's policy, then (while the program's owner holds
    the ticket) the program's normal and urgency-specific targets."""
    conf = sla_policies()
    department = department or department_for(program)
    merged = dict(conf["default"])
    name = "default"
    if department in conf.get("departments", {}):
        merged.update(conf["departments"][department])
        name = f"department:{department}"
    if department == department_for(program) and program in conf["policies"]:
        per_program = conf["policies"][program]
        merged.update(per_program.get("normal", {}))
        merged.update(per_program.get(urgency, {}))
        name = f"program:{program}/{urgency}"
    return AppliedSla(name, **{k: Target(**v) for k, v in merged.items()})


def approaching_fraction() -> float:
    return float(sla_policies()["approaching_fraction"]["value"])


def coordinator_escalation_after_days() -> int:
    return int(sla_policies()["coordinator_escalation_after"]["value"])


# What a clerk may date on a referral, for the citizen's reminder (referral/outreach.py): the end
# of a 渐退期 (无锡 000_41bdac329cf45ab2.txt 11: 6个月的低保渐退期) or of a temporary benefit, and
# the next review (000_41bdac329cf45ab2.txt 7: 每年/每半年核查一次).
REMINDER_KINDS = ("phase_out", "temporary", "review")


def complaint_answer_days() -> int:
    return int(sla_policies()["complaint_answer"]["value"])


def waiting_citizen_limit_days() -> int:
    return int(sla_policies()["waiting_citizen_limit"]["value"])


# --- lifecycle ------------------------------------------------------------------------------

# action -> (statuses it may start from, status it leads to)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "claim": (frozenset({"new", "transferred", "reopened"}), "accepted"),
    "start": (frozenset({"accepted"}), "in_progress"),
    "request_info": (frozenset({"accepted", "in_progress"}), "waiting_citizen"),
    "resume": (frozenset({"waiting_citizen"}), "in_progress"),
    "resolve": (frozenset({"accepted", "in_progress", "waiting_citizen"}), "resolved"),
    "close": (frozenset({"resolved"}), "closed"),
    "reopen": (frozenset({"resolved", "closed"}), "reopened"),
    "transfer": (frozenset({"new", "accepted", "in_progress", "waiting_citizen", "transferred",
                            "reopened"}), "transferred"),
}


class InvalidTransition(ValueError):
    def __init__(self, action: str, status: str):
        super().__init__(f"cannot {action} a ticket that is {status}")
        self.action, self.status = action, status


def next_status(action: str, status: str) -> str:
    allowed, target = TRANSITIONS[action]
    if status not in allowed:
        raise InvalidTransition(action, status)
    return target


def format_reference_no(day: date, seq: int, check: int) -> str:
    """12349-YYYYMMDD-NNNN-KKK: the day, its sequence, and a check part of three random digits
    (secrets), so that one ticket's number and a phone's last 4 digits do not open the day's
    others. Numbers of the old form (no check part) stay valid."""
    return f"12349-{day:%Y%m%d}-{seq:04d}-{check:03d}"
