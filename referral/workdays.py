"""Working-time arithmetic on the Chinese calendar (public holidays and adjusted working days).

The calendar is operator data: one YAML file a year in referral/calendar/ (holidays and the
调休 weekend working days of the State Council's yearly notice), loaded and validated at start.
A year whose notice is not out yet may be present as `provisional` (the statutory holidays
only). For a year with no file at all, Monday–Friday is used and a warning logged; /healthz and
the supervisors' console say how far ahead the calendar is confirmed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

log = logging.getLogger(__name__)
CHINA = ZoneInfo("Asia/Shanghai")
CALENDAR_DIR = Path(__file__).with_name("calendar")
CONFIRMED_AHEAD_DAYS = 90  # supervisors are warned when less than this is confirmed

OfficeHours = list[tuple[time, time]]


class CalendarError(ValueError):
    """A calendar file that cannot be trusted; the message names the file and the entry."""


@dataclass(frozen=True)
class CalendarYear:
    year: int
    provisional: bool
    source: str
    holidays: frozenset[date]
    workdays: frozenset[date]  # weekend days that are working days (调休)


def _entries(path: Path, doc: dict, key: str, year: int) -> dict[date, str]:
    raw = doc.get(key)
    if not isinstance(raw, list):
        raise CalendarError(f"{path.name}: `{key}` must be a list (it may be empty: [])")
    out: dict[date, str] = {}
    for i, entry in enumerate(raw):
        where = f"{path.name}: {key}[{i}]"
        if not isinstance(entry, dict) or set(entry) != {"date", "name"}:
            raise CalendarError(f"{where}: each entry is {{date: YYYY-MM-DD, name: …}}")
        day, name = entry["date"], entry["name"]
        if not isinstance(day, date) or isinstance(day, datetime):
            raise CalendarError(f"{where}: date {day!r} is not a YYYY-MM-DD date")
        if day.year != year:
            raise CalendarError(f"{where}: {day} is not in {year}")
        if not isinstance(name, str) or not name.strip():
            raise CalendarError(f"{where}: name is missing")
        if day in out:
            raise CalendarError(f"{where}: {day} is listed twice")
        out[day] = name
    return out


def load_year(path: Path) -> CalendarYear:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:  # ValueError: 02-30
        raise CalendarError(f"{path.name}: cannot be read: {exc}") from None
    if not isinstance(doc, dict):
        raise CalendarError(f"{path.name}: not a YAML mapping")
    year = doc.get("year")
    if not isinstance(year, int) or path.stem != str(year):
        raise CalendarError(f"{path.name}: `year` must be {path.stem}, the file's name")
    if not isinstance(doc.get("provisional"), bool):
        raise CalendarError(f"{path.name}: `provisional` must be true or false")
    source = doc.get("source")
    if not isinstance(source, str) or not source.strip():
        raise CalendarError(f"{path.name}: `source` must name the notice the dates come from")
    holidays = _entries(path, doc, "holidays", year)
    workdays = _entries(path, doc, "workdays", year)
    if both := sorted(set(holidays) & set(workdays)):
        raise CalendarError(f"{path.name}: {both[0]} is both a holiday and a working day")
    if weekdays := sorted(d for d in workdays if d.weekday() < 5):
        raise CalendarError(f"{path.name}: workday {weekdays[0]} is a Monday–Friday already; "
                            "`workdays` lists only the weekend days worked (调休)")
    return CalendarYear(year, doc["provisional"], source.strip(), frozenset(holidays),
                        frozenset(workdays))


class HolidayCalendar:
    def __init__(self, years: dict[int, CalendarYear]):
        self.years = dict(sorted(years.items()))
        self._warned: set[int] = set()

    @classmethod
    def load(cls, directory: Path | None = None) -> HolidayCalendar:
        directory = directory or CALENDAR_DIR
        years = {}
        for path in sorted(directory.glob("*.yml")):
            y = load_year(path)
            years[y.year] = y
        if not years:
            raise CalendarError(f"{directory}: no calendar year files (YYYY.yml)")
        return cls(years)

    def is_working_day(self, day: date) -> bool:
        y = self.years.get(day.year)
        if y is None:
            if day.year not in self._warned:
                self._warned.add(day.year)
                log.warning("holiday calendar has no %s.yml; counting Monday-Friday only", day.year)
            return day.weekday() < 5
        return day in y.workdays or (day.weekday() < 5 and day not in y.holidays)

    def _covered_until(self, today: date, confirmed: bool) -> date | None:
        """The last day of the unbroken run of years from today's year (None: not even today)."""
        year = today.year
        while year in self.years and not (confirmed and self.years[year].provisional):
            year += 1
        return date(year - 1, 12, 31) if year > today.year else None

    def coverage(self, today: date) -> dict:
        """How far ahead deadlines are counted on real data, for /healthz and the console."""
        covered, confirmed = self._covered_until(today, False), self._covered_until(today, True)
        horizon = today + timedelta(days=CONFIRMED_AHEAD_DAYS)
        missing = state = warning = None
        if confirmed is None or confirmed < horizon:
            missing = (confirmed or date(today.year - 1, 12, 31)).year + 1
            state = "provisional" if missing in self.years else "absent"
            what = ("provisional (statutory holidays only)" if state == "provisional"
                    else "not in the calendar")
            warning = (f"{missing} is {what}: SLA deadlines after {confirmed or 'today'} may be "
                       f"off; add referral/calendar/{missing}.yml from the State Council's notice")
        return {
            "years": list(self.years),
            "provisional_years": [y for y, c in self.years.items() if c.provisional],
            "covered_until": covered.isoformat() if covered else None,
            "confirmed_until": confirmed.isoformat() if confirmed else None,
            "confirmed_ahead_days": CONFIRMED_AHEAD_DAYS,
            "missing_year": missing, "missing_state": state, "warning": warning,
        }


