"""The ticket pages through real HTTP forms: the queue (urgency order, colours, filters, search,
pagination) and the detail page's actions (claim, note, request information, resume,
resolve, close, reopen, transfer)."""

import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from console import users, views
from hotline.db import utcnow
from referral.models import AuditEntry, Ticket, TicketEvent
from tests.services.console.conftest import PASSWORD


def flash(html: str) -> str:
    m = re.search(r'<div class="flash (\w+)" role="status">([^<]*)</div>', html)
    return f"{m.group(1)}:{m.group(2)}" if m else ""


def status_of(html: str) -> str:
    return re.search(r'<span class="tag status" id="status">([^<]*)</span>', html).group(1)


def action_forms(html: str) -> list[str]:
    return re.findall(r'data-action="(\w+)"', html)


@pytest.fixture
async def clerk(make_user, login):
    return await login(await make_user("staff", "civil_affairs"))


async def act(staff, ref: str, action: str, **fields) -> str:
    """Submit an action form, follow the redirect, return the page shown."""
    r = await staff.post_form(f"/console/tickets/{ref}/{action}", fields)
    assert r.status_code == 302, r.text
    return (await staff.client.get(r.headers["location"])).text


async def set_deadlines(sessions, ref: str, **values) -> None:
    async with sessions() as s, s.begin():
        await s.execute(update(Ticket).where(Ticket.reference_no == ref).values(**values))


async def test_the_whole_lifecycle_through_the_forms(clerk, file_ticket, sessions):
    ref = await file_ticket()  # no street given: 待分派, so the office may place it
    page = (await clerk.client.get(f"/console/tickets/{ref}")).text
    assert status_of(page) == "新转介"
    assert action_forms(page) == ["claim", "note", "call_back", "place", "transfer"]

    page = await act(clerk, ref, "claim")
    assert flash(page) == "ok:已认领受理，已通知求助群众。"
    assert status_of(page) == "已受理" and clerk.username in page
    assert action_forms(page) == ["start", "resolve", "note", "call_back", "request_info", "place",
                                  "transfer"]

    page = await act(clerk, ref, "note", text="已电话联系，约定周三入户核查。")
    assert "已电话联系，约定周三入户核查。" in page and flash(page).startswith("ok:")

    page = await act(clerk, ref, "request_info", message="请补充户口簿和收入证明")
    assert status_of(page) == "待群众补充" and "暂停计时" in page
    assert action_forms(page) == ["resume", "resolve", "note", "call_back", "place", "transfer"]

    page = await act(clerk, ref, "resume")
    assert status_of(page) == "办理中"

    page = await act(clerk, ref, "resolve", result="经入户核查，符合低保条件，已纳入低保。")
    assert status_of(page) == "已办结" and 'id="result"' in page
    assert action_forms(page) == ["close", "reopen", "dates"]
    # what was granted is dated for the citizen's reminder (渐退期, temporary help, review)
    assert '<select name="kind" required>' in page and '<input type="date" name="day" required>' in page
    page = await act(clerk, ref, "dates", kind="review", day="2099-06-30")
    assert flash(page) == "ok:已设置，到期前会提醒群众。" and 'id="reminder-dates"' in page
    assert "复核：2099-06-30" in page
    page = await act(clerk, ref, "dates", kind="review", day="2001-01-01")
    assert flash(page).startswith("error:")

    page = await act(clerk, ref, "close")
    assert status_of(page) == "已关闭" and action_forms(page) == ["reopen", "dates"]

    page = await act(clerk, ref, "reopen", reason="群众反映补助金额有误")
    assert status_of(page) == "重新办理" and "群众反映补助金额有误" in page
    # the history reads top-down newest first
    kinds = [k for k in re.findall(r'<li data-kind="(\w+)">', page) if k != "notice"]
    assert kinds == ["reopen", "close", "dates", "resolve", "resume", "request_info", "note", "claim",
                     "created"]


async def test_empty_fields_and_illegal_steps_are_explained(clerk, file_ticket):
    ref = await file_ticket()
    page = await act(clerk, ref, "note", text="   ")
    assert flash(page) == "error:请填写：备注内容"
    page = await act(clerk, ref, "close")  # a new ticket cannot be closed
    assert flash(page).startswith("error:当前状态下不能执行此操作")
    assert status_of(page) == "新转介"
    r = await clerk.post_form(f"/console/tickets/{ref}/delete")
    assert r.status_code == 404


