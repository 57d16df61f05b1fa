"""Fault injection for the reliability tests, loopback only: a TCP proxy in front of a real
server that can be "restarted" (every connection dropped, new ones refused, then accepted
again: what a PostgreSQL or Redis restart looks like to its clients), and the platform's own
processes (`python -m hotline serve|worker`) started, killed and started again."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

import httpx

from hotline.settings import ROOT
from tests.services.conftest import free_port


class Proxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self.port = free_port()
        self._server: asyncio.base_events.Server | None = None
        self._conns: set[asyncio.StreamWriter] = set()

    async def start(self) -> Proxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port,
                                                  reuse_address=True)
        return self

    async def stop(self) -> None:
        """The server goes away: open connections are reset, new ones refused."""
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._conns):
            writer.transport.abort()
        self._conns.clear()
        await self._server.wait_closed()
        self._server = None

    async def restart(self, down_s: float) -> None:
        await self.stop()
        await asyncio.sleep(down_s)
        await self.start()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._conns.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.transport.abort()

        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            self._conns.discard(writer)
            self._conns.discard(up_writer)


class Process:
    """One of the platform's processes; `kill()` is SIGKILL (no goodbye), `start()` again."""

    def __init__(self, command: str, env: dict, log_dir: Path, name: str, port: int | None = None):
        self.command, self.env, self.name, self.port = command, env, name, port
        self.log_path = log_dir / f"{name}.log"
        self.proc: asyncio.subprocess.Process | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> Process:
        env = {**self.env, "WORKER_NAME": f"{self.name}-{self.starts}"}
        if self.port:
            env["HOTLINE_PORT"] = str(self.port)
        self.starts += 1
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps it
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hotline", self.command, cwd=ROOT, env=env, stdout=log,
            stderr=log, start_new_session=True)
        log.close()
        if self.port:
            await self._wait_ready()
        return self

    async def _wait_ready(self, seconds: float = 90) -> None:
        async with httpx.AsyncClient() as http:
            for _ in range(int(seconds * 4)):
                if self.proc.returncode is not None:
                    break
                try:
                    await http.get(f"{self.url}/healthz", timeout=1)
                    return
                except httpx.HTTPError:
                    await asyncio.sleep(0.25)
        raise AssertionError(f"{self.name} did not start:\n{self.log()[-4000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def kill(self) -> None:
        if self.proc and self.proc.returncode is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            await self.proc.wait()

    async def stop(self) -> None:
        if self.proc and self.proc.returncode is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                await self.kill()


@contextlib.asynccontextmanager
async def processes(*procs: Process):
    try:
        await asyncio.gather(*(p.start() for p in procs))
        yield procs
    finally:
        await asyncio.gather(*(p.stop() for p in procs), return_exceptions=True)
