"""Two real browser pages (Debian's Chromium, driven by Playwright) on the whole stack: a citizen
on the web chat and an agent on the desk. 转人工 → the conversation appears in the agent's queue
with no reload → the agent claims it → messages both ways, each on the other screen within a
second → the agent hands back → the bot answers again, remembering the conversation."""

from __future__ import annotations

import time

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from channels.models import Conversation
from tests.services.console import test_browser
from tests.services.console.test_browser import SCREEN
from tests.services.stack_fixture import create_clerk, running_stack

pytestmark = pytest.mark.e2e
AGENT, AGENT_PASSWORD = "e2e_agent", "Agent-pass-12349"


@pytest.fixture(scope="module")
async def stack(settings, tmp_path_factory):
    async with running_stack(settings, tmp_path_factory, {"AGENT_HOURS": "always"}) as running:
        await create_clerk(running, AGENT, AGENT_PASSWORD, role="agent")
        yield running


browser = test_browser.browser  # Debian's Chromium, once for this module


async def new_page(browser, base, problems):
    context = await browser.new_context(viewport=SCREEN, locale="zh-CN", base_url=base)
    page = await context.new_page()
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    return page


async def within(seconds: float, wait) -> float:
    started = time.perf_counter()
    await wait
    took = time.perf_counter() - started
    assert took < seconds, f"took {took:.2f} s"
    return took


async def test_citizen_and_agent_hold_a_conversation_through_the_desk(stack, browser, sessions):
    problems: list[str] = []
    citizen = await new_page(browser, stack["base"], problems)
    agent = await new_page(browser, stack["base"], problems)

    await agent.goto("/console/login?next=/console/desk")
    await agent.get_by_label("用户名").fill(AGENT)
    await agent.get_by_label("密码").fill(AGENT_PASSWORD)
    await agent.get_by_role("button", name="登录").click()
    await expect(agent.get_by_role("heading", name="等待人工")).to_be_visible()
    await expect(agent.locator("#live")).to_have_text("● 实时")

    await citizen.goto("/chat")
    await citizen.locator("#region").select_option("341503")
    await citizen.locator("#text").fill("低保要什么条件")
    await citizen.locator("#send").click()
    await expect(citizen.locator(".msg.bot").last).to_contain_text("低保", timeout=30_000)
    await citizen.locator("#text").fill("转人工")
    await citizen.locator("#send").click()
    await expect(citizen.locator(".msg.bot").last).to_contain_text("工作人员", timeout=30_000)

    sender = await citizen.evaluate("localStorage.getItem('hotline-sender')")
    async with sessions() as s:  # other tests' conversations may wait in the same queue
        conv_id = await s.scalar(select(Conversation.id).where(Conversation.contact_id == sender))
    row = agent.locator(f'#waiting-rows tr[data-conversation="{conv_id}"]')  # no reload
    await expect(row).to_contain_text("要求转人工", timeout=5_000)
    await expect(row).to_contain_text("网页")
    await row.get_by_role("link", name="接手").click()
    await agent.locator("#claim").click()
    await expect(agent.locator("#conv-status")).to_contain_text("人工服务中")
    await expect(agent.locator("#transcript")).to_contain_text("低保要什么条件")

    await agent.locator("#reply-text").fill("您好，我是12349坐席小李，请问您家里几口人？")
    await agent.locator("#send").click()
    waits = [await within(1.0, expect(citizen.locator(".msg.agent").last).to_contain_text(
        "坐席小李", timeout=2_000))]
    await citizen.locator("#text").fill("就我和老伴两个人")
    await citizen.locator("#send").click()
    waits.append(await within(1.0, expect(agent.locator("#transcript li[data-author=citizen]").last)
                              .to_contain_text("就我和老伴两个人", timeout=2_000)))
    await expect(agent.locator("#transcript li[data-author=agent] .state").last).to_contain_text("已")

    await agent.screenshot(path="/tmp/desk-conversation.png")
    await agent.locator("#hand-back").click()
    await expect(citizen.locator(".msg.bot").last).to_contain_text("智能助手", timeout=5_000)
    await citizen.locator("#text").fill("那要带什么材料")
    await citizen.locator("#send").click()
    # the bot remembers: 低保 and 六安市裕安区 from before the handoff, nothing asked again
    answer = citizen.locator(".msg.bot").last
    await expect(answer).to_contain_text("低保（材料）", timeout=30_000)
    await agent.screenshot(path="/tmp/desk-agent.png")
    await citizen.screenshot(path="/tmp/desk-citizen.png")
    assert problems == []
    print(f"screen to screen: agent→citizen {waits[0]:.2f} s, citizen→agent {waits[1]:.2f} s")
