"""The whole stack as real processes, shared by the end-to-end test modules: `python -m hotline
stack` (what `make run` runs) on free ports, started once per test module and stopped with
Ctrl-C (SIGINT); `say`/`turn` talk to it as a citizen on the web channel."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import uuid

import pytest

from hotline.settings import ROOT
from tests.services.conftest import free_port

START_TIMEOUT_S = 420


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextlib.asynccontextmanager
async def running_stack(settings, tmp_path_factory, extra_env: dict | None = None):
    """`python -m hotline stack` on free ports against the test database; stopped with SIGINT."""
    ports = {"HOTLINE_PORT": free_port(), "RASA_PORT": free_port(), "ACTIONS_PORT": free_port()}
    env = {**os.environ, **{k: str(v) for k, v in ports.items()},
           "DATABASE_URL": settings.database_url, "HOTLINE_VAR_DIR": str(settings.var_dir),
           "WORKER_INTERVAL_S": "2", "LOG_LEVEL": "INFO", **(extra_env or {})}
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
        yield {"proc": proc, "base": base, "ports": ports, "log": log_path, "env": env}
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), 60)
            except TimeoutError:
                proc.kill()
        log.close()


@pytest.fixture(scope="module")
async def stack(settings, tmp_path_factory):
    async with running_stack(settings, tmp_path_factory) as running:
        yield running


async def turn(http, sender, text, region=None) -> list[dict]:
    """One citizen message on the web channel; the bot's replies ({"text"} / {"custom"} …)."""
    body = {"sender": sender, "text": text, "message_id": str(uuid.uuid4()),
            "metadata": {"region": region} if region else {}}
    r = await http.post("/channels/web/messages", json=body)
    assert r.status_code == 200, r.text
    return r.json()["replies"]


async def say(http, sender, text, region=None) -> str:
    """One citizen message; the text of the bot's replies, joined."""
    return " ".join(x.get("text", "") for x in await turn(http, sender, text, region))


async def create_clerk(stack, username, password, department=None, units=(), role="staff"):
    """`python -m hotline create-user`, as an operator would run it against the stack's database."""
    args = [arg for unit in units for arg in ("--unit", unit)]
    args += ["--department", department] if department else []
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hotline", "create-user", username, "--role", role,
        *args, "--password-stdin", cwd=ROOT, env=stack["env"],
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate(f"{password}\n".encode())
    assert proc.returncode == 0, out.decode(errors="replace")
