"""Referral rules without database or web server."""

from datetime import datetime

import pytest

from referral import domain
from referral.workdays import CHINA, add_working_days, add_working_hours, is_working_day


def at(y, m, d, h=10):
    return datetime(y, m, d, h, 0, tzinfo=CHINA)


def test_national_day_is_skipped_and_adjusted_saturday_counts():
    # 2025: 10月1-8日 holiday; Sunday 9月28日 and Saturday 10月11日 are adjusted working days.
    assert not is_working_day(at(2025, 10, 3).date())
    assert is_working_day(at(2025, 10, 11).date())
    assert add_working_days(at(2025, 9, 30), 1) == at(2025, 10, 9)
    assert add_working_days(at(2025, 10, 9), 2) == at(2025, 10, 11)


def test_year_outside_the_calendar_falls_back_to_weekdays(caplog):
    start = at(2099, 1, 2)  # a Friday
    assert add_working_days(start, 1) == at(2099, 1, 5)
    assert "has no 2099.yml" in caplog.text


def test_every_program_has_an_owner_department():
    for program in domain.PROGRAMS:
        assert domain.department_for(program) in domain.routing()["departments"]
    assert domain.department_for("disaster") == "emergency"
    assert domain.department_for("dibao") == "civil_affairs"


def test_dibao_resolution_is_20_working_days_cited():
    sla = domain.sla_for("dibao", "normal")
    assert (sla.resolution.value, sla.resolution.unit, sla.resolution.verified) == (
        20, "working_days", True)
    assert "004_661d87b0b2d25674.txt" in sla.resolution.source


def test_urgent_temporary_assistance_finishes_within_30_calendar_days():
    sla = domain.sla_for("temporary", "urgent")
    first, resolution = sla.deadlines(at(2026, 1, 30))
    assert resolution == at(2026, 3, 1)
    assert first > at(2026, 1, 30)


@pytest.mark.parametrize("program", ["housing", "employment"])
def test_unstated_targets_are_marked_unverified(program):
    sla = domain.sla_for(program, "normal")
    assert not sla.resolution.verified and not sla.first_response.verified


def test_reference_number_format():
    assert domain.format_reference_no(datetime(2026, 11, 22).date(), 7, 38) == "12349-20261122-0007-038"


def test_spring_festival_2025_and_its_adjusted_working_days():
    # 2025 春节: 1月28日-2月4日 off; Sunday 1月26日 and Saturday 2月8日 are working days.
    assert is_working_day(at(2025, 1, 26).date()) and is_working_day(at(2025, 2, 8).date())
    assert not is_working_day(at(2025, 1, 28).date()) and not is_working_day(at(2025, 2, 4).date())
    assert add_working_days(at(2025, 1, 27), 1) == at(2025, 2, 5)
    assert add_working_days(at(2025, 2, 7), 1) == at(2025, 2, 8)


def test_twenty_working_days_across_national_day():
    # from Fri 2025-09-26: 9/28 (Sun, adjusted) 1, 9/29 2, 9/30 3, [10/1-10/8 off], 10/9 4,
    # 10/10 5, 10/11 (Sat, adjusted) 6, 10/13-17 7-11, 10/20-24 12-16, 10/27-30 17-20
    due = add_working_days(at(2025, 9, 26), 20)
    assert due == at(2025, 10, 30)


def test_working_hours_skip_lunch_nights_and_holidays():
    office = domain.office_hours()
    # 11:00 + 2 h: 1 h before lunch, 1 h after 13:30
    assert add_working_hours(at(2026, 3, 3, 11), 2, office) == datetime(2026, 3, 3, 14, 30,
                                                                        tzinfo=CHINA)
    # Friday 17:00 + 1 h: 30 min on Friday, 30 min on Monday morning
    assert add_working_hours(at(2026, 3, 6, 17), 1, office) == datetime(2026, 3, 9, 9, 30,
                                                                       tzinfo=CHINA)
    # 2025-09-30 16:30 + 2 h: 1 h that day, then the National Day break, 1 h on 10月9日
    assert add_working_hours(datetime(2025, 9, 30, 16, 30, tzinfo=CHINA), 2, office) == \
        datetime(2025, 10, 9, 10, 0, tzinfo=CHINA)
    # a request at night starts counting next morning
    assert add_working_hours(at(2026, 3, 3, 22), 1, office) == at(2026, 3, 4, 10)


def test_transfer_uses_the_holding_departments_policy():
    assert domain.sla_for("dibao", "normal").resolution.value == 20
    moved = domain.sla_for("dibao", "normal", "housing")
    assert moved.policy == "default" and not moved.resolution.verified
    assert domain.sla_for("disaster", "normal").first_response.value == 2


def test_routing_rules():
    placed = domain.route("dibao", "341503", "平桥乡人民政府")
    assert (placed.handling_unit, placed.unit_code, placed.unplaced) == ("平桥乡人民政府", "341503204", False)
    unknown = domain.route("dibao", "341503", None, region_name="六安市裕安区")
    assert (unknown.handling_unit, unknown.unit_code, unknown.unplaced) == ("六安市裕安区民政", None, True)
    assert domain.route("temporary", "320200", text="白血病").department == "charity"
    assert domain.route("housing", "320200", region_name="无锡市").handling_unit == "无锡市住建/房管"


def test_lifecycle_table():
    assert domain.next_status("claim", "new") == "accepted"
    assert domain.next_status("resume", "waiting_citizen") == "in_progress"
    with pytest.raises(domain.InvalidTransition):
        domain.next_status("close", "new")
