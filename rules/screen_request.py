"""POST /api/eligibility/screen: the request, validated. Anything malformed is a 422 naming the
field; anything simply not given stays None so the screen can ask for it (need_more_info)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hotline.errors import invalid, not_found
from rules.openfisca_hotline.enums import DisabilityCategory, EmergencyType, StudentStage
from rules.region_parameters import earliest_date
from rules.regions import region_codes

CHINA = ZoneInfo("Asia/Shanghai")
MAX_AHEAD = timedelta(days=366)  # as_of: screening a date further ahead is refused
MAX_MEMBERS = 30
MAX_AMOUNT = 1e9
AREAS = ("urban", "rural")
RIGID_EXPENSES = ("medical", "education", "care")
RECEIVABLE = ("dibao", "tekun", "low_income")
EMERGENCY_TYPES = tuple(e.name for e in EmergencyType if e is not EmergencyType.none)
STUDENT_STAGES = tuple(s.name for s in StudentStage if s is not StudentStage.none)
DISABILITY_CATEGORIES = tuple(c.name for c in DisabilityCategory if c is not DisabilityCategory.unknown)


@dataclass(frozen=True)
class Member:
    age: int | None
    can_work: bool | None
    monthly_income: float | None
    disability_level: int | None  # None: no disability
    disability_category: str | None
    serious_illness: bool
    employed: bool
    student_stage: str | None  # None: not in school


@dataclass(frozen=True)
class Emergency:
    type: str
    description: str | None
    amount: float | None  # 元 needed, one-off


@dataclass(frozen=True)
class ScreenRequest:
    region: str
    area: str | None
    as_of: date
    members: tuple[Member, ...]
    monthly_income: float | None  # household total before deductions
    financial_assets: float | None
    rigid_expenses: dict[str, float] | None
    has_capable_supporter: bool | None
    emergency: Emergency | None
    receiving: frozenset[str]
    housing_difficulty: bool | None

    @property
    def income_known(self) -> bool:
        return self.monthly_income is not None or all(
            m.monthly_income is not None for m in self.members)

    @property
    def gross_income(self) -> float:
        if self.monthly_income is not None:
            return self.monthly_income
        return sum(m.monthly_income or 0 for m in self.members)

    def member_income(self, i: int) -> float | None:
        """A member's own income if told, or deducible from the household total."""
        own = self.members[i].monthly_income
        if own is not None:
            return own
        if self.monthly_income is not None and (len(self.members) == 1 or self.monthly_income == 0):
            return self.monthly_income
        return None


class _Reader:
    """Typed access to one JSON object, naming fields by their full path."""

    def __init__(self, data: dict, path: str = ""):
        self.data, self.path = data, path

    def field(self, key: str) -> str:
        return f"{self.path}{key}"

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def number(self, key: str, low: float = 0, high: float = MAX_AMOUNT) -> float | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise invalid(self.field(key), f"{self.field(key)} must be a number")
        if not low <= value <= high:
            raise invalid(self.field(key), f"{self.field(key)} must be between {low:g} and {high:g}")
        return float(value)

    def integer(self, key: str, low: int, high: int) -> int | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid(self.field(key), f"{self.field(key)} must be a whole number")
        if not low <= value <= high:
            raise invalid(self.field(key), f"{self.field(key)} must be between {low} and {high}")
        return value

    def boolean(self, key: str) -> bool | None:
        value = self.data.get(key)
        if value is not None and not isinstance(value, bool):
            raise invalid(self.field(key), f"{self.field(key)} must be true, false or null")
        return value

    def choice(self, key: str, allowed: tuple[str, ...]) -> str | None:
        value = self.data.get(key)
        if value is None:
            return None
        if value not in allowed:
            raise invalid(self.field(key), f"{self.field(key)} must be one of: {', '.join(allowed)}")
        return value

    def text(self, key: str, max_length: int) -> str | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise invalid(self.field(key), f"{self.field(key)} must be a string")
        if len(value) > max_length:
            raise invalid(self.field(key), f"{self.field(key)} is longer than {max_length} characters")
        return value.strip() or None

    def obj(self, key: str, required: bool = False) -> _Reader | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise invalid(self.field(key), f"{self.field(key)} is required")
            return None
        if not isinstance(value, dict):
            raise invalid(self.field(key), f"{self.field(key)} must be an object")
        return _Reader(value, f"{self.field(key)}.")


