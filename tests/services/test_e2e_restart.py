"""The real bot's servers killed mid-conversation (SIGKILL, no goodbye), on the real PostgreSQL
and Redis: with the action server gone the citizen is not left in silence and the message is
answered; with Rasa gone and started again the half-filled form is remembered (Rasa's SQL
tracker store) and the conversation goes on where it stopped."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import uuid
from dataclasses import replace

import httpx
import pytest

from channels.gateway import texts
from hotline.settings import ROOT
from hotline.stack import process_specs
from tests.services.conftest import free_port, serve, shutdown

pytestmark = pytest.mark.e2e


class BotProcess:
    """One of the bot's servers, as `make run` starts it (hotline.stack.process_specs)."""

    def __init__(self, spec, env: dict, log_path):
        self.spec, self.env, self.log_path = spec, env, log_path
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps it
        self.proc = await asyncio.create_subprocess_exec(
            *self.spec.argv, cwd=ROOT, env={**self.env, **self.spec.env}, stdout=log, stderr=log,
            start_new_session=True)
        log.close()
        async with httpx.AsyncClient() as http:
            for _ in range(int(self.spec.start_timeout_s * 2)):
                if self.proc.returncode is not None:
                    break
                try:
                    if (await http.get(self.spec.health_url, timeout=2)).status_code < 500:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.5)
        raise AssertionError(f"{self.spec.name} did not start:\n"
                             + self.log_path.read_text(errors="replace")[-4000:])

    async def kill(self) -> None:
        if self.proc and self.proc.returncode is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            await self.proc.wait()


async def _say(http, sender: str, text: str) -> str:
    r = await http.post("/channels/web/messages", json={
        "sender": sender, "text": text, "message_id": str(uuid.uuid4()),
        "metadata": {"region": "341503"}})
    assert r.status_code == 200, r.text
    return " ".join(m.get("text", "") for m in r.json()["replies"])


async def test_killed_bot_servers_lose_no_conversation(settings, tmp_path_factory):
    if not settings.uses_real_servers or not settings.redis_url:
        pytest.skip("trackers are durable with the real servers (DATABASE_URL and REDIS_URL)")
    tokens = {"RASA_AUTH_TOKEN": secrets.token_urlsafe(24), "ACTIONS_TOKEN": secrets.token_urlsafe(24)}
    ports = {"rasa": free_port(), "actions": free_port()}
    bot = replace(settings, rasa_port=ports["rasa"], actions_port=ports["actions"],
                  rasa_url=f"http://127.0.0.1:{ports['rasa']}",
                  actions_url=f"http://127.0.0.1:{ports['actions']}",
                  rasa_token=tokens["RASA_AUTH_TOKEN"], actions_token=tokens["ACTIONS_TOKEN"])
    live, server = await serve(bot)  # the services app, in this process
    specs = {s.name: s for s in process_specs(replace(bot, services_url=live.url))}
    logs = tmp_path_factory.mktemp("bot")
    env = {**os.environ, **tokens, "RASA_TELEMETRY_ENABLED": "false"}
    rasa = BotProcess(specs["rasa"], env, logs / "rasa.log")
    actions = BotProcess(specs["actions"], env, logs / "actions.log")
    sender = f"restart-{uuid.uuid4().hex[:8]}"
    try:
        await asyncio.gather(rasa.start(), actions.start())
        async with httpx.AsyncClient(base_url=live.url, timeout=90) as http:
            assert "称呼" in await _say(http, sender, "我要求助")
            # the action server dies: Rasa answers nothing, the citizen hears the fallback
            await actions.kill()
            assert texts()["bot_silent"] in await _say(http, sender, "王秀英")
            await actions.start()  # back: the form asks on, from the same question
            said = await _say(http, sender, "王秀英")
            assert "手机" in said, said
            # Rasa dies mid-form and comes back: the form is where it was
            await rasa.kill()
            await rasa.start()
            assert "乡镇" in await _say(http, sender, "13800001234")
    finally:
        await rasa.kill()
        await actions.kill()
        await shutdown(server)
