"""Working-time arithmetic on the Chinese calendar (public holidays and adjusted working days).

chinese-calendar knows each year only once the State Council publishes it; for a year it does
not cover we fall back to Monday–Friday and log a warning rather than fail.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

log = logging.getLogger(__name__)
CHINA = ZoneInfo("Asia/Shanghai")
_warned_years: set[int] = set()

OfficeHours = list[tuple[time, time]]


def is_working_day(day: date) -> bool:
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        if day.year not in _warned_years:
            _warned_years.add(day.year)
            log.warning("holiday calendar does not cover %s; counting Monday-Friday only", day.year)
        return day.weekday() < 5


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


def add_working_hours(start: datetime, hours: float, office: OfficeHours) -> datetime:
    """`hours` of office time after `start`, skipping nights, lunch breaks and rest days."""
    remaining = timedelta(hours=hours)
    cursor = start.astimezone(CHINA)
    for _ in range(3660):  # ten years of days: a bound, never reached in practice
        day = cursor.date()
        if is_working_day(day):
            for begin, end in office:
                w_start = datetime.combine(day, begin, CHINA)
                w_end = datetime.combine(day, end, CHINA)
                if cursor >= w_end:
                    continue
                cursor = max(cursor, w_start)
                if cursor + remaining <= w_end:
                    return cursor + remaining
                remaining -= w_end - cursor
                cursor = w_end
        cursor = datetime.combine(day + timedelta(days=1), time(0), CHINA)
    raise ValueError("working hours target too large")


def add_calendar_days(start: datetime, days: int) -> datetime:
    return start + timedelta(days=days)
