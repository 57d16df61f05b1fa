"""The working-day calendar: operator data per year, checked at start, reported by /healthz and
to supervisors in the console."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import chinese_calendar
import pytest

from referral import workdays
from referral.workdays import (
    CHINA,
    CalendarError,
    HolidayCalendar,
    add_working_days,
    add_working_time,
    load_year,
    shifted_by_pauses,
    working_time,
)
from tests.services.conftest import serve

GOOD = """year: {year}
provisional: false
source: 国务院办公厅关于{year}年部分节假日安排的通知
holidays:
  - {{date: {year}-10-01, name: 国庆节}}
workdays:
  - {{date: {year}-10-10, name: 国庆节}}
"""  # 2026-10-10 is a Saturday, 2026-10-12 a Monday


def test_deadlines_in_2027_skip_its_holidays():
    """Before: chinese-calendar 1.11 knows no 2027 and every day but Saturday and Sunday counted.
    From Thursday 4 February 2027, 除夕 (5th), the weekend and 初三 (8th) are days off."""
    start = datetime(2027, 2, 4, 10, 0, tzinfo=CHINA)
    assert add_working_days(start, 2).date() == date(2027, 2, 10)
    assert not workdays.is_working_day(date(2027, 10, 1))
    assert workdays.is_working_day(date(2027, 2, 9))


def test_seeded_years_agree_with_chinese_calendar():
    known = sorted({d.year for d in chinese_calendar.holidays})
    cal = HolidayCalendar.load()
    for year in known:
        y = cal.years[year]
        assert not y.provisional
        assert y.holidays == {d for d in chinese_calendar.holidays if d.year == year}, year
        assert y.workdays == {d for d in chinese_calendar.workdays if d.year == year}, year
        day = date(year, 1, 1)
        while day.year == year:  # the same answer for every day of the year
            assert cal.is_working_day(day) == chinese_calendar.is_workday(day), day
            day += timedelta(days=1)


def test_2027_is_provisional_until_the_notice():
    y = HolidayCalendar.load().years[2027]
    assert y.provisional and "放假办法" in y.source
    # the statutory days of 《全国年节及纪念日放假办法》第二条: 1 + 4 + 1 + 2 + 1 + 1 + 3
    assert len(y.holidays) == 13 and y.workdays == frozenset()


@pytest.mark.parametrize("text, message", [
    (GOOD.replace("year: {year}", "year: 1999"), "`year` must be"),
    (GOOD.replace("provisional: false", "provisional: maybe"), "`provisional`"),
    (GOOD.replace("source: 国务院办公厅关于{year}年部分节假日安排的通知", "source: ''"), "`source`"),
    (GOOD.replace("{year}-10-01", "{next}-10-01"), "is not in"),
    (GOOD.replace("{year}-10-01", "{year}-02-30"), "cannot be read"),
    (GOOD.replace("{year}-10-10", "{year}-10-01"), "both a holiday and a working day"),
    (GOOD.replace("{year}-10-10", "{year}-10-12"), "is a Monday–Friday already"),
    (GOOD + "  - {{date: {year}-10-10, name: 国庆节}}\n", "listed twice"),
    (GOOD.replace("workdays:\n  - {{date: {year}-10-10, name: 国庆节}}\n", ""), "`workdays` must be a list"),
    (GOOD.replace("name: 国庆节}}\nworkdays", "name: ''}}\nworkdays"), "name is missing"),
    ("- just a list\n", "not a YAML mapping"),
])
def test_a_bad_file_is_refused_naming_the_entry(tmp_path, text, message):
    path = tmp_path / "2026.yml"
    path.write_text(text.format(year=2026, next=2027), encoding="utf-8")
    with pytest.raises(CalendarError, match=message) as err:
        load_year(path)
    assert str(err.value).startswith("2026.yml")


async def test_the_app_does_not_start_with_a_bad_calendar(settings, tmp_path, monkeypatch):
    (tmp_path / "2026.yml").write_text(GOOD.format(year=2026).replace("10-10", "10-12"), "utf-8")
    monkeypatch.setattr(workdays, "CALENDAR_DIR", tmp_path)
    workdays.calendar.cache_clear()
    try:
        with pytest.raises(CalendarError, match="2026.yml: workday 2026-10-12"):
            await serve(settings)
    finally:
        workdays.calendar.cache_clear()


def _calendar(tmp_path, years: dict[int, bool]) -> HolidayCalendar:
    for year, provisional in years.items():
        (tmp_path / f"{year}.yml").write_text(
            f"year: {year}\nprovisional: {str(provisional).lower()}\nsource: 通知\n"
            f"holidays:\n  - {{date: {year}-10-01, name: 国庆节}}\nworkdays: []\n", encoding="utf-8")
    return HolidayCalendar.load(tmp_path)


def test_coverage_and_the_90_day_warning(tmp_path):
    cal = _calendar(tmp_path, {2026: False, 2027: True})
    early = cal.coverage(date(2026, 6, 1))
    assert early["warning"] is None and early["confirmed_until"] == "2026-12-31"
    late = cal.coverage(date(2026, 12, 2))  # 90 days ahead reach into provisional 2027
    assert late["missing_year"] == 2027 and late["missing_state"] == "provisional"
    assert late["covered_until"] == "2027-12-31" and late["confirmed_until"] == "2026-12-31"
    beyond = cal.coverage(date(2028, 3, 1))
    assert beyond["missing_state"] == "absent" and beyond["covered_until"] is None
    assert cal.is_working_day(date(2028, 3, 1)) and not cal.is_working_day(date(2028, 3, 4))


async def test_healthz_reports_calendar_coverage(api):
    body = (await api.get("/healthz")).json()
    cov = body["calendar"]
    assert 2026 in cov["years"] and 2027 in cov["provisional_years"]
    today = datetime.now(CHINA).date()
    assert cov == HolidayCalendar.load().coverage(today)


# --- crediting the time a ticket waited for the citizen ---------------------------------------

OFFICE = [(time(9), time(12)), (time(13, 30), time(17, 30))]


def _at(*args) -> datetime:
    return datetime(*args, tzinfo=CHINA)


@pytest.mark.parametrize("paused, resumed", [
    (_at(2025, 9, 30, 10), _at(2025, 10, 9, 10)),  # 国庆 2025: 1–8 Oct
    (_at(2026, 9, 30, 10), _at(2026, 10, 8, 10)),  # 国庆 2026: 1–7 Oct
])
def test_a_pause_over_the_national_day_is_one_working_day(paused, resumed):
    """From the last working day before 国庆 to the first after it: one working day passed, not
    the eight or nine calendar days."""
    assert working_time(paused, resumed) == timedelta(days=1)
    # in office hours: 10:00–12:00 and 13:30–17:30 on the first day, 09:00–10:00 on the last
    assert working_time(paused, resumed, OFFICE) == timedelta(hours=7)
    due = _at(2026, 11, 3, 15)  # a Tuesday
    # a working day's credit moves Tuesday 15:00 to Wednesday 15:00 (seven office hours too)
    for unit in ("working_days", "working_hours"):
        assert shifted_by_pauses(due, [(paused, resumed)], unit, OFFICE) == _at(2026, 11, 4, 15)


def test_a_weeks_pause_near_a_holiday_lands_on_a_working_day_at_the_same_time():
    """A week's pause, Monday 21 to Monday 28 Sep 2026 (中秋 took Friday 25): four working days. A
    deadline of Tuesday 29 Sep moves four working days, over 国庆 to Saturday 10 Oct (调休, worked)
    at the same time of day, not seven calendar days into the holiday (6 Oct)."""
    week = [(_at(2026, 9, 21, 10), _at(2026, 9, 28, 10))]
    assert working_time(*week[0]) == timedelta(days=4)
    due = shifted_by_pauses(_at(2026, 9, 29, 10), week, "working_days", OFFICE)
    assert due == _at(2026, 10, 10, 10) and workdays.is_working_day(due.date())
    # a warning time on a rest day (中秋) counts from the next working day and ends on one
    warn = shifted_by_pauses(_at(2026, 9, 26, 15), week, "working_days", OFFICE)
    assert workdays.is_working_day(warn.astimezone(CHINA).date())
    assert working_time(_at(2026, 9, 26, 15), warn) == timedelta(days=4)


def test_credit_ending_at_midnight_before_a_holiday_falls_due_when_work_resumes():
    """Exactly the rest of 30 Sep 2026: its last moment is the first of 8 Oct, the same working
    time, and the deadline carries a working day's date rather than 国庆's."""
    due = add_working_time(_at(2026, 9, 30, 10), timedelta(hours=14))
    assert due == _at(2026, 10, 8, 0)


def test_calendar_day_targets_credit_the_whole_wait():
    """A target in calendar days runs through rest days and holidays, so a pause over them gave
    the department back every one of those days."""
    pauses = [(_at(2026, 9, 30, 10), _at(2026, 10, 8, 10)), (_at(2026, 10, 9, 9), _at(2026, 10, 9, 12))]
    assert shifted_by_pauses(_at(2026, 10, 20, 10), pauses, "calendar_days", OFFICE) == \
        _at(2026, 10, 28, 13)


def test_a_pause_with_no_working_time_leaves_the_deadline_alone():
    weekend = [(_at(2026, 10, 3, 9), _at(2026, 10, 4, 20))]  # inside 国庆
    sunday_night = _at(2026, 11, 8, 22)
    for unit in ("working_days", "working_hours"):
        assert shifted_by_pauses(sunday_night, weekend, unit, OFFICE) == sunday_night
    with pytest.raises(ValueError, match="unknown SLA unit"):
        shifted_by_pauses(sunday_night, weekend, "fortnights", OFFICE)


def test_shifting_by_the_working_time_between_two_moments_keeps_it():
    """Two pauses credited one after the other or together move a deadline to the same moment,
    and the working time between a deadline and its shift is the credit (warning and deadline
    keep their distance in working time)."""
    first = (_at(2026, 9, 24, 16), _at(2026, 10, 9, 11))
    second = (_at(2026, 12, 31, 9), _at(2027, 1, 4, 9))  # over 元旦 2027
    due = _at(2026, 12, 30, 11)
    for office in (None, OFFICE):
        credits = working_time(*first, office), working_time(*second, office)
        both = add_working_time(due, sum(credits, timedelta()), office)
        assert both == add_working_time(add_working_time(due, credits[0], office), credits[1], office)
        assert working_time(due, both, office) == sum(credits, timedelta())
