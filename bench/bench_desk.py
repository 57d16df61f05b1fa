"""From a citizen's message to the agent's screen, with two app processes (replicas behind a load
balancer): citizens write to process A, the agent's page follows the event stream (Server-Sent
Events, fed by Redis) served by process B and, as the page does, fetches the conversation's new
messages from B on each event. Measured: the time from sending a message until that fetch has
it, p50/p95, against the baseline of the same message's own request (storing it) in the same
run. Real PostgreSQL and Redis when DATABASE_URL and REDIS_URL are
set; otherwise the SQLite file shared by both and a local Redis (db 14).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from bench.results import percentiles, write
from hotline.settings import ROOT, Settings
from tests.services.conftest import free_port
from tests.services.console.conftest import PASSWORD, form_login
from tests.services.fakes import FakeRasa

CITIZENS = 10
MESSAGES_EACH = 20


async def _serve(env: dict, log: Path) -> tuple[asyncio.subprocess.Process, str]:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hotline", "serve", cwd=ROOT, env={**env, "HOTLINE_PORT": str(port)},
        stdout=await asyncio.to_thread(log.open, "wb"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient() as http:
        for _ in range(200):
            try:
                await http.get(f"{base}/healthz", timeout=1)
                return proc, base
            except httpx.HTTPError:
                await asyncio.sleep(0.25)
    raise RuntimeError(f"the app did not start; see {log}")


async def run() -> dict:
    rasa = await FakeRasa().start()
    with tempfile.TemporaryDirectory() as var:
        env = {**os.environ, "HOTLINE_VAR_DIR": var, "RASA_URL": rasa.url, "LOG_LEVEL": "WARNING"}
        env.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
        await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "hotline", "migrate"],
                                cwd=ROOT, env=env, check=True)
        settings = Settings.from_env(env)
        from console import users
        from hotline.db import create_engine, session_factory

        engine = create_engine(settings.database_url)
        agent = f"bench_agent_{uuid.uuid4().hex[:6]}"
        await users.create_user(session_factory(engine), agent, PASSWORD, "agent")
        await engine.dispose()
        proc_a, a = await _serve(env, Path(var) / "a.log")
        proc_b, b = await _serve(env, Path(var) / "b.log")
        try:
            return await measure(a, b, agent)
        finally:
            for proc in (proc_a, proc_b):
                proc.terminate()
                await proc.wait()
            await rasa.stop()


async def measure(a: str, b: str, agent: str) -> dict:
    arrived: dict[int, float] = {}
    store_ms, screen_ms = [], []
    async with httpx.AsyncClient(base_url=b, timeout=None) as desk, \
            httpx.AsyncClient(base_url=a, timeout=30) as web:
        assert (await form_login(desk, agent, PASSWORD)).status_code == 302
        senders = []
        for _ in range(CITIZENS):  # each hands over to a person, so the bot is out of the way
            sender = f"bench-{uuid.uuid4().hex[:8]}"
            await web.post("/channels/web/messages", json={"sender": sender, "text": "转人工",
                                                           "message_id": str(uuid.uuid4())})
            senders.append(sender)
        ready = asyncio.Event()

        fetches: set[asyncio.Task] = set()

        async def show(event: dict):  # what the page does on an event: fetch the new messages
            r = await desk.get(f"/console/desk/conversations/{event['conversation_id']}/messages.json",
                               params={"after": event["message_id"] - 1})
            if any(m["id"] == event["message_id"] for m in r.json()["messages"]):
                arrived.setdefault(event["message_id"], time.perf_counter())

        async def watch():
            async with desk.stream("GET", "/console/desk/events") as resp:
                ready.set()
                async for line in resp.aiter_lines():
                    if line.startswith("data: "):
                        event = json.loads(line[6:])
                        if event.get("kind") == "message" and event.get("direction") == "in":
                            task = asyncio.create_task(show(event))
                            fetches.add(task)
                            task.add_done_callback(fetches.discard)

        watcher = asyncio.create_task(watch())
        await ready.wait()
        await asyncio.sleep(0.5)

        async def citizen(sender: str):
            for i in range(MESSAGES_EACH):
                t0 = time.perf_counter()
                r = await web.post("/channels/web/messages", json={
                    "sender": sender, "text": f"第{i}条：我还在等", "message_id": str(uuid.uuid4())})
                store_ms.append((time.perf_counter() - t0) * 1000)
                message_id = r.json()["message_id"]
                for _ in range(300):
                    if message_id in arrived:
                        break
                    await asyncio.sleep(0.002)
                screen_ms.append((arrived.get(message_id, time.perf_counter()) - t0) * 1000)
                await asyncio.sleep(0.05)

        t0 = time.perf_counter()
        await asyncio.gather(*[citizen(s) for s in senders])
        took = time.perf_counter() - t0
        watcher.cancel()
    p_store, p_screen = percentiles(store_ms), percentiles(screen_ms)
    return {"citizens": CITIZENS, "messages": len(screen_ms), "seconds": round(took, 1),
            "to_agent_screen_two_processes": p_screen, "store_request_baseline": p_store,
            "ratio_p50": round(p_screen["p50_ms"] / p_store["p50_ms"], 2),
            "ratio_p95": round(p_screen["p95_ms"] / p_store["p95_ms"], 2),
            "within_1s_share": round(sum(1 for x in screen_ms if x < 1000) / len(screen_ms), 3)}


def main() -> None:
    figures = asyncio.run(run())
    write("desk", {**figures, "redis": os.environ.get("REDIS_URL", "redis db 14"),
                   "database": "postgresql" if os.environ.get("DATABASE_URL")
                   else "sqlite shared by both processes"})


if __name__ == "__main__":
    main()
