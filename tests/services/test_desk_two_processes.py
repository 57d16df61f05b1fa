"""Two app processes behind one database and one Redis, as replicas behind a load balancer: a
citizen's message arriving at one reaches the agent's page served by the other (the desk's
event stream is fed by Redis, not by the process), and the agent's reply from the second
reaches the citizen's page on the first."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
import uuid

import httpx

from console import users
from hotline.settings import ROOT
from tests.services.conftest import free_port
from tests.services.console.conftest import PASSWORD, form_login
from tests.services.fakes import FakeRasa

SHARED_REDIS = "redis://127.0.0.1:6379/14"  # the embedded default's Redis is per process


@contextlib.asynccontextmanager
async def app_process(settings, rasa_url: str, redis_url: str, log_path):
    port = free_port()
    env = {**os.environ, "DATABASE_URL": settings.database_url, "REDIS_URL": redis_url,
           "HOTLINE_PORT": str(port), "RASA_URL": rasa_url, "LOG_LEVEL": "WARNING",
           "HOTLINE_VAR_DIR": str(settings.var_dir)}
    log = open(log_path, "wb")  # noqa: SIM115 - kept open for the process' lifetime
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "hotline", "serve", cwd=ROOT,
                                                env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(120):
                try:
                    await http.get(f"{base}/healthz", timeout=1)
                    break
                except httpx.HTTPError:
                    await asyncio.sleep(0.25)
        yield base
    finally:
        proc.terminate()
        await proc.wait()
        log.close()


async def agent_client(base: str, username: str) -> tuple[httpx.AsyncClient, str]:
    import re

    client = httpx.AsyncClient(base_url=base, timeout=30)
    r = await form_login(client, username, PASSWORD)
    assert r.status_code == 302, r.text
    page = await client.get("/console/desk")
    return client, re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text).group(1)


async def test_a_message_at_one_process_reaches_the_agent_on_the_other(settings, sessions, tmp_path):
    redis_url = settings.redis_url or SHARED_REDIS
    rasa = await FakeRasa().start()
    username = f"agent_{uuid.uuid4().hex[:6]}"
    await users.create_user(sessions, username, PASSWORD, "agent")
    try:
        async with app_process(settings, rasa.url, redis_url, tmp_path / "a.log") as a, \
                app_process(settings, rasa.url, redis_url, tmp_path / "b.log") as b:
            agent, csrf = await agent_client(b, username)
            sender = f"web-{uuid.uuid4().hex[:8]}"
            async with httpx.AsyncClient(base_url=a, timeout=30) as citizen:
                r = await citizen.post("/channels/web/messages", json={
                    "sender": sender, "text": "转人工", "message_id": str(uuid.uuid4())})
                conv_id = r.json()["conversation_id"]
                assert r.json()["status"] == "pending"
                seen: dict[str, float] = {}

                async def watch():
                    async with agent.stream("GET", "/console/desk/events") as resp:
                        async for line in resp.aiter_lines():
                            if line.startswith("data: "):
                                event = json.loads(line[6:])
                                if event["conversation_id"] == conv_id and event["kind"] == "message":
                                    seen["at"] = time.perf_counter()
                                    return

                watching = asyncio.create_task(watch())
                await asyncio.sleep(0.5)  # the stream is open on B
                sent_at = time.perf_counter()
                await citizen.post("/channels/web/messages", json={
                    "sender": sender, "text": "我等着呢", "message_id": str(uuid.uuid4())})
                await asyncio.wait_for(watching, 5)
                assert seen["at"] - sent_at < 1.0  # on the agent's screen within a second
                # the agent, on B, claims and replies; the citizen's page, on A, gets it
                headers = {"X-CSRF-Token": csrf, "Accept": "application/json"}
                assert (await agent.post(f"/console/desk/conversations/{conv_id}/claim", json={},
                                         headers=headers)).status_code == 200
                r = await agent.post(f"/console/desk/conversations/{conv_id}/reply",
                                     json={"text": "您好，我是坐席"}, headers=headers)
                assert r.status_code == 200, r.text
                for _ in range(20):
                    got = (await citizen.get("/channels/web/messages",
                                             params={"sender": sender, "after": 0})).json()
                    if any(m["text"] == "您好，我是坐席" for m in got["messages"]):
                        break
                    await asyncio.sleep(0.1)
                assert [m["author"] for m in got["messages"] if m["text"] == "您好，我是坐席"] == ["agent"]
                assert got["status"] == "open"
            await agent.aclose()
    finally:
        await rasa.stop()
