"""The supervisors' complaint pages through real HTTP forms: filing one that came by letter,
the list (masked), a complaint's page (the number shown, the view audited), its answer, the
dashboard's counts per department; a clerk is refused them all."""

import re

from sqlalchemy import select

from referral.models import AuditEntry, Complaint, Outreach
from tests.services.console.test_pages import flash


async def test_a_supervisor_files_answers_and_counts_complaints(make_user, login, file_ticket, sessions):
    boss = await login(await make_user("supervisor", None))
    clerk = await login(await make_user("staff", "housing"))
    ref = await file_ticket("housing", "430200")
    page = (await boss.client.get("/console/complaints")).text
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page).group(1)
    form = {"ticket": ref, "phone": "13700005555",
            "what_happened": "住建窗口说危房改造名额没了，让我明年再来",
            "wants": "给个书面答复", "idempotency_key": key}
    r = await boss.post_form("/console/complaints", form)
    assert r.status_code == 302
    again = await boss.post_form("/console/complaints", form)  # a double submit: the same one
    assert again.headers["location"] == r.headers["location"]
    number = r.headers["location"].rsplit("/", 1)[1]
    async with sessions() as s:
        c = await s.scalar(select(Complaint).where(Complaint.reference_no == number))
    assert c.department == "housing" and c.filed_by.startswith("supervisor:") and c.ticket_id

    listing = (await boss.client.get("/console/complaints", params={"department": "housing"})).text
    row = re.search(rf'data-reference="{number}".*?</tr>', listing, re.S).group(0)
    assert "住房" in row or "住建" in row
    assert "13700005555" not in listing and "137****5555" in row

    detail = (await boss.client.get(f"/console/complaints/{number}")).text
    assert "13700005555" in detail and ref in detail and 'id="answer-form"' in detail
    async with sessions() as s:
        assert await s.scalar(select(AuditEntry).where(AuditEntry.action == "complaint_view",
                                                       AuditEntry.actor == boss_actor(boss)))

    dashboard = (await boss.client.get("/console/dashboard")).text
    counts = complaint_counts(dashboard)
    total, open_, overdue = map(int, re.findall(r'<td class="n">(\d+)</td>', counts))
    assert total >= 1 and open_ >= 1 and overdue >= 0

    r = await boss.post_form(f"/console/complaints/{number}/answer", {"outcome": " "})
    assert flash((await boss.client.get(r.headers["location"])).text).startswith("error:")
    r = await boss.post_form(f"/console/complaints/{number}/answer",
                             {"outcome": "经核实名额尚有，已通知住建局三日内联系您"})
    page = (await boss.client.get(r.headers["location"])).text
    assert flash(page).startswith("ok:") and 'id="outcome"' in page and 'id="answer-form"' not in page
    async with sessions() as s:
        told = list(await s.scalars(select(Outreach).where(Outreach.complaint_id == c.id)))
    assert len(told) == 1 and told[0].phone == "13700005555" and "三日内" in told[0].text
    dashboard = (await boss.client.get("/console/dashboard")).text
    counts_after = complaint_counts(dashboard)
    assert list(map(int, re.findall(r'<td class="n">(\d+)</td>', counts_after)))[1] == open_ - 1

    for path in ("/console/complaints", f"/console/complaints/{number}"):
        assert (await clerk.client.get(path)).status_code == 403, path
    assert "投诉督办" not in (await clerk.client.get("/console/queue")).text


def boss_actor(staff) -> str:
    return f"supervisor:{staff.username}"


def complaint_counts(dashboard: str) -> str:
    table = dashboard.split('id="complaints-by-department"', 1)[1].split("</table>", 1)[0]
    return re.search(r'<tr data-department="housing">(.*?)</tr>', table, re.S).group(1)
