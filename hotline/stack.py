"""`make run`: start Rasa, the action server, the services app and the worker; wait until each
is healthy; print the URLs; on Ctrl-C (or SIGTERM) stop everything that was started.

The process commands here are the single source for docker/compose.yml too (a test checks
that they are identical).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys
import time
from dataclasses import dataclass, field

import httpx

from hotline.settings import ROOT, Settings

BOT_BIN = ".venv-bot/bin"
SERVICES_PY = ".venv/bin/python"


@dataclass
class ProcessSpec:
    name: str
    argv: list[str]
    health_url: str | None
    env: dict[str, str] = field(default_factory=dict)
    start_timeout_s: float = 60


def endpoints_file(settings: Settings) -> str:
    """Rasa's stores follow the services': in-memory by default, PostgreSQL + Redis when set."""
    real_db, real_redis = settings.uses_real_servers, settings.redis_url is not None
    if real_db != real_redis:
        raise SystemExit(
            "Set both DATABASE_URL and REDIS_URL (real PostgreSQL and Redis), or neither "
            "(embedded SQLite + fakeredis): Rasa's tracker and lock stores follow them together."
        )
    return "bot/endpoints.production.yml" if real_db else "bot/endpoints.yml"


def with_bot_tokens(settings: Settings) -> Settings:
    """Rasa and the action server answer only callers holding their tokens: a start without
    them configured makes a pair for this run (the processes inherit them, nobody else)."""
    made = {}
    for name, field_ in (("RASA_AUTH_TOKEN", "rasa_token"), ("ACTIONS_TOKEN", "actions_token")):
        if getattr(settings, field_) is None:
            made[name] = secrets.token_urlsafe(32)
    os.environ.update(made)
    return Settings.from_env() if made else settings


def process_specs(settings: Settings) -> list[ProcessSpec]:
    rasa_env = {"ACTION_ENDPOINT_URL": f"{settings.actions_url}/webhook"}
    if settings.uses_real_servers:
        rasa_env |= settings.database_parts() | settings.redis_parts()
    return [
        ProcessSpec(
            "rasa",
            [f"{BOT_BIN}/python", "-m", "bot.servers", "rasa", "--port", str(settings.rasa_port),
             "--model", "models", "--endpoints", endpoints_file(settings),
             "--credentials", "bot/credentials.yml"],
            f"{settings.rasa_url}/", rasa_env, start_timeout_s=300,
        ),
        ProcessSpec(
            "actions",
            [f"{BOT_BIN}/python", "-m", "bot.servers", "actions", "--port", str(settings.actions_port)],
            f"{settings.actions_url}/health", {"SERVICES_URL": settings.services_url},
            start_timeout_s=120,
        ),
        ProcessSpec("worker", [SERVICES_PY, "-m", "hotline", "worker"], None),
        ProcessSpec("services", [SERVICES_PY, "-m", "hotline", "serve"],
                    f"{settings.services_url}/healthz", start_timeout_s=120),
    ]


COMMON_ENV = {
    "RASA_TELEMETRY_ENABLED": "false",  # no network beyond this machine
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
    "PYTHONUNBUFFERED": "1",
}


class Stack:
    def __init__(self, settings: Settings, out=sys.stdout):
        self.settings = settings
        self.specs = process_specs(settings)
        self.procs: dict[str, asyncio.subprocess.Process] = {}
        self.out = out
        self._pumps: list[asyncio.Task] = []

    def say(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()

    async def _pump(self, name: str, stream: asyncio.StreamReader) -> None:
        width = max(len(s.name) for s in self.specs)
        while line := await stream.readline():
            self.say(f"{name:<{width}} | {line.decode(errors='replace').rstrip()}")

    async def start(self) -> None:
        for spec in self.specs:
            if not (ROOT / spec.argv[0]).exists():
                raise SystemExit(f"{spec.argv[0]} is missing: run `make run` (it installs it)")
            proc = await asyncio.create_subprocess_exec(
                *spec.argv, cwd=ROOT, env={**os.environ, **COMMON_ENV, **spec.env},
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches us; we stop each group in order
            )
            self.procs[spec.name] = proc
            self._pumps.append(asyncio.create_task(self._pump(spec.name, proc.stdout)))

    async def wait_healthy(self) -> dict[str, float]:
        started, took = time.monotonic(), {}
        async with httpx.AsyncClient() as http:
            for spec in self.specs:
                if spec.health_url is None:
                    continue
                deadline = started + spec.start_timeout_s
                while True:
                    if self.procs[spec.name].returncode is not None:
                        raise RuntimeError(f"{spec.name} exited during start-up")
                    try:
                        if (await http.get(spec.health_url, timeout=3)).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{spec.name} not healthy after {spec.start_timeout_s} s")
                    await asyncio.sleep(0.5)
                took[spec.name] = round(time.monotonic() - started, 1)
        return took

    async def stop(self) -> None:
        for name in reversed(list(self.procs)):
            proc = self.procs[name]
            if proc.returncode is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        for name, proc in self.procs.items():
            try:
                await asyncio.wait_for(proc.wait(), timeout=20)
            except TimeoutError:
                self.say(f"{name} did not stop in 20 s; killing it")
                os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        for pump in self._pumps:
            pump.cancel()

    def urls(self) -> list[str]:
        base = self.settings.services_url
        return [f"web chat:      {base}/chat",
                f"staff console: {base}/console/queue   agents' desk: {base}/console/desk",
                f"API:           {base}/api/regions  (health: {base}/healthz)",
                f"Rasa:          {self.settings.rasa_url}   actions: {self.settings.actions_url}"]


async def run(settings: Settings) -> int:
    stack = Stack(with_bot_tokens(settings))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    mode = "PostgreSQL + Redis" if settings.uses_real_servers else "embedded SQLite + fakeredis"
    stack.say(f"starting the 12349 stack ({mode}) ...")
    t0 = time.monotonic()
    await stack.start()
    code = 0
    try:
        health = asyncio.create_task(stack.wait_healthy())
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({health, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if stopped.done():
            health.cancel()
            return 0
        took = health.result()
        stack.say(f"stack ready in {time.monotonic() - t0:.1f} s {took}")
        for line in stack.urls():
            stack.say("  " + line)
        stack.say("press Ctrl-C to stop")
        exits = [asyncio.create_task(p.wait()) for p in stack.procs.values()]
        await asyncio.wait({stopped, *exits}, return_when=asyncio.FIRST_COMPLETED)
        if not stopped.done():
            dead = [n for n, p in stack.procs.items() if p.returncode is not None]
            stack.say(f"process exited unexpectedly: {', '.join(dead)}; stopping the stack")
            code = 1
    except RuntimeError as exc:
        stack.say(f"start-up failed: {exc}")
        code = 1
    finally:
        stack.say("stopping ...")
        await stack.stop()
        stack.say("all processes stopped")
    return code