async def test_transfer_out_of_the_department_returns_to_the_queue(clerk, file_ticket):
    ref = await file_ticket()
    r = await clerk.post_form(f"/console/tickets/{ref}/transfer",
                              {"department": "medical", "reason": "属于医疗救助，转医保部门"})
    assert r.status_code == 302 and r.headers["location"] == "/console/queue"
    queue = (await clerk.client.get("/console/queue")).text
    assert flash(queue) == f"ok:{ref} 已转办至医保（六安市裕安区医保），不在您的权限范围内。"
    assert (await clerk.client.get(f"/console/tickets/{ref}")).status_code == 404


async def test_queue_colours_by_time_left(clerk, file_ticket, sessions):
    marker = uuid.uuid4().hex[:10]
    late, soon, calm, paused = [await file_ticket(description=f"{n} {marker}") for n in "abcd"]
    now = utcnow()
    await set_deadlines(sessions, late, first_response_due=now - timedelta(hours=2))
    await set_deadlines(sessions, soon, first_response_due=now + timedelta(hours=2))
    await set_deadlines(sessions, calm, first_response_due=now + timedelta(days=9),
                        resolution_due=now + timedelta(days=30))
    await act(clerk, paused, "claim")
    await act(clerk, paused, "request_info", message="请补充材料")
    page = (await clerk.client.get("/console/queue", params={"q": marker})).text
    levels = {ref: level for level, ref in re.findall(
        r'<tr data-level="(\w+)" data-reference="([^"]+)">', page)}
    assert levels == {late: "overdue", soon: "soon", calm: "normal", paused: "paused"}
    refs_in_order = re.findall(r'data-reference="([^"]+)"', page)
    assert refs_in_order.index(late) < refs_in_order.index(soon) < refs_in_order.index(calm)
    assert "已超时 2小时" in page or "已超时 1小时59分" in page
    assert re.search(r'data-due="\d{13}"', page)  # the script's countdown source
    assert "setInterval(tick, 1000)" in page


async def test_queue_filters_and_search(clerk, file_ticket, sessions):
    marker = uuid.uuid4().hex[:10]
    dibao = await file_ticket("dibao", description=f"低保 {marker}")
    urgent = await file_ticket("temporary", urgency="urgent", description=f"急难 {marker}")
    phone = await file_ticket("tekun", citizen={"name": "李四", "phone": "13912340000"},
                              description=f"特困 {marker}")
    await set_deadlines(sessions, dibao, first_response_due=utcnow() - timedelta(hours=1))

    async def listed(**params) -> set[str]:
        page = (await clerk.client.get("/console/queue", params=params)).text
        return set(re.findall(r'data-reference="([^"]+)"', page)) & {dibao, urgent, phone}

    assert await listed(q=marker) == {dibao, urgent, phone}
    assert await listed(q=marker, program="temporary") == {urgent}
    assert await listed(q=marker, urgency="urgent") == {urgent}
    assert await listed(q=marker, breached="1") == {dibao}
    assert await listed(q=marker, breached="0") == {urgent, phone}
    assert await listed(q=marker, status="resolved") == set()
    assert await listed(q="0000") >= {phone}  # last 4 digits of the phone
    assert await listed(q=dibao) == {dibao}  # reference number
    assert await listed(q=marker, program="no-such-program") == {dibao, urgent, phone}  # ignored