def _member(r: _Reader) -> Member:
    return Member(
        age=r.integer("age", 0, 150),
        can_work=r.boolean("can_work"),
        monthly_income=r.number("monthly_income"),
        disability_level=r.integer("disability_level", 1, 4),
        disability_category=r.choice("disability_category", DISABILITY_CATEGORIES),
        serious_illness=bool(r.boolean("serious_illness")),
        employed=bool(r.boolean("employed")),
        student_stage=r.choice("student_stage", STUDENT_STAGES),
    )


def _members(h: _Reader) -> tuple[Member, ...]:
    raw = h.get("members")
    if raw is None:
        raise invalid(h.field("members"), f"{h.field('members')} is required")
    if not isinstance(raw, list) or not raw:
        raise invalid(h.field("members"), f"{h.field('members')} must be a non-empty list")
    if len(raw) > MAX_MEMBERS:
        raise invalid(h.field("members"), f"{h.field('members')} has more than {MAX_MEMBERS} people")
    members = []
    for i, item in enumerate(raw):
        field = f"{h.field('members')}[{i}]"
        if not isinstance(item, dict):
            raise invalid(field, f"{field} must be an object")
        members.append(_member(_Reader(item, f"{field}.")))
    return tuple(members)


def _emergency(h: _Reader) -> Emergency | None:
    """An emergency of a type the API does not list, or of no type, is screened as `other`
    (其他特殊原因: 急难型临时救助 still applies, assessed by the office) with its description;
    the type the caller gave is kept as the description when there is none."""
    e = h.obj("emergency")
    if e is None:
        return None
    given = e.text("type", 2000)
    description = e.text("description", 2000)
    kind = given if given in EMERGENCY_TYPES else "other"
    if kind != given and given is not None and description is None:
        description = given
    return Emergency(type=kind, description=description, amount=e.number("amount"))


def _receiving(h: _Reader) -> frozenset[str]:
    raw = h.get("receiving")
    if raw is None:
        return frozenset()
    if not isinstance(raw, list) or any(item not in RECEIVABLE for item in raw):
        raise invalid(h.field("receiving"),
                      f"{h.field('receiving')} must be a list of: {', '.join(RECEIVABLE)}")
    return frozenset(raw)


def _as_of(r: _Reader, region: str) -> date:
    raw = r.get("as_of")
    if raw is None:
        return datetime.now(CHINA).date()
    try:
        day = date.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        day = None
    if day is None:
        raise invalid("as_of", "as_of must be a date, YYYY-MM-DD")
    if day > datetime.now(CHINA).date() + MAX_AHEAD:
        raise invalid("as_of", "as_of may be at most a year ahead: rules for later are not known")
    first = earliest_date(region)
    if day.replace(day=1) < first:
        raise invalid("as_of", f"as_of: the rules for region {region} start on {first.isoformat()}; "
                               "screening is possible from the first full month after that")
    return day


def parse_screen_request(data: dict) -> ScreenRequest:
    r = _Reader(data)
    region = r.get("region")
    if region is None:
        raise invalid("region", "region is required")
    if not isinstance(region, str):
        raise invalid("region", "region must be a 6-digit administrative division code")
    if region not in region_codes():
        raise not_found("region")
    h = r.obj("household", required=True)
    rigid = h.obj("rigid_expenses_monthly")
    return ScreenRequest(
        region=region,
        area=r.choice("area", AREAS),
        as_of=_as_of(r, region),
        members=_members(h),
        monthly_income=h.number("monthly_income"),
        financial_assets=h.number("financial_assets"),
        rigid_expenses=None if rigid is None else {k: rigid.number(k) or 0.0 for k in RIGID_EXPENSES},
        has_capable_supporter=h.boolean("has_capable_supporter"),
        emergency=_emergency(h),
        receiving=_receiving(h),
        housing_difficulty=h.boolean("housing_difficulty"),
    )
