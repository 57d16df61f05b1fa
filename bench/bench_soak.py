"""Soak: 50 simulated citizens for SOAK_MINUTES (10) on the whole stack (`python -m hotline
stack`; real PostgreSQL and Redis when DATABASE_URL and REDIS_URL are set): 20 on the web chat,
15 on WeChat (safe mode), 15 by SMS, each going through a realistic mix of conversations (policy
questions, eligibility forms, help requests that file tickets, status questions).

Citizens behave as people do: each writes, **waits for the answer on its own channel** (the
webhook's own reply; or, when the webhook gave up at its deadline, the answer the outbound path
delivers later to the fake WeChat or Twilio, or the web page's long poll), reads it and types the
next message (SOAK_THINK_S, 4-12 s). The load is therefore closed: a slow platform gets fewer
messages, as it would from real citizens, and no backlog builds that the next minute pays for.
Each citizen writes from its own address (X-Forwarded-For, the stack told there is one proxy), so
the per-client limits count citizens, as behind the real reverse proxy.

Baseline in the same run: the same 50 citizens, scripts and think times straight to Rasa's REST
channel for SOAK_BASELINE_MINUTES (2), in one-minute windows spread between the channels'
windows, so that a busy spell of the shared machine weighs on both. At a window's end no citizen
begins a new conversation, the ones begun are finished, and the platform is let drain (every
stored message answered) before the next window.

Figures (bench/results/soak.json): per phase and channel, the answer latency as the citizen
sees it (message sent to first answer received) and the webhook's own response time, p50/p95/
p99; their ratios to the baseline; messages per second; errors (HTTP errors, no answer within
SOAK_ANSWER_WAIT_S); the time from a message stored to the bot's answer stored, and the messages
left unanswered at the end; tickets filed against help conversations finished; p95 per minute
(a latency that climbs shows here); the memory (RSS) of each process sampled every 10 s, first/
last/max and growth over the second half (bounded caches: a flat line); PostgreSQL connections.
bench/results/soak.svg plots answer latency over time.

    SOAK_MINUTES=10 DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test \\
        REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python -m bench.bench_soak
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import psutil

from bench.bench_bot import rasa_params
from bench.bench_channels import stack_with_fake_providers
from bench.dialogues import REFERENCE
from bench.results import RESULTS, percentiles, write
from hotline.settings import ROOT
from tests.services.channels.conftest import (
    answer_for,
    post_twilio,
    post_wechat,
    read_reply,
    sms,
    twiml_messages,
    wechat_text,
)

MINUTES = float(os.environ.get("SOAK_MINUTES", "10"))
BASELINE_MINUTES = float(os.environ.get("SOAK_BASELINE_MINUTES", "2"))
THINK_S = tuple(float(x) for x in os.environ.get("SOAK_THINK_S", "4,12").split(","))
ANSWER_WAIT_S = float(os.environ.get("SOAK_ANSWER_WAIT_S", "90"))
CHANNELS = {"web": 20, "wechat": 15, "sms": 15}
SAMPLE_S = 10.0
DRAIN_S = 120.0
SCRIPTS = {  # said in this order, whatever the bot answers
    "policy": ["你好", "低保是什么", "株洲的标准是多少", "要带什么材料", "多久能批下来", "谢谢"],
    "status": ["我想查一下办得怎么样了", "不知道", "谢谢"],
}
# Forms: the citizen opens with the first line, then answers the question the bot asked (a cue in
# its latest message), as a person does, whatever order the form asks in on that channel (the web
# page tells the region, an SMS number is known), until the bot asks nothing the citizen knows
# (it gave the result, or told the request's reference number), then says thanks.
FORMS = {
    "eligibility": ("我家能吃低保吗", [
        ("哪个地区", "株洲"), ("几口人", "三口人"), ("城里（城镇）", "城里"),
        ("每个月一共收入", "一个月一千五"), ("存款、现金", "没有存款"),
        ("能养您", "没有，孩子在外地顾不上"), ("还能干活", "干不动了")]),
    "help": ("我想申请临时救助", [
        ("怎么称呼", "我叫王秀英"), ("号码", "{phone}"), ("哪个地区", "株洲"), ("乡镇或街道", "月塘街道"),
        ("遇到了什么困难", "家里老人住院了没钱交费")]),
}
FORM_TURNS = 12
MIX = ["policy"] * 4 + ["eligibility"] * 3 + ["help"] * 2 + ["status"]


class Inbox(list):
    """A fake provider's record of what it was sent, which a waiting citizen can await: it
    replaces the fake's `sent` list (the fakes run in this process and only append to it)."""

    def __init__(self, key, text_of):
        super().__init__()
        self.key, self.text_of = key, text_of
        self.texts: dict[str, list[str]] = {}  # everything each citizen was sent, notices too
        self._events: dict[str, asyncio.Event] = {}

    def append(self, item) -> None:
        super().append(item)
        who, text = item.get(self.key), self.text_of(item) or ""
        self.texts.setdefault(who, []).append(text)
        if text not in _notices() and (event := self._events.pop(who, None)) is not None:
            event.set()

    def answers(self, who: str) -> int:
        """How many answers `who` was sent ("kept, we answer soon" is not an answer)."""
        return sum(text not in _notices() for text in self.texts.get(who, []))

    async def wait(self, who: str, seen: int, timeout: float) -> bool:
        """Until `who` has more than `seen` answers, or `timeout` passes."""
        loop = asyncio.get_running_loop()
        until = loop.time() + timeout
        while self.answers(who) <= seen:
            event = self._events.setdefault(who, asyncio.Event())
            try:
                await asyncio.wait_for(event.wait(), max(until - loop.time(), 0))
            except TimeoutError:
                return False
        return True