async def test_queue_pages(clerk, file_ticket, monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    marker = uuid.uuid4().hex[:10]
    refs = {await file_ticket(description=f"{i} {marker}") for i in range(5)}
    seen, page_no = set(), 1
    while True:
        page = (await clerk.client.get("/console/queue", params={"q": marker, "page": page_no})).text
        assert f"第 {page_no} / 3 页" in page and "共 5 件" in page
        seen |= set(re.findall(r'data-reference="([^"]+)"', page))
        nxt = re.search(r'href="\?([^"]+)">下一页', page)
        if not nxt:
            break
        assert f"q={marker}" in nxt.group(1)  # the filters survive paging
        page_no += 1
    assert seen == refs and page_no == 3


async def test_detail_shows_full_personal_data_and_masked_id(clerk, api):
    r = await api.post("/api/referrals", json={
        "program": "dibao", "region": "341503", "street": "平桥乡人民政府",
        "citizen": {"name": "赵<b>六</b>", "phone": "13700005678", "id_number": "34150319500101123X"},
        "description": "<script>alert(1)</script>一家三口无收入", "channel": "wechat"})
    ref = r.json()["reference_no"]
    page = (await clerk.client.get(f"/console/tickets/{ref}")).text
    assert "13700005678" in page and "341503********123X" in page
    assert "34150319500101123X" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    assert "赵&lt;b&gt;六&lt;/b&gt;" in page


async def test_a_clerk_with_the_longest_username_views_and_changes_a_ticket(login, file_ticket, sessions):
    """The audit log and ticket history record "role:username": with a 64-character username
    (the longest allowed) that is 70 characters, which PostgreSQL refused in a 64-wide column."""
    username = ("clerk-" + uuid.uuid4().hex + "x" * 64)[:64]
    await users.create_user(sessions, username, PASSWORD, "staff", "civil_affairs", ())
    staff = await login(username)
    ref = await file_ticket("dibao")
    page = await staff.client.get(f"/console/tickets/{ref}")
    assert page.status_code == 200 and ref in page.text
    assert "claim" in action_forms(page.text)
    await act(staff, ref, "claim")
    await act(staff, ref, "note", text="已电话联系")
    async with sessions() as s:
        actors = set(await s.scalars(select(AuditEntry.actor).where(AuditEntry.actor.contains(username))))
        history = set(await s.scalars(select(TicketEvent.actor).where(TicketEvent.actor.contains(username))))
    assert actors == {f"staff:{username}"} and history == {f"staff:{username}"}


async def test_a_clerk_records_the_first_help_of_a_fast_path(clerk, file_ticket, sessions):
    """吉林 第15条 先行救助: the queue marks the referral until its first help is recorded, and
    red once its own deadline passed; the form records what was given, once, and the clock of
    the whole referral runs on."""
    marker = uuid.uuid4().hex[:10]
    fast = await file_ticket("temporary", "220000", urgency="urgent", description=f"家里着火 {marker}")
    overdue = await file_ticket("temporary", "220000", urgency="urgent", description=f"车祸 {marker}")
    plain = await file_ticket("temporary", "220000", description=f"不急 {marker}")  # not 急难
    await set_deadlines(sessions, overdue, fast_path_due=utcnow() - timedelta(hours=1))

    queue = (await clerk.client.get("/console/queue", params={"q": marker})).text
    rows = dict(re.findall(r'data-reference="([^"]+)">(.*?)</tr>', queue, re.S))
    assert "先行救助</span>" in rows[fast] and "先行救助逾期" not in rows[fast]
    assert "先行救助逾期" in rows[overdue]
    assert "先行救助" not in rows[plain]

    page = (await clerk.client.get(f"/console/tickets/{overdue}")).text
    assert 'id="fast-path-overdue"' in page
    page = (await clerk.client.get(f"/console/tickets/{fast}")).text
    assert action_forms(page)[:2] == ["claim", "first_help"]
    assert "first_help" not in action_forms((await clerk.client.get(f"/console/tickets/{plain}")).text)
    page = await act(clerk, fast, "first_help", given=" ")
    assert flash(page).startswith("error:请填写：先行给予的救助")

    page = await act(clerk, fast, "first_help", given="临时救助金1000元")
    assert flash(page) == "ok:已记录先行救助，已通知求助群众。"
    assert 'id="fast-path-given"' in page and "first_help" not in action_forms(page)
    assert status_of(page) == "新转介" and "临时救助金1000元" in page
    r = await clerk.post_form(f"/console/tickets/{fast}/first_help", {"given": "再记一次"})
    assert "当前状态下不能执行此操作" in flash((await clerk.client.get(r.headers["location"])).text)
    queue = (await clerk.client.get("/console/queue", params={"q": marker})).text
    assert "先行救助" not in dict(re.findall(r'data-reference="([^"]+)">(.*?)</tr>', queue, re.S))[fast]
