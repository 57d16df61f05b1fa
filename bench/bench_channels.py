"""The channels under load: 20 simulated citizens at once (10 on WeChat in safe mode, 10 by SMS)
holding conversations through the webhooks of the whole stack (`python -m hotline stack`, real
PostgreSQL and Redis when DATABASE_URL and REDIS_URL are set), and, in the same run, the same
conversations sent by 20 senders straight to Rasa's REST channel: the baseline. Fake WeChat and
Twilio APIs on 127.0.0.1 receive what goes out later.

Figures: p50/p95 of the webhook's answer time per channel and of the baseline, the gateway's
overhead as their ratio (goal: p95 at most 1.3x), sustained messages per second, the share of
WeChat replies that went back passively (within the 4 s window), and the outbound path's
delivery throughput: 300 SMS queued at once, timed until the fake Twilio has them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from bench.bench_bot import free_port, rasa_params, start_stack
from bench.results import percentiles, write
from hotline.settings import ROOT
from tests.services.channels.conftest import (
    TWILIO_SID,
    TWILIO_TOKEN,
    post_twilio,
    post_wechat,
    provider_env,
    sms,
    wechat_text,
)
from tests.services.fakes import FakeTwilio, FakeWeChat

CITIZENS = 20
CONVERSATION = ["你好", "低保要什么条件", "株洲", "那要带什么材料", "多久能批下来", "我家能吃低保吗",
                "三口人", "城里", "一个月一千五", "谢谢"]
DELIVERIES = 300


async def _citizen_wechat(http, samples, passive_count) -> None:
    oid = f"o{uuid.uuid4().hex[:27]}"
    for text in CONVERSATION:
        t0 = time.perf_counter()
        r = await post_wechat(http, wechat_text(oid, text))
        samples.append((time.perf_counter() - t0) * 1000)
        r.raise_for_status()
        passive_count[0 if r.text != "success" else 1] += 1


async def _citizen_sms(http, samples) -> None:
    phone = f"+86137{uuid.uuid4().int % 10**8:08d}"
    for text in CONVERSATION:
        t0 = time.perf_counter()
        r = await post_twilio(http, "/channels/sms/twilio", sms(text, phone))
        samples.append((time.perf_counter() - t0) * 1000)
        r.raise_for_status()


async def _citizen_rasa(http, rasa: str, samples, token: dict) -> None:
    sender = f"bench-rasa-{uuid.uuid4().hex[:8]}"
    for text in CONVERSATION:
        t0 = time.perf_counter()
        r = await http.post(f"{rasa}/webhooks/rest/webhook", json={"sender": sender, "message": text},
                            params=token)
        samples.append((time.perf_counter() - t0) * 1000)
        r.raise_for_status()


async def _deliveries(env: dict, twilio: FakeTwilio) -> dict:
    """Queue DELIVERIES SMS on DELIVERIES conversations at once; time the worker sending them."""
    from sqlalchemy import insert

    from channels.models import Conversation, Message
    from hotline.db import create_engine, session_factory, utcnow
    from hotline.settings import Settings

    settings = Settings.from_env(env)
    engine = create_engine(settings.database_url)
    sf = session_factory(engine)
    tag = uuid.uuid4().hex[:6]
    run = uuid.uuid4().int % 10**4  # fresh numbers each run: the database may be reused
    phones = [f"+86135{run:04d}{i:04d}" for i in range(DELIVERIES)]
    async with sf() as s, s.begin():
        await s.execute(insert(Conversation), [
            {"channel": "sms", "contact_id": p, "status": "bot", "priority": 0, "window_sent": 0,
             "meta": {}, "created_at": utcnow(), "last_activity_at": utcnow()} for p in phones])
        ids = dict((await s.execute(
            Conversation.__table__.select().with_only_columns(Conversation.contact_id, Conversation.id)
            .where(Conversation.contact_id.in_(phones)))).all())
    before = len(twilio.sent)
    t0 = time.perf_counter()
    async with sf() as s, s.begin():
        await s.execute(insert(Message), [
            {"conversation_id": ids[p], "direction": "out", "author": "system", "channel": "sms",
             "state": "queued", "text": f"【12349】测试通知 {tag}", "payload": {}, "attempts": 0,
             "next_attempt_at": utcnow(), "created_at": utcnow()} for p in phones])
    while len(twilio.sent) - before < DELIVERIES and time.perf_counter() - t0 < 600:  # noqa: ASYNC110
        await asyncio.sleep(0.1)  # the fake Twilio is counted, not awaited
    took = time.perf_counter() - t0
    await engine.dispose()
    delivered = len(twilio.sent) - before
    return {"queued": DELIVERIES, "delivered": delivered, "seconds": round(took, 2),
            "per_second": round(delivered / took, 1)}


async def measure(env: dict, base: str, rasa: str, twilio: FakeTwilio) -> dict:
    wechat_ms, sms_ms, rasa_ms, passive = [], [], [], [0, 0]
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        token = rasa_params(env)
        await _citizen_rasa(http, rasa, [], token)  # warm-up, not counted
        t0 = time.perf_counter()
        await asyncio.gather(*[_citizen_rasa(http, rasa, rasa_ms, token) for _ in range(CITIZENS)])
        rasa_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        await asyncio.gather(*[_citizen_wechat(http, wechat_ms, passive) for _ in range(CITIZENS // 2)],
                             *[_citizen_sms(http, sms_ms) for _ in range(CITIZENS // 2)])
        gateway_s = time.perf_counter() - t0
    both = wechat_ms + sms_ms
    p_rasa, p_both = percentiles(rasa_ms), percentiles(both)
    return {
        "citizens": CITIZENS, "messages_each": len(CONVERSATION), "conversation": CONVERSATION,
        "rasa_rest_baseline": {**p_rasa, "messages_per_s": round(len(rasa_ms) / rasa_s, 1)},
        "gateway_wechat": percentiles(wechat_ms), "gateway_sms": percentiles(sms_ms),
        "gateway_all": {**p_both, "messages_per_s": round(len(both) / gateway_s, 1)},
        "overhead_ratio_p50": round(p_both["p50_ms"] / p_rasa["p50_ms"], 2),
        "overhead_ratio_p95": round(p_both["p95_ms"] / p_rasa["p95_ms"], 2),
        "overhead_goal_p95": 1.3,
        "wechat_passive_share": round(passive[0] / max(sum(passive), 1), 3),
        "outbound_delivery": await _deliveries(env, twilio),
    }


@contextlib.asynccontextmanager
async def stack_with_fake_providers(**extra_env: str):
    """The whole stack (`python -m hotline stack`) on free ports, WeChat and Twilio pointed at
    fakes on 127.0.0.1: yields (env, services URL, Rasa URL, the stack's process, the fakes)."""
    wechat, twilio = await FakeWeChat().start(), await FakeTwilio(TWILIO_SID, TWILIO_TOKEN).start()
    ports = {"HOTLINE_PORT": free_port(), "RASA_PORT": free_port(), "ACTIONS_PORT": free_port()}
    with tempfile.TemporaryDirectory() as var:
        env = {**os.environ, **{k: str(v) for k, v in ports.items()}, "HOTLINE_VAR_DIR": var,
               "LOG_LEVEL": "WARNING", **provider_env(wechat.url, twilio.url), **extra_env}
        for key in ("RASA_URL", "ACTIONS_URL", "SERVICES_URL"):
            env.pop(key, None)
        await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "hotline", "migrate"],
                                cwd=ROOT, env=env, check=True)
        proc = await asyncio.to_thread(start_stack, env, Path(var) / "stack.log")
        try:
            yield (env, f"http://127.0.0.1:{ports['HOTLINE_PORT']}",
                   f"http://127.0.0.1:{ports['RASA_PORT']}", proc, {"wechat": wechat, "twilio": twilio})
        finally:
            proc.send_signal(signal.SIGINT)
            await asyncio.to_thread(proc.wait, 60)
            await wechat.stop()
            await twilio.stop()


async def run() -> dict:
    async with stack_with_fake_providers(DELIVERY_INTERVAL_S="0.5") as (env, base, rasa, _proc, fakes):
        return await measure(env, base, rasa, fakes["twilio"])


def main() -> None:
    figures = asyncio.run(run())
    write("channels", {**figures, "database": "postgresql + redis" if os.environ.get("REDIS_URL")
                       else "sqlite + fakeredis (embedded)"})


if __name__ == "__main__":
    main()