def _notices() -> set[str]:
    from channels.gateway import texts

    t = texts()
    return {t["bot_unavailable"], t["crisis"]}


class Recorder:
    def __init__(self, t0: float):
        self.t0 = t0
        self.samples: list[tuple[float, str, str, float, float]] = []  # at, phase, ch, answer, hook
        self.errors: Counter = Counter()
        self.forms: Counter = Counter()  # "help started", "help told its number", …

    def add(self, phase: str, channel: str, answer_ms: float, webhook_ms: float) -> None:
        self.samples.append((time.monotonic() - self.t0, phase, channel, answer_ms, webhook_ms))

    def error(self, phase: str, channel: str, what: str) -> None:
        self.errors[f"{phase}/{channel}: {what}"] += 1

    def of(self, phase: str, channel: str | None = None, field: int = 3) -> list[float]:
        return [s[field] for s in self.samples if s[1] == phase and channel in (None, s[2])]


class Citizen:
    """One person: a sender id, an address and a phone, and the way to their channel."""

    def __init__(self, phase: str, channel: str, http: httpx.AsyncClient, rasa: str, token: dict,
                 inboxes: dict[str, Inbox], n: int):
        self.phase, self.channel, self.http, self.rasa, self.token = phase, channel, http, rasa, token
        self.inboxes = inboxes
        self.address = {"X-Forwarded-For": f"10.{n // 250}.{n % 250}.{random.randint(1, 250)}"}
        self.new_person()

    def new_person(self) -> None:
        self.who = uuid.uuid4().hex[:10]
        self.openid = f"o{self.who}{'x' * 17}"
        self.phone = f"+86136{uuid.uuid4().int % 10**8:08d}"
        self.passive: list[str] = []  # the bot's reply to the last message, as the webhook gave it
        self.mark = None  # (inbox, key, index) where later deliveries to this person begin

    async def say(self, text: str) -> tuple[float, float] | str:
        """(answer ms, webhook ms), or what went wrong; what the bot said is left in `heard`."""
        self.passive, self.mark = [], None
        t0 = time.perf_counter()
        if self.phase == "baseline":
            r = await self.http.post(f"{self.rasa}/webhooks/rest/webhook", params=self.token,
                                     json={"sender": f"soak-{self.who}", "message": text})
            hook = time.perf_counter() - t0
            if r.status_code >= 400:
                return f"HTTP {r.status_code}"
            self.passive = [m.get("text") or "" for m in r.json()]
            return hook * 1000, hook * 1000
        if self.channel == "web":
            r = await self.http.post("/channels/web/messages", headers=self.address, json={
                "sender": f"soak-{self.who}", "text": text, "message_id": str(uuid.uuid4()),
                "metadata": {"region": "430200"}})
            hook = time.perf_counter() - t0
            if r.status_code >= 400 and r.status_code != 503:  # 503: kept, answered later
                return f"HTTP {r.status_code}"
            body = r.json()
            self.passive = [m.get("text") or "" for m in body.get("replies") or []]
            answered = any(t not in _notices() for t in self.passive)
            if not answered and not await self._web_wait(body["message_id"], t0):
                return "no answer"
        else:
            inbox = self.inboxes[self.channel]
            key = self.openid if self.channel == "wechat" else self.phone
            seen, self.mark = inbox.answers(key), (inbox, key, len(inbox.texts.get(key, [])))
            if self.channel == "wechat":
                r = await post_wechat(self.http, wechat_text(self.openid, text))
                answered = r.status_code == 200 and r.text != "success"  # a passive reply
                if answered:
                    self.passive = [read_reply(r.text).get("Content") or ""]
            else:
                r = await post_twilio(self.http, "/channels/sms/twilio", sms(text, self.phone))
                answered = "<Message>" in r.text
                if answered:
                    self.passive = twiml_messages(r.text)
            hook = time.perf_counter() - t0
            if r.status_code >= 400:
                return f"HTTP {r.status_code}"
            if not answered and not await inbox.wait(key, seen, ANSWER_WAIT_S - hook):
                return "no answer"
        return (time.perf_counter() - t0) * 1000, hook * 1000

    def heard(self) -> list[str]:
        """What the bot said to the last message: its reply, and what the outbound path has
        delivered since (read when the citizen has read it: after thinking)."""
        if self.mark is None:
            return self.passive
        inbox, key, at = self.mark
        return self.passive + inbox.texts.get(key, [])[at:]

    async def _web_wait(self, after: int, t0: float) -> bool:
        """The chat page's long poll, until the bot's answer shows."""
        while (left := ANSWER_WAIT_S - (time.perf_counter() - t0)) > 0:
            r = await self.http.get("/channels/web/messages", headers=self.address, timeout=left + 5,
                                    params={"sender": f"soak-{self.who}", "after": after, "wait": "1"})
            if r.status_code != 200:
                await asyncio.sleep(1)
                continue
            for m in r.json()["messages"]:
                after = max(after, m["id"])
                if m["author"] == "bot":
                    self.passive.append(m.get("text") or "")
            if any(t not in _notices() for t in self.passive):
                return True
        return False

    async def turn(self, rec: Recorder, text: str) -> None:
        try:
            got = await self.say(text.format(phone=self.phone[3:]))
        except httpx.HTTPError as exc:
            got = type(exc).__name__
        if isinstance(got, str):
            rec.error(self.phase, self.channel, got)
        else:
            rec.add(self.phase, self.channel, *got)
        await asyncio.sleep(random.uniform(*THINK_S))

    async def fill(self, rec: Recorder, form: str) -> None:
        """A form: the opening line, then the answer to what was asked, until nothing is."""
        opening, cues = FORMS[form]
        rec.forms[f"{form} started"] += 1
        await self.turn(rec, opening)
        for _ in range(FORM_TURNS):
            said = "".join(self.heard())  # an SMS comes in parts: (1/2) … (2/2)
            if REFERENCE.search(said):
                rec.forms[f"{form} told its reference number"] += 1
                break
            answer = answer_for(said, cues)
            if answer is None:  # a result, or a question this citizen has no answer for
                rec.forms[f"{form} answered" if form != "help" else f"help stopped at: {said[-30:]}"] += 1
                break
            await self.turn(rec, answer)
        await self.turn(rec, "谢谢")

    async def live(self, rec: Recorder, until: float) -> None:
        while time.monotonic() < until:
            self.new_person()
            script = random.choice(MIX)
            if script in FORMS:
                await self.fill(rec, script)  # a conversation begun is finished
                continue
            for text in SCRIPTS[script]:
                await self.turn(rec, text)


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


