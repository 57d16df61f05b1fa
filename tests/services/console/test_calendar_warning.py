"""Supervisors are warned in the console when the holiday calendar does not confirm the next
90 days; clerks are not (they cannot add a year)."""

from __future__ import annotations

from datetime import datetime

from console import views
from referral.workdays import CHINA
from tests.services.test_calendar import _calendar


async def test_supervisors_see_the_calendar_warning_and_clerks_do_not(make_user, login, tmp_path,
                                                                        monkeypatch):
    this_year = datetime.now(CHINA).year
    short = _calendar(tmp_path, {this_year: False})  # nothing beyond 31 December
    monkeypatch.setattr(views, "calendar", lambda: short)
    monkeypatch.setattr(views, "utcnow", lambda: datetime(this_year, 12, 1, 2, tzinfo=CHINA))
    supervisor = await login(await make_user("supervisor"))
    page = (await supervisor.client.get("/console/dashboard")).text
    assert 'id="calendar-warning"' in page and f"缺少 {this_year + 1} 年" in page
    clerk = await login(await make_user("staff"))
    assert 'id="calendar-warning"' not in (await clerk.client.get("/console/queue")).text
    covered = _calendar(tmp_path, {this_year + 1: False})
    monkeypatch.setattr(views, "calendar", lambda: covered)
    assert 'id="calendar-warning"' not in (await supervisor.client.get("/console/dashboard")).text
