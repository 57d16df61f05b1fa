"""The working-day calendar: operator data per year, checked at start, reported by /healthz and
to supervisors in the console."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import chinese_calendar
import pytest

from referral import workdays
from referral.workdays import CHINA, CalendarError, HolidayCalendar, add_working_days, load_year
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
