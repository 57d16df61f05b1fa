"""Referral rules with no database or web server: routing, SLA targets, reference numbers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path

import yaml

from referral.workdays import add_calendar_days, add_working_days

HERE = Path(__file__).parent
PROGRAMS = (
    "dibao tekun low_income expenditure_hardship temporary medical education housing employment "
    "disaster disability legal_aid vagrant child_welfare elderly_care"
).split()
URGENCIES = ("normal", "urgent")


@cache
def routing() -> dict:
    return yaml.safe_load((HERE / "routing.yml").read_text(encoding="utf-8"))


@cache
def sla_policies() -> dict:
    return yaml.safe_load((HERE / "sla_policies.yml").read_text(encoding="utf-8"))


def department_for(program: str) -> str:
    return routing()["programs"][program]["department"]


def department_name(code: str) -> str:
    return routing()["departments"].get(code, code)


@dataclass(frozen=True)
class Target:
    value: int
    unit: str  # working_days | calendar_days
    source: str
    verified: bool

    def due_from(self, start: datetime) -> datetime:
        if self.unit == "working_days":
            return add_working_days(start, self.value)
        if self.unit == "calendar_days":
            return add_calendar_days(start, self.value)
        raise ValueError(f"unknown SLA unit {self.unit!r}")


@dataclass(frozen=True)
class AppliedSla:
    first_response: Target
    resolution: Target

    def deadlines(self, start: datetime) -> tuple[datetime, datetime]:
        return self.first_response.due_from(start), self.resolution.due_from(start)


def sla_for(program: str, urgency: str) -> AppliedSla:
    """Default targets, overridden by the program's normal policy, then by its urgency's."""
    conf = sla_policies()
    merged = dict(conf["default"])
    per_program = conf["policies"].get(program, {})
    merged.update(per_program.get("normal", {}))
    merged.update(per_program.get(urgency, {}))
    return AppliedSla(**{k: Target(**v) for k, v in merged.items()})


def format_reference_no(day: date, seq: int) -> str:
    return f"12349-{day:%Y%m%d}-{seq:04d}"