@cache
def calendar() -> HolidayCalendar:
    """The deployed calendar, loaded once per process (the app and worker load it at start, so a
    bad file stops them there rather than at the first deadline)."""
    return HolidayCalendar.load()


def is_working_day(day: date) -> bool:
    return calendar().is_working_day(day)


def add_working_days(start: datetime, days: int) -> datetime:
    """The same local time of day `days` working days after `start` (an aware datetime).

    A request made on a rest day starts counting from the next working day.
    """
    local = start.astimezone(CHINA)
    day = local.date()
    remaining = days
    while remaining > 0:
        day += timedelta(days=1)
        if is_working_day(day):
            remaining -= 1
    return local.replace(year=day.year, month=day.month, day=day.day)


def span_end(day: date, end: time) -> datetime:
    """Where a span of `day` ends: 24:00 (time.max, hotline.hours) is the next midnight."""
    if end == time.max:
        return datetime.combine(day + timedelta(days=1), time(0), CHINA)
    return datetime.combine(day, end, CHINA)


WHOLE_DAY: OfficeHours = [(time(0), time.max)]  # a working day counted whole (working_days)
_DAY_BOUND = 3660  # ten years of days: a bound on every walk, never reached in practice


def _spans(start: datetime, office: OfficeHours):
    """The working spans (begin, end) from `start` on, in order, the first cut at `start`."""
    cursor = start.astimezone(CHINA)
    day = cursor.date()
    for _ in range(_DAY_BOUND):
        if is_working_day(day):
            for begin, end in office:
                w_start, w_end = datetime.combine(day, begin, CHINA), span_end(day, end)
                if cursor < w_end:
                    yield max(cursor, w_start), w_end
        day += timedelta(days=1)
    raise ValueError("working time target too large")


def add_working_time(start: datetime, amount: timedelta, office: OfficeHours | None = None
                     ) -> datetime:
    """The moment `amount` of working time after `start`: office time when `office` is given,
    else whole working days (24 h each; rest days and holidays do not count). Time that ends
    with a working day ends when work resumes, so a deadline never carries a holiday's date."""
    remaining, whole = amount, office is None
    cursor = start.astimezone(CHINA)
    if remaining <= timedelta(0):
        return cursor
    for begin, end in _spans(cursor, WHOLE_DAY if whole else office):
        if remaining < end - begin or (not whole and remaining == end - begin):
            return begin + remaining
        remaining -= end - begin
        if remaining == timedelta(0):  # exactly a working day's end: the next one's start
            return next(_spans(end, WHOLE_DAY))[0]
    raise AssertionError("unreachable: _spans raises first")


def add_working_hours(start: datetime, hours: float, office: OfficeHours) -> datetime:
    """`hours` of office time after `start`, skipping nights, lunch breaks and rest days."""
    return add_working_time(start, timedelta(hours=hours), office)


def working_time(begin: datetime, end: datetime, office: OfficeHours | None = None) -> timedelta:
    """The working time from `begin` to `end`, counted as add_working_time counts it (office
    time when `office` is given, else the hours of working days)."""
    total = timedelta(0)
    if end <= begin:
        return total
    for w_start, w_end in _spans(begin, WHOLE_DAY if office is None else office):
        if w_start >= end:
            return total
        total += min(w_end, end) - w_start
    return total


def pause_credit(pauses, unit: str, office: OfficeHours) -> timedelta:
    """What the pauses `[(paused, resumed), …]` give back to a target counted in `unit`: the
    working time that passed in them, in the unit's own calendar."""
    if unit == "calendar_days":
        return sum((resumed - paused for paused, resumed in pauses), timedelta(0))
    if unit not in ("working_days", "working_hours"):
        raise ValueError(f"unknown SLA unit {unit!r}")
    hours = office if unit == "working_hours" else None
    return sum((working_time(p, r, hours) for p, r in pauses), timedelta(0))


def shifted_by_pauses(due: datetime, pauses, unit: str, office: OfficeHours) -> datetime:
    """A deadline in `unit` moved by the working time the citizen took (pause_credit): a pause
    over 国庆 gives back the one working day in it, and the deadline lands on a working day."""
    credit = pause_credit(pauses, unit, office)
    if credit == timedelta(0):
        return due
    if unit == "calendar_days":
        return due + credit
    return add_working_time(due, credit, office if unit == "working_hours" else None)


def add_calendar_days(start: datetime, days: int) -> datetime:
    return start + timedelta(days=days)
