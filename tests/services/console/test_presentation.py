"""Pure pieces of the console: chart geometry, urgency colours, time left, redirects."""

from datetime import UTC, datetime, timedelta

import pytest

from console import auth, views
from console.chart import backlog_chart
from referral.workdays import add_working_days


def test_bars_stack_breached_approaching_and_on_track_to_scale():
    chart = backlog_chart([
        {"department_name": "民政", "open": 40, "breached": 10, "approaching": 5},
        {"department_name": "医保", "open": 8, "breached": 0, "approaching": 0},
        {"department_name": "教育", "open": 0, "breached": 0, "approaching": 0},
    ], width=880, label_width=120)
    civil, medical, education = chart.bars
    assert [t[1] for t in chart.ticks] == [0, 10, 20, 30, 40, 50]  # round grid up to 50
    assert [(s.kind, s.count) for s in civil.segments] == [
        ("breached", 10), ("approaching", 5), ("on_track", 25)]
    plot = 880 - 120 - 60
    assert civil.segments[0].x == 120 and civil.segments[0].width == pytest.approx(plot * 10 / 50)
    assert civil.end_x == pytest.approx(120 + plot * 40 / 50)
    assert medical.segments[0].width == pytest.approx(plot * 8 / 50)
    assert education.segments == () and education.end_x == 120
    assert civil.y < medical.y < education.y < chart.height


def test_an_empty_dashboard_still_draws_an_axis():
    chart = backlog_chart([])
    assert chart.bars == () and chart.ticks[-1][1] == 1


@pytest.mark.parametrize("row, level", [
    ({"status": "accepted", "due_in_s": -60, "paused": False}, "overdue"),
    ({"status": "waiting_citizen", "due_in_s": -60, "paused": True}, "overdue"),
    ({"status": "waiting_citizen", "due_in_s": 3600, "paused": True}, "paused"),
    ({"status": "new", "due_in_s": 3600, "paused": False}, "soon"),
    ({"status": "new", "due_in_s": 30 * 86400, "paused": False}, "normal"),
    ({"status": "resolved", "due_in_s": -60, "paused": False}, "done"),
])
def test_urgency_colour(row, level):
    now = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    assert views._urgency_class(row, now, add_working_days(now, 1)) == level


def test_less_than_one_working_day_counts_working_days():
    # Friday 2026-10-30 16:00 in China: a deadline on Monday morning is under one working day
    # away although three calendar days remain; one on Tuesday afternoon is not.
    friday = datetime(2026, 10, 30, 8, 0, tzinfo=UTC)
    soon_until = add_working_days(friday, 1)
    monday_9 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
    tuesday = datetime(2026, 11, 3, 8, 0, tzinfo=UTC)
    row = {"status": "accepted", "paused": False}
    assert views._urgency_class(row | {"due_in_s": (monday_9 - friday).total_seconds()},
                                friday, soon_until) == "soon"
    assert views._urgency_class(row | {"due_in_s": (tuesday - friday).total_seconds()},
                                friday, soon_until) == "normal"


@pytest.mark.parametrize("seconds, text", [
    (59, "0分59秒"), (-3700, "1小时1分"), (2 * 86400 + 5 * 3600 + 7, "2天5小时")])
def test_time_left_reads_in_chinese(seconds, text):
    assert views._duration(seconds) == text


def test_local_time_is_beijing_time():
    assert views._local_time("2026-11-22T01:30+00:00") == "2026-11-22 09:30"
    assert views._local_time(datetime(2026, 11, 22, 1, 30, tzinfo=UTC) + timedelta(0),
                             "%m-%d %H:%M") == "11-22 09:30"
    assert views._local_time(None) == ""


@pytest.mark.parametrize("target, expected", [
    ("/console/tickets/12349-20261122-0001", "/console/tickets/12349-20261122-0001"),
    ("/console/queue?status=all", "/console/queue?status=all"),
    ("//evil.example/console/", "/console/queue"),
    ("https://evil.example/", "/console/queue"),
    ("/console/login", "/console/queue"),
    ("/console\\..\\x", "/console/queue"),
    (None, "/console/queue"),
])
def test_after_login_only_console_paths(target, expected):
    assert auth.safe_next(target) == expected


def test_pagination_links_keep_filters_and_drop_defaults():
    f = views.QueueFilters(department=None, status="all", program="dibao", urgency=None,
                           breached=True, unplaced=False, q="平桥", page=2)
    assert f.query(page=3) == "status=all&program=dibao&q=%E5%B9%B3%E6%A1%A5&page=3&breached=1"
    assert "page" not in f.query(page=1)
