"""End to end: `python -m hotline stack` (what `make run` runs) starts the real Rasa server,
action server, services app and worker; a citizen asks for help on the web channel and the
ticket lands on the department's queue; Ctrl-C (SIGINT) stops every process."""

from __future__ import annotations

import asyncio
import re
import signal
import uuid

import httpx
import pytest

from tests.ports import listening_on
from tests.services import stack_fixture
from tests.services.stack_fixture import create_clerk, port_open, say

pytestmark = pytest.mark.e2e
stack = stack_fixture.stack  # one whole-stack start for this module


async def test_help_request_end_to_end(stack):
    async with httpx.AsyncClient(base_url=stack["base"], timeout=60) as http:
        health = (await http.get("/healthz")).json()
        assert health["status"] == "ok", health
        sender = f"e2e-{uuid.uuid4().hex[:8]}"
        assert "12349" in await say(http, sender, "你好", region="341503")
        assert "称呼" in await say(http, sender, "我要求助", region="341503")
        assert "手机" in await say(http, sender, "王秀英", region="341503")
        assert "乡镇" in await say(http, sender, "13800001234", region="341503")
        assert "困难" in await say(http, sender, "平桥乡", region="341503")  # as citizens say it
        reply = await say(http, sender, "老伴瘫痪在床，家里没有收入，吃饭都成问题", region="341503")
        # 瘫痪在床 also tells the 残联's 两项补贴: both offered, the citizen files only the first
        assert "1. 低保" in reply and "残疾人两项补贴" in reply, reply
        reply = await say(http, sender, "只要第一个", region="341503")
        match = re.search(r"12349-\d{8}-\d{4}-\d{3}", reply)
        assert match, reply
        ref = match.group(0)
        status = await http.get(f"/api/referrals/{ref}", params={"phone_last4": "1234"})
        assert status.status_code == 200 and status.json()["department"] == "civil_affairs"
    # The clerk of 平桥乡人民政府 (scoped to that unit, as the operator set it up) and the 裕安
    # civil-affairs office both find it on their queue, masked; a clerk of another 乡 does not.
    await create_clerk(stack, "e2e_office", "Clerk-pass-12349", "civil_affairs")
    await create_clerk(stack, "e2e_pingqiao", "Clerk-pass-12349", "civil_affairs", ["平桥乡人民政府"])
    await create_clerk(stack, "e2e_subu", "Clerk-pass-12349", "civil_affairs", ["苏埠镇人民政府"])
    for clerk, sees in (("e2e_office", True), ("e2e_pingqiao", True), ("e2e_subu", False)):
        async with httpx.AsyncClient(base_url=stack["base"], timeout=60) as http:
            login = await http.post("/console/login", json={"username": clerk,
                                                            "password": "Clerk-pass-12349"})
            assert login.status_code == 200, login.text
            # by its number, as a clerk looks a citizen's call up: the whole department's queue
            # holds more than a page of tickets by the time this runs on a shared database
            queue = await http.get("/console/queue", params={"q": ref})
            assert (f'data-reference="{ref}"' in queue.text) == sees, clerk  # a row, not the search box
            if sees:
                assert "138****1234" in queue.text and "平桥乡人民政府" in queue.text
                assert "13800001234" not in queue.text


async def test_the_bot_servers_answer_only_the_gateway(stack):
    rasa, actions = stack["ports"]["RASA_PORT"], stack["ports"]["ACTIONS_PORT"]
    assert listening_on(rasa) == {"127.0.0.1"} and listening_on(actions) == {"127.0.0.1"}
    async with httpx.AsyncClient(timeout=30) as http:
        for token in ({}, {"token": "not-the-token-at-all"}):
            base = f"http://127.0.0.1:{rasa}"
            assert (await http.post(f"{base}/model/parse", params=token,
                                    json={"text": "低保"})).status_code == 401
            assert (await http.get(f"{base}/conversations/e2e-x/tracker", params=token)).status_code == 401
            assert (await http.put(f"{base}/model", params=token, json={})).status_code == 401
            talk = await http.post(f"{base}/webhooks/rest/webhook", params=token,
                                   json={"sender": "intruder", "message": "你好"})
            assert talk.status_code == 401, talk.text
            action = await http.post(f"http://127.0.0.1:{actions}/webhook", params=token,
                                     json={"next_action": "action_fallback", "tracker": {}})
            assert action.status_code == 401, action.text
        # what health checks use stays open
        assert (await http.get(f"http://127.0.0.1:{rasa}/")).status_code == 200
        assert (await http.get(f"http://127.0.0.1:{actions}/health")).status_code == 200


async def test_ctrl_c_stops_every_process(stack):
    proc = stack["proc"]
    proc.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(proc.wait(), 60) == 0
    for port in stack["ports"].values():
        assert not port_open(port), port
    assert "all processes stopped" in stack["log"].read_text(errors="replace")
