"""A real browser (Debian's Chromium, driven by Playwright; no browser download) on the live
app: login → claim → note → resolve, as a clerk at a 1366×768 office screen. Screenshots go
to /tmp/console-*.png for a person to look at."""

from __future__ import annotations

import os
import re
import uuid
from datetime import timedelta

import pytest
from playwright.async_api import async_playwright, expect
from sqlalchemy import update

from hotline.db import utcnow
from referral.models import Ticket
from tests.services.console.conftest import PASSWORD, new_ticket

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREEN = {"width": 1366, "height": 768}


@pytest.fixture(scope="module")
async def browser():
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        await b.close()


@pytest.fixture
async def page(browser, live_app):
    context = await browser.new_context(viewport=SCREEN, locale="zh-CN", base_url=live_app.url)
    p = await context.new_page()
    problems: list[str] = []  # script errors and CSP refusals would stop the countdowns
    p.on("pageerror", lambda exc: problems.append(str(exc)))
    p.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    yield p
    await context.close()
    assert problems == []


async def set_due(sessions, ref: str, **deadlines) -> None:
    async with sessions() as s, s.begin():
        await s.execute(update(Ticket).where(Ticket.reference_no == ref).values(**deadlines))


async def log_in(page, username: str, lands_on: str = "/console/queue") -> None:
    await page.goto("/console/queue")
    await expect(page).to_have_url(re.compile(r"/console/login\?next="))
    await expect(page.get_by_role("heading", name="工作人员登录")).to_be_visible()
    await page.get_by_label("用户名").fill(username)
    await page.get_by_label("密码").fill(PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await expect(page).to_have_url(re.compile(re.escape(lands_on) + "$"))


async def test_clerk_claims_notes_and_resolves(page, api, make_user, sessions):
    street = "石板冲乡"  # a 乡 no other test files to: this clerk's queue is this test's own
    username = await make_user("staff", "civil_affairs", ("石板冲乡人民政府",))
    ref = await new_ticket(api, "dibao", "341503", street,
                           citizen={"name": "王秀英", "phone": "13800001234"},
                           description="老伴瘫痪在床，两人都没有收入，想申请低保。")
    urgent = await new_ticket(api, "temporary", "341503", street, urgency="urgent",
                              description="家中失火，急需临时救助。")
    await set_due(sessions, urgent, first_response_due=utcnow() + timedelta(minutes=30))
    overdue = await new_ticket(api, "tekun", "341503", street, description="独居老人无人照料")
    await set_due(sessions, overdue, first_response_due=utcnow() - timedelta(hours=5))
    for program in ("dibao", "tekun", "temporary"):
        await new_ticket(api, program, "341503", street)

    await log_in(page, username)
    row = page.locator(f'tr[data-reference="{ref}"]')
    await expect(row).to_contain_text("最低生活保障")
    await expect(row).to_contain_text("王**")
    await expect(row).to_contain_text("138****1234")
    # the urgent one is amber and its countdown ticks every second
    urgent_row = page.locator(f'tr[data-reference="{urgent}"]')
    await expect(urgent_row).to_have_attribute("data-level", "soon")
    countdown = urgent_row.locator("[data-due]")
    first = await countdown.inner_text()
    assert re.fullmatch(r"剩余 (29|30)分\d+秒", first), first
    await expect(countdown).not_to_have_text(first, timeout=3000)
    await expect(page.locator(f'tr[data-reference="{overdue}"]')).to_have_attribute(
        "data-level", "overdue")
    await expect(page.locator(f'tr[data-reference="{overdue}"] .due')).to_contain_text("已超时 5小时")
    await page.screenshot(path="/tmp/console-queue.png")

    await row.get_by_role("link", name=ref).click()
    await expect(page.get_by_role("heading", name=ref)).to_be_visible()
    await expect(page.locator("#citizen-name")).to_have_text("王秀英")  # full data on detail only
    await expect(page.locator("#citizen-phone")).to_have_text("13800001234")
    await expect(page.locator("#status")).to_have_text("新转介")

    await page.get_by_role("button", name="认领受理").click()
    await expect(page.get_by_role("status")).to_have_text("已认领受理，已通知求助群众。")
    await expect(page.locator("#status")).to_have_text("已受理")
    await expect(page.locator("#assignee")).to_have_text(username)

    note = page.locator('form[data-action="note"]')
    await note.get_by_label("备注内容").fill("已电话联系王秀英，约定周三入户核查。")
    await note.get_by_role("button", name="添加备注").click()
    await expect(page.get_by_role("status")).to_have_text("备注已保存。")
    await expect(page.locator('#events li[data-kind="note"]')).to_contain_text("约定周三入户核查")

    resolve = page.locator('form[data-action="resolve"]')
    await resolve.get_by_label("办理结果").fill("经入户核查，符合低保条件，已纳入低保，按月发放。")
    await page.screenshot(path="/tmp/console-ticket.png")
    await resolve.get_by_role("button", name="办结").click()
    await expect(page.get_by_role("status")).to_have_text("已办结，已通知求助群众。")
    await expect(page.locator("#status")).to_have_text("已办结")
    await expect(page.locator("#result")).to_have_text("经入户核查，符合低保条件，已纳入低保，按月发放。")
    await expect(page.locator("form[data-action]")).to_have_count(3)  # close, reopen, dates
    await page.screenshot(path="/tmp/console-resolved.png", full_page=True)

    await page.get_by_role("link", name="← 返回转介队列").click()
    await expect(page.locator(f'tr[data-reference="{ref}"]')).to_have_count(0)  # no longer open


async def test_supervisor_sees_the_backlog_chart(page, api, make_user, sessions):
    late = await new_ticket(api, "medical", "430200", description="住院押金交不起")
    await set_due(sessions, late, first_response_due=utcnow() - timedelta(hours=3))
    await log_in(page, await make_user("supervisor"))
    await page.get_by_role("link", name="统计看板").click()
    chart = page.locator("#backlog-chart")
    await expect(chart).to_be_visible()
    await expect(chart.locator('g[data-department="医保"] rect.breached')).to_have_count(1)
    box = await chart.bounding_box()
    assert box["x"] + box["width"] <= SCREEN["width"]  # fits the office screen, no scrolling
    await page.screenshot(path="/tmp/console-dashboard.png")


async def test_admin_creates_a_clerk_on_the_users_page(page, make_user):
    await page.goto("/console/login")
    await page.screenshot(path="/tmp/console-login.png")
    await log_in(page, await make_user("admin"), lands_on="/console/users")  # accounts, not tickets
    await page.get_by_role("link", name="用户管理").click()
    username = f"pq_{uuid.uuid4().hex[:6]}"
    form = page.locator("#create-user")
    await form.get_by_label("用户名").fill(username)
    await form.get_by_label("姓名").fill("平桥乡民政专干")
    await form.get_by_label("初始密码").fill(PASSWORD)
    await form.locator("select[name=role]").select_option("staff")
    await form.locator("select[name=department]").select_option("civil_affairs")
    await form.locator("textarea[name=units]").fill("平桥乡人民政府")
    await form.get_by_role("button", name="新建用户").click()
    await expect(page.get_by_role("status")).to_have_text(f"已创建用户 {username}。")
    await expect(page.locator(f'tr[data-username="{username}"]')).to_contain_text("平桥乡人民政府")
    await page.screenshot(path="/tmp/console-users.png")


async def test_a_clerk_sees_the_case_with_their_referral_and_that_others_exist(page, api, make_user):
    """一门受理 in the browser: the medical clerk opens their referral, follows it to the case and
    finds the education referral beside it, its department and status only (no link, no data)."""
    username = await make_user("staff", "medical")
    r = await api.post("/api/cases", json={
        "region": "430200", "channel": "sms", "citizen": {"name": "周建国", "phone": "13700002468"},
        "description": "老伴透析医保报完还差几千，孙子读初三学费交不上",
        "referrals": [{"program": "medical"}, {"program": "education"}]})
    assert r.status_code == 201, r.text
    case_ref = r.json()["reference_no"]
    await log_in(page, username)
    await page.goto(f"/console/queue?q={case_ref}")
    await page.locator(f'tr[data-reference="{case_ref}"] a').click()
    await page.locator("#case-link").click()
    await expect(page).to_have_url(re.compile(re.escape(f"/console/cases/{case_ref}") + "$"))
    await expect(page.get_by_role("heading", name=re.compile("受理编号"))).to_contain_text(case_ref)
    mine = page.locator('section.referral.mine[data-department="medical"]')
    other = page.locator('section.referral.other[data-department="education"]')
    await expect(mine).to_contain_text("医疗救助")
    await expect(mine.get_by_role("link")).to_have_attribute("href", f"/console/tickets/{case_ref}")
    await expect(other).to_contain_text("教育（其他部门办理，详情不可见）")
    await expect(other).to_contain_text("新转介")
    assert await other.get_by_role("link").count() == 0
    await expect(page.locator("body")).not_to_contain_text("13700002468")
    await expect(page.locator("body")).to_contain_text("137****2468")
    await page.screenshot(path="/tmp/console-case.png", full_page=True)


async def test_an_agent_works_the_call_back_list(page, api, make_user, sessions, live_app):
    """主动发现 in the browser: a clerk asks for a call-back on a ticket, a notice fails to reach
    another citizen; the agent finds both on 回访名单 (numbers masked), opens one to dial it (the
    number shown, the view audited), records 无人接听 (it stays, one try counted), then 已联系上
    (it leaves the list); the ticket's history shows the result."""
    from sqlalchemy import select

    from referral import service
    from referral.access import Viewer
    from referral.models import AuditEntry, OutboxMessage
    from referral.models import Ticket as T

    clerk = await make_user("staff", "civil_affairs")
    agent = await make_user("agent", None)
    flagged = await new_ticket(api, "dibao", "430200", citizen={"name": "赵桂兰", "phone": "13600001357"},
                               description="独居老人，电话里说不清楚，请上门或回电核实")
    unreached = await new_ticket(api, "tekun", "430200", citizen={"name": "钱福生", "phone": "13500002468"})
    viewer = Viewer(clerk, "staff", "civil_affairs")
    await service.claim(live_app.app.ctx.sessions, viewer, unreached)
    async with sessions() as s:
        t = await s.scalar(select(T).where(T.reference_no == unreached))
        outbox = await s.scalar(select(OutboxMessage).where(OutboxMessage.ticket_id == t.id))
    await service.notification_result(sessions, outbox.id, "failed", "号码停机")

    await log_in(page, clerk)
    await page.goto(f"/console/tickets/{flagged}")
    form = page.locator('form[data-action="call_back"]')
    await form.get_by_label("回访事由").fill("老人耳背，请慢慢说，问清楚家里几口人")
    await form.get_by_role("button", name="请坐席回访").click()
    await expect(page.locator(".flash")).to_contain_text("已加入坐席回访名单")
    await page.get_by_role("button", name="退出").click()

    await log_in(page, agent, lands_on="/console/desk")
    await page.get_by_role("link", name="回访名单").click()
    await expect(page).to_have_url(re.compile("/console/desk/call-backs$"))
    rows = page.locator("#call-backs tbody tr")
    mine = rows.filter(has_text=flagged)
    await expect(mine).to_contain_text("工作人员要求回访")
    await expect(mine).to_contain_text("136****1357")
    await expect(rows.filter(has_text=unreached)).to_contain_text("通知未送达")
    await expect(page.locator("body")).not_to_contain_text("13600001357")

    await mine.get_by_role("link").click()
    await expect(page.locator("#phone")).to_have_text("13600001357")
    await page.get_by_label("无人接听").check()
    await page.get_by_label("备注").fill("响了十声没人接")
    await page.get_by_role("button", name="记录结果").click()
    await expect(page.locator(".flash")).to_contain_text("留在名单上")
    await expect(mine).to_contain_text("1（无人接听）")
    await page.screenshot(path="/tmp/console-call-backs.png", full_page=True)

    await mine.get_by_role("link").click()
    await page.get_by_label("已联系上").check()
    await page.get_by_role("button", name="记录结果").click()
    await expect(page.locator(".flash")).to_contain_text("移出回访名单")
    await expect(page.locator("#call-backs")).not_to_contain_text(flagged)
    await expect(page.locator("#call-backs")).to_contain_text(unreached)

    async with sessions() as s:
        t = await s.scalar(select(T).where(T.reference_no == flagged))
        views = list(await s.scalars(select(AuditEntry).where(
            AuditEntry.ticket_id == t.id, AuditEntry.action == "call_back_view")))
    assert len(views) == 2 and all(v.actor == f"agent:{agent}" for v in views)
    history = await service.get_ticket(sessions, Viewer(clerk, "staff", "civil_affairs"), flagged)
    results = [e["data"]["result"] for e in history["events"] if e["kind"] == "call_back_result"]
    assert results == ["no_answer", "reached"]
