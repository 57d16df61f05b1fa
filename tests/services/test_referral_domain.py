"""Referral rules without database or web server."""

from datetime import datetime

import pytest

from referral import domain
from referral.workdays import CHINA, add_working_days, is_working_day


def at(y, m, d, h=10):
    return datetime(y, m, d, h, 0, tzinfo=CHINA)


def test_national_day_is_skipped_and_adjusted_saturday_counts():
    # 2025: 10月1-8日 holiday; Sat 9月28 and Sat 10月11 are adjusted working days.
    assert not is_working_day(at(2025, 10, 3).date())
    assert is_working_day(at(2025, 10, 11).date())
    assert add_working_days(at(2025, 9, 30), 1) == at(2025, 10, 9)
    assert add_working_days(at(2025, 10, 9), 2) == at(2025, 10, 11)


def test_year_outside_the_calendar_falls_back_to_weekdays(caplog):
    start = at(2099, 1, 2)  # a Friday
    assert add_working_days(start, 1) == at(2099, 1, 5)
    assert "does not cover 2099" in caplog.text


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
    assert domain.format_reference_no(datetime(2026, 11, 22).date(), 7) == "12349-20261122-0007"
