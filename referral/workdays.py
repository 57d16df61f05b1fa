"""Working-day arithmetic on the Chinese calendar (public holidays and adjusted working days).

chinese-calendar knows each year only once the State Council publishes it; for a year it does
not cover we fall back to Monday–Friday and log a warning rather than fail.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

log = logging.getLogger(__name__)
CHINA = ZoneInfo("Asia/Shanghai")
_warned_years: set[int] = set()


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


def add_calendar_days(start: datetime, days: int) -> datetime:
    return start + timedelta(days=days)
