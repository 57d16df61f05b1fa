"""Soak: 50 simulated citizens for SOAK_MINUTES (10) on the whole stack (`python -m hotline
stack`; real PostgreSQL and Redis when DATABASE_URL and REDIS_URL are set): 20 on the web chat,
15 on WeChat (safe mode), 15 by SMS, each going through a realistic mix of conversations (policy
questions, eligibility forms, help requests that file tickets) with a few seconds between
messages, as people write. Baseline in the same run: the same 50 citizens and conversations
straight to Rasa's REST channel for SOAK_BASELINE_MINUTES (2), in one-minute windows spread
between the channels' windows so that a busy spell of the shared machine weighs on both.

Figures (bench/results/soak.json): p50/p95/p99 latency and errors per channel and for the
baseline, their ratios; the time from a message stored to the bot's answer stored (a webhook
that answered at its deadline leaves the answer to the outbound path); p95 per minute (a
latency that climbs shows here); the memory (RSS) of each process sampled every 10 s,
first/last/max and growth (bounded caches: a flat line); database connections (PostgreSQL).
bench/results/soak.svg plots latency over time.

    SOAK_MINUTES=10 .venv/bin/python -m bench.bench_soak
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import psutil

from bench.bench_bot import rasa_params
from bench.bench_channels import stack_with_fake_providers
from bench.results import RESULTS, write
from hotline.settings import ROOT
from tests.services.channels.conftest import (
    post_twilio,
    post_wechat,
    sms,
    wechat_text,
)

MINUTES = float(os.environ.get("SOAK_MINUTES", "10"))
BASELINE_MINUTES = float(os.environ.get("SOAK_BASELINE_MINUTES", "2"))
CHANNELS = {"web": 20, "wechat": 15, "sms": 15}
THINK_S = (1.0, 4.0)  # between a citizen's messages
SAMPLE_S = 10.0
SCRIPTS = {
    "policy": ["你好", "低保是什么", "株洲的标准是多少", "要带什么材料", "多久能批下来", "谢谢"],
    "eligibility": ["我家能吃低保吗", "株洲", "三口人", "城里", "一个月一千五", "没有存款", "谢谢"],
    "help": ["我想申请临时救助", "株洲", "荷塘区", "家里老人住院了没钱交费", "我叫王秀英",
             "13800001234", "是的", "谢谢"],
    "status": ["我想查一下办得怎么样了", "不知道", "谢谢"],
}
MIX = ["policy"] * 4 + ["eligibility"] * 3 + ["help"] * 2 + ["status"]


class Recorder:
    def __init__(self, t0: float):
        self.t0, self.samples, self.errors = t0, [], {}

    def add(self, phase: str, channel: str, ms: float) -> None:
        self.samples.append((time.monotonic() - self.t0, phase, channel, ms))

    def error(self, phase: str, channel: str, what: str) -> None:
        key = f"{phase}/{channel}: {what}"
        self.errors[key] = self.errors.get(key, 0) + 1


def _quantiles(values: list[float]) -> dict:
    if len(values) < 2:
        return {"n": len(values)}
    q = statistics.quantiles(values, n=100, method="inclusive")
    return {"n": len(values), "p50_ms": round(q[49], 1), "p95_ms": round(q[94], 1),
            "p99_ms": round(q[98], 1), "max_ms": round(max(values), 1)}


async def _citizen(rec: Recorder, phase: str, channel: str, http: httpx.AsyncClient,
                   until: float, rasa: str, token: dict) -> None:
    while time.monotonic() < until:
        who = uuid.uuid4().hex[:10]
        phone = f"+86136{uuid.uuid4().int % 10**8:08d}"
        for text in SCRIPTS[random.choice(MIX)]:
            if time.monotonic() >= until:
                return
            t0 = time.perf_counter()
            try:
                if phase == "baseline":
                    r = await http.post(f"{rasa}/webhooks/rest/webhook", params=token,
                                        json={"sender": f"soak-{who}", "message": text})
                elif channel == "web":
                    r = await http.post("/channels/web/messages", json={
                        "sender": f"soak-{who}", "text": text, "message_id": str(uuid.uuid4()),
                        "metadata": {"region": "430200"}})
                elif channel == "wechat":
                    r = await post_wechat(http, wechat_text(f"o{who}{'x' * 17}", text))
                else:
                    r = await post_twilio(http, "/channels/sms/twilio", sms(text, phone))
                if r.status_code >= 400:
                    rec.error(phase, channel, f"HTTP {r.status_code}")
                else:
                    rec.add(phase, channel, (time.perf_counter() - t0) * 1000)
            except httpx.HTTPError as exc:
                rec.error(phase, channel, type(exc).__name__)
            await asyncio.sleep(random.uniform(*THINK_S))


def _processes(stack: subprocess.Popen) -> dict[str, psutil.Process]:
    found = {}
    for child in psutil.Process(stack.pid).children(recursive=True):
        try:
            cmd = " ".join(child.cmdline())
        except psutil.Error:
            continue
        for name in ("rasa", "actions", "worker", "serve"):
            if f"bot.servers {name}" in cmd or f"hotline {name}" in cmd:
                found.setdefault("services" if name == "serve" else name, child)
    return found


async def _sample_memory(procs: dict[str, psutil.Process], rec: Recorder, out: dict, db_url,
                         stop: asyncio.Event) -> None:
    engine = None
    if db_url and db_url.startswith("postgres"):
        from hotline.db import create_engine

        engine = create_engine(db_url.replace("postgresql://", "postgresql+asyncpg://"))
    while not stop.is_set():
        at = round(time.monotonic() - rec.t0, 1)
        for name, proc in procs.items():
            try:
                out.setdefault(name, []).append((at, proc.memory_info().rss / 2**20))
            except psutil.Error:
                pass
        if engine is not None:
            from sqlalchemy import text

            async with engine.connect() as conn:
                n = await conn.scalar(text("SELECT count(*) FROM pg_stat_activity "
                                           "WHERE datname = current_database()"))
            out.setdefault("_db_connections", []).append((at, n))
        try:
            await asyncio.wait_for(stop.wait(), SAMPLE_S)
        except TimeoutError:
            pass
    if engine is not None:
        await engine.dispose()


def _memory_figures(series: dict) -> dict:
    figures = {}
    for name, points in series.items():
        values = [v for _, v in points]
        if not values:
            continue
        key = "database_connections" if name == "_db_connections" else f"{name}_rss_mb"
        figures[key] = {"first": round(values[0], 1), "last": round(values[-1], 1),
                        "max": round(max(values), 1), "samples": len(values)}
        if name != "_db_connections":
            # Growth over the second half only: the first minutes fill caches and pools.
            half = values[len(values) // 2:]
            figures[key]["second_half_growth_mb"] = round(half[-1] - half[0], 1)
    return figures


def _svg(rec: Recorder, path: Path, bucket_s: float = 10.0) -> None:
    """Latency over time, a small hand-made SVG: the channels' p50 and p95 per bucket as lines,
    the baseline's (Rasa direct) p95 as dots in its windows."""
    buckets: dict[tuple[str, int], list[float]] = {}
    for at, phase, _channel, ms in rec.samples:
        buckets.setdefault((phase, int(at // bucket_s)), []).append(ms)
    series: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for (phase, b), values in sorted(buckets.items(), key=lambda kv: kv[0][1]):
        q = sorted(values)
        series.setdefault((phase, "p50"), []).append((b * bucket_s, q[len(q) // 2]))
        series.setdefault((phase, "p95"), []).append((b * bucket_s, q[min(len(q) - 1, int(len(q) * 0.95))]))
    if not series:
        return
    w, h, pad = 900, 360, 50
    t_max = max(t for pts in series.values() for t, _ in pts) or 1
    y_max = max(v for pts in series.values() for _, v in pts) * 1.1 or 1

    def x(t):
        return pad + (w - 2 * pad) * t / t_max

    def y(v):
        return h - pad - (h - 2 * pad) * v / y_max

    shapes = []
    for name, colour in (("p50", "#2b6cb0"), ("p95", "#c05621")):
        pts = series.get(("gateway", name), [])
        d = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in pts)
        shapes.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{d}"/>')
    shapes += [f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="3" fill="#555"/>'
               for t, v in series.get(("baseline", "p95"), [])]
    ticks = [f'<text x="{pad - 6}" y="{y(v):.1f}" font-size="11" text-anchor="end">{v:.0f}</text>'
             for v in (0, y_max / 2, y_max)]
    path.write_text(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif">'
        f'<text x="{pad}" y="20" font-size="13">Latency (ms) per {bucket_s:.0f} s through the '
        'channels: p50 blue, p95 orange; grey dots: p95 straight to Rasa (baseline)</text>'
        f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="#333"/>'
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h - pad}" stroke="#333"/>'
        f'<text x="{w - pad}" y="{h - pad + 30}" font-size="11" text-anchor="end">{t_max:.0f} s</text>'
        + "".join(ticks + shapes) + "</svg>", encoding="utf-8")


def windows(window_s: float = 60.0) -> list[tuple[str, float]]:
    """The baseline's minutes spread between the channels' (a machine that is busy for a while
    weighs on both alike): G G G G B G G G G B … for 10 and 2 minutes."""
    gateway_n = max(1, round(MINUTES * 60 / window_s))
    baseline_n = max(1, round(BASELINE_MINUTES * 60 / window_s))
    every = max(1, gateway_n // baseline_n)
    out, left = [], baseline_n
    for i in range(gateway_n):
        out.append(("gateway", MINUTES * 60 / gateway_n))
        if left and (i + 1) % every == 0:
            out.append(("baseline", BASELINE_MINUTES * 60 / baseline_n))
            left -= 1
    return out + [("baseline", BASELINE_MINUTES * 60 / baseline_n)] * left


async def _answer_latency(env: dict, since) -> dict:
    """From the citizen's message stored to the bot's answer stored (what a webhook that gave
    up at its deadline delivers later through the outbound path)."""
    from sqlalchemy import select

    from channels.models import Message
    from hotline.db import create_engine, session_factory
    from hotline.settings import Settings

    engine = create_engine(Settings.from_env(env).database_url)
    try:
        async with session_factory(engine)() as s:
            inbound = dict((await s.execute(select(Message.id, Message.created_at).where(
                Message.direction == "in", Message.created_at >= since))).all())
            replies = (await s.execute(select(Message.reply_to_id, Message.created_at).where(
                Message.direction == "out", Message.author == "bot",
                Message.reply_to_id.in_(list(inbound))))).all()
    finally:
        await engine.dispose()
    first = {}
    for reply_to, at in replies:
        first[reply_to] = min(at, first.get(reply_to, at))
    ms = [(first[i] - inbound[i]).total_seconds() * 1000 for i in first]
    return {**_quantiles(ms), "unanswered": len(inbound) - len(first)}


async def measure(env: dict, base: str, rasa: str, stack: subprocess.Popen) -> dict:
    from hotline.db import utcnow

    started = utcnow()
    rec = Recorder(time.monotonic())
    memory: dict = {}
    stop = asyncio.Event()
    sampler = asyncio.create_task(_sample_memory(_processes(stack), rec, memory,
                                                 env.get("DATABASE_URL"), stop))
    token = rasa_params(env)
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=100)
    async with httpx.AsyncClient(base_url=base, timeout=90, limits=limits) as http:
        for phase, seconds in windows():
            until = time.monotonic() + seconds
            await asyncio.gather(*(_citizen(rec, phase, ch, http, until, rasa, token)
                                   for ch, n in CHANNELS.items() for _ in range(n)))
    stop.set()
    await sampler
    by = lambda phase, ch=None: [ms for _, p, c, ms in rec.samples  # noqa: E731
                                 if p == phase and (ch is None or c == ch)]
    base_q, gate_q = _quantiles(by("baseline")), _quantiles(by("gateway"))
    per_minute = {}
    for at, phase, _c, ms in rec.samples:
        if phase == "gateway":
            per_minute.setdefault(int(at // 60), []).append(ms)
    RESULTS.mkdir(exist_ok=True)
    _svg(rec, RESULTS / "soak.svg")
    return {
        "citizens": sum(CHANNELS.values()), "channels": CHANNELS, "minutes": MINUTES,
        "baseline_minutes": BASELINE_MINUTES, "think_s": THINK_S, "mix": sorted(set(MIX)),
        "baseline_rasa_rest": base_q, "gateway_all": gate_q,
        "gateway_by_channel": {ch: _quantiles(by("gateway", ch)) for ch in CHANNELS},
        "ratio_p50": round(gate_q["p50_ms"] / base_q["p50_ms"], 2),
        "ratio_p95": round(gate_q["p95_ms"] / base_q["p95_ms"], 2),
        "ratio_p99": round(gate_q["p99_ms"] / base_q["p99_ms"], 2),
        "errors": rec.errors, "error_count": sum(rec.errors.values()),
        "gateway_p95_per_minute_ms": {m: _quantiles(v).get("p95_ms") for m, v in sorted(per_minute.items())},
        "processes": _memory_figures(memory),
        "answer_latency_stored": await _answer_latency(env, started),
        "plot": str((RESULTS / "soak.svg").relative_to(ROOT)),
    }


async def run() -> dict:
    async with stack_with_fake_providers() as (env, base, rasa, proc, _fakes):
        return await measure(env, base, rasa, proc)


def main() -> None:
    figures = asyncio.run(run())
    write("soak", {**figures, "database": "postgresql + redis" if os.environ.get("REDIS_URL")
                   else "sqlite + fakeredis (embedded)"})


if __name__ == "__main__":
    main()
