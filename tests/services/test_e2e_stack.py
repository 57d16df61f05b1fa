"""End to end: `python -m hotline stack` (what `make run` runs) starts the real Rasa server,
action server, services app and worker; a citizen asks for help on the web channel and the
ticket lands on the department's queue; Ctrl-C (SIGINT) stops every process."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
import uuid

import httpx
import pytest

from hotline.settings import ROOT
from tests.services.conftest import free_port

pytestmark = pytest.mark.e2e
START_TIMEOUT_S = 420


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
async def stack(settings, tmp_path_factory):
    ports = {"HOTLINE_PORT": free_port(), "RASA_PORT": free_port(), "ACTIONS_PORT": free_port()}
    env = {**os.environ, **{k: str(v) for k, v in ports.items()},
           "DATABASE_URL": settings.database_url, "HOTLINE_VAR_DIR": str(settings.var_dir),
           "WORKER_INTERVAL_S": "2", "LOG_LEVEL": "INFO"}
    env.pop("RASA_URL", None), env.pop("ACTIONS_URL", None), env.pop("SERVICES_URL", None)
    if settings.redis_url:
        env["REDIS_URL"] = settings.redis_url
    else:
        env.pop("REDIS_URL", None)
    log_path = tmp_path_factory.mktemp("stack") / "stack.log"
    log = open(log_path, "w+b")  # noqa: SIM115 - kept open for the subprocess' lifetime
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hotline", "stack", cwd=ROOT, env=env, stdout=log,
        stderr=asyncio.subprocess.STDOUT)
    base = f"http://127.0.0.1:{ports['HOTLINE_PORT']}"
    try:
        for _ in range(START_TIMEOUT_S * 2):
            if proc.returncode is not None or b"stack ready" in log_path.read_bytes():
                break
            await asyncio.sleep(0.5)
        text = log_path.read_bytes().decode(errors="replace")
        assert "stack ready" in text, text[-6000:]
        yield {"proc": proc, "base": base, "ports": ports, "log": log_path}
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), 60)
            except TimeoutError:
                proc.kill()
        log.close()


async def say(http, sender, text, region=None):
    body = {"sender": sender, "text": text, "message_id": str(uuid.uuid4()),
            "metadata": {"region": region} if region else {}}
    r = await http.post("/channels/web/messages", json=body)
    assert r.status_code == 200, r.text
    return " ".join(x.get("text", "") for x in r.json()["replies"])


async def test_help_request_end_to_end(stack):
    async with httpx.AsyncClient(base_url=stack["base"], timeout=60) as http:
        health = (await http.get("/healthz")).json()
        assert health["status"] == "ok", health
        sender = f"e2e-{uuid.uuid4().hex[:8]}"
        assert "12349" in await say(http, sender, "你好", region="341503")
        assert "称呼" in await say(http, sender, "我要求助", region="341503")
        assert "手机" in await say(http, sender, "王秀英", region="341503")
        assert "困难" in await say(http, sender, "13800001234", region="341503")
        reply = await say(http, sender, "老伴瘫痪在床，家里没有收入，吃饭都成问题", region="341503")
        match = re.search(r"12349-\d{8}-\d{4}", reply)
        assert match, reply
        ref = match.group(0)
        status = await http.get(f"/api/referrals/{ref}", params={"phone_last4": "1234"})
        assert status.status_code == 200 and status.json()["department"] == "civil_affairs"
        queue = await http.get("/console/queue", params={"department": "civil_affairs"})
        assert ref in queue.text and "138****1234" in queue.text


async def test_ctrl_c_stops_every_process(stack):
    proc = stack["proc"]
    proc.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(proc.wait(), 60) == 0
    for port in stack["ports"].values():
        assert not port_open(port), port
    assert "all processes stopped" in stack["log"].read_text(errors="replace")