async def _sample_memory(procs: dict[str, psutil.Process], rec: Recorder, out: dict, engine,
                         stop: asyncio.Event) -> None:
    from sqlalchemy import text

    while not stop.is_set():
        at = round(time.monotonic() - rec.t0, 1)
        for name, proc in procs.items():
            try:
                out.setdefault(name, []).append((at, proc.memory_info().rss / 2**20))
            except psutil.Error:
                pass
        if engine.dialect.name == "postgresql":
            async with engine.connect() as conn:
                n = await conn.scalar(text("SELECT count(*) FROM pg_stat_activity "
                                           "WHERE datname = current_database()"))
            out.setdefault("_db_connections", []).append((at, n))
        try:
            await asyncio.wait_for(stop.wait(), SAMPLE_S)
        except TimeoutError:
            pass


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
    """Answer latency over time, a small hand-made SVG: the channels' p50 and p95 per bucket as
    lines, the baseline's (Rasa direct) p95 as dots in its windows."""
    buckets: dict[tuple[str, int], list[float]] = {}
    for at, phase, _channel, ms, _hook in rec.samples:
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
        # A line per run of consecutive buckets: the baseline's windows leave gaps.
        runs, last = [], None
        for t, v in series.get(("gateway", name), []):
            if last is None or t - last > bucket_s:
                runs.append([])
            runs[-1].append(f"{x(t):.1f},{y(v):.1f}")
            last = t
        shapes += [f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(r)}"/>'
                   for r in runs]
    shapes += [f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="3" fill="#555"/>'
               for t, v in series.get(("baseline", "p95"), [])]
    ticks = [f'<text x="{pad - 6}" y="{y(v):.1f}" font-size="11" text-anchor="end">{v:.0f}</text>'
             for v in (0, y_max / 2, y_max)]
    path.write_text(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif">'
        f'<text x="{pad}" y="20" font-size="13">Answer latency (ms) per {bucket_s:.0f} s through '
        'the channels: p50 blue, p95 orange; grey dots: p95 straight to Rasa (baseline)</text>'
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


async def _stored(sf, since) -> dict:
    """From the citizen's message stored to the bot's answer stored, the messages still not
    answered, the tickets filed and the citizens told to wait, since `since`."""
    from sqlalchemy import func, select

    from channels.models import Message
    from referral.models import Ticket

    async with sf() as s:
        inbound = dict((await s.execute(select(Message.id, Message.created_at).where(
            Message.direction == "in", Message.created_at >= since))).all())
        replies = (await s.execute(select(Message.reply_to_id, Message.created_at).where(
            Message.direction == "out", Message.author == "bot",
            Message.reply_to_id.in_(list(inbound))))).all()
        told = await s.scalar(select(func.count()).select_from(Message).where(
            Message.author == "system", Message.created_at >= since,
            Message.text.in_(list(_notices()))))
        tickets = await s.scalar(select(func.count()).select_from(Ticket).where(Ticket.created_at >= since))
    first = {}
    for reply_to, at in replies:
        first[reply_to] = min(at, first.get(reply_to, at))
    ms = [(first[i] - inbound[i]).total_seconds() * 1000 for i in first]
    return {"latency": {**percentiles(ms), "unanswered": len(inbound) - len(first)},
            "told_to_wait": told, "tickets": tickets}


async def _drain(sf, since) -> None:
    """Until every message stored since `since` has its answer (or DRAIN_S passes)."""
    until = time.monotonic() + DRAIN_S
    while time.monotonic() < until:  # the database is polled: no event to wait on
        if not (await _stored(sf, since))["latency"]["unanswered"]:
            return
        await asyncio.sleep(1)


def _phase_figures(rec: Recorder, phase: str, seconds: float, channels) -> dict:
    return {"answer": percentiles(rec.of(phase)), "webhook": percentiles(rec.of(phase, field=4)),
            "messages_per_s": round(len(rec.of(phase)) / max(seconds, 1), 2),
            "by_channel": {ch: {"answer": percentiles(rec.of(phase, ch)),
                                "webhook": percentiles(rec.of(phase, ch, 4))} for ch in channels}}


async def measure(env: dict, base: str, rasa: str, stack: subprocess.Popen, fakes: dict) -> dict:
    from hotline.db import create_engine, session_factory, utcnow
    from hotline.settings import Settings

    inboxes = {"wechat": Inbox("touser", lambda m: (m.get("text") or {}).get("content")),
               "sms": Inbox("To", lambda m: m.get("Body"))}
    fakes["wechat"].sent, fakes["twilio"].sent = inboxes["wechat"], inboxes["sms"]
    engine = create_engine(Settings.from_env(env).database_url)
    sf = session_factory(engine)
    started = utcnow()
    rec = Recorder(time.monotonic())
    memory: dict = {}
    stop = asyncio.Event()
    sampler = asyncio.create_task(_sample_memory(_processes(stack), rec, memory, engine, stop))
    token = rasa_params(env)
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=100)
    spent = Counter()
    async with httpx.AsyncClient(base_url=base, timeout=ANSWER_WAIT_S + 10, limits=limits) as http:
        for phase, seconds in windows():
            t0 = time.monotonic()
            people = [Citizen(phase, ch, http, rasa, token, inboxes, n)
                      for n, ch in enumerate(ch for ch, k in CHANNELS.items() for _ in range(k))]
            await asyncio.gather(*(p.live(rec, t0 + seconds) for p in people))
            spent[phase] += time.monotonic() - t0  # the conversations finished included
            await _drain(sf, started)
    stop.set()
    await sampler
    stored = await _stored(sf, started)
    await engine.dispose()
    base_q, gate_q = percentiles(rec.of("baseline")), percentiles(rec.of("gateway"))
    per_minute: dict[int, list[float]] = {}
    for at, phase, _c, ms, _hook in rec.samples:
        if phase == "gateway":
            per_minute.setdefault(int(at // 60), []).append(ms)
    RESULTS.mkdir(exist_ok=True)
    _svg(rec, RESULTS / "soak.svg")
    ratio = {f"ratio_{q}": round(gate_q[f"{q}_ms"] / base_q[f"{q}_ms"], 2)
             for q in ("p50", "p95", "p99") if f"{q}_ms" in gate_q and f"{q}_ms" in base_q}
    return {
        "citizens": sum(CHANNELS.values()), "channels": CHANNELS, "minutes": MINUTES,
        "baseline_minutes": BASELINE_MINUTES, "think_s": THINK_S, "answer_wait_s": ANSWER_WAIT_S,
        "mix": {k: MIX.count(k) / len(MIX) for k in SCRIPTS},
        "gateway": _phase_figures(rec, "gateway", spent["gateway"], CHANNELS),
        "baseline_rasa_rest": _phase_figures(rec, "baseline", spent["baseline"], ()),
        **ratio,
        "errors": dict(rec.errors), "error_count": sum(rec.errors.values()),
        "gateway_answer_p95_per_minute_ms": {m: percentiles(v).get("p95_ms")
                                             for m, v in sorted(per_minute.items())},
        "processes": _memory_figures(memory),
        "stored_to_answered": stored["latency"],
        "citizens_told_to_wait": stored["told_to_wait"],
        "forms": dict(rec.forms), "tickets_filed": stored["tickets"],
        "plot": str((RESULTS / "soak.svg").relative_to(ROOT)),
    }


async def run() -> dict:
    async with stack_with_fake_providers(PROXIES_COUNT="1") as (env, base, rasa, proc, fakes):
        return await measure(env, base, rasa, proc, fakes)


def main() -> None:
    figures = asyncio.run(run())
    write("soak", {**figures, "database": "postgresql + redis" if os.environ.get("REDIS_URL")
                   else "sqlite + fakeredis (embedded)"})


if __name__ == "__main__":
    main()
