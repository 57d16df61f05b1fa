"""The bot: training time of the Rasa model on this machine, and latency of the trained model —
Rasa's /model/parse (NLU only) and a full citizen turn through the gateway
(POST /channels/web/messages: gateway, Rasa, action server, services API). Baselines measured in
the same run on the same servers: GET /version on Rasa, GET /healthz on the services app; the
figures are also given as ratios to them, since the machine is shared and noisy.

BENCH_BOT_TRAIN=0 skips the training run (about 3-5 minutes; training_s is then null).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from bench.results import percentiles, write
from hotline.settings import ROOT

PARSE_SAMPLES = 200
TURN_CONVERSATIONS = 25
BASELINE_SAMPLES = 200
START_TIMEOUT_S = 600
TEXTS = [
    "低保要什么条件", "我家四口人一个月收入两千五能吃低保吗", "俺想整个低保 你们帮俺弄弄", "转人工",
    "临时救助多久能到账", "查一下12349-20261122-0001", "我电话13800001234", "不知道", "谢谢", "你是机器人吗",
    "喂你好我想申请那个低保就是我们家里现在实在是困难得很孩子他爸也没了麻烦你们帮我弄一下",
]
# One web chat: a policy question with a follow-up, then the screen's first questions.
CONVERSATION = ["你好", "低保要什么条件", "那要带什么材料", "那我家能申请吗", "四口人", "城里",
                "一个月两千五"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_seconds() -> float | None:
    """A training from scratch (empty cache) into a temporary directory, timed; None if skipped."""
    if os.environ.get("BENCH_BOT_TRAIN", "1") == "0":
        return None
    with tempfile.TemporaryDirectory() as out, tempfile.TemporaryDirectory() as cache:
        # A cold cache: Rasa would otherwise reuse the components trained last time (.rasa/cache).
        env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2",
               "TQDM_DISABLE": "1", "RASA_CACHE_DIRECTORY": cache}
        t0 = time.monotonic()
        subprocess.run([str(ROOT / ".venv-bot/bin/rasa"), "train", "--config", "bot/config.yml",
                        "--domain", "bot/domain.yml", "--data", "bot/data", "nlu_data", "--out", out],
                       cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.monotonic() - t0


async def timed(samples: list[float], call) -> httpx.Response:
    t0 = time.perf_counter()
    r = await call()
    samples.append((time.perf_counter() - t0) * 1000)
    r.raise_for_status()
    return r


async def measure(rasa: str, services: str, token: dict) -> dict:
    version, parse, healthz, turns = [], [], [], []
    async with httpx.AsyncClient(timeout=120) as http:
        for _ in range(BASELINE_SAMPLES):
            await timed(version, lambda: http.get(f"{rasa}/version", params=token))
            await timed(healthz, lambda: http.get(f"{services}/healthz"))
        for i in range(PARSE_SAMPLES):
            text = TEXTS[i % len(TEXTS)]
            await timed(parse, lambda text=text: http.post(f"{rasa}/model/parse", json={"text": text},
                                                           params=token))
        for _ in range(TURN_CONVERSATIONS):
            sender = f"bench-{uuid.uuid4().hex[:8]}"
            for text in CONVERSATION:
                body = {"sender": sender, "text": text, "message_id": str(uuid.uuid4()),
                        "metadata": {"region": "430200"}}
                await timed(turns, lambda body=body: http.post(f"{services}/channels/web/messages",
                                                               json=body))
    p_version, p_parse, p_healthz, p_turn = (percentiles(x) for x in (version, parse, healthz, turns))
    return {
        "model_parse": p_parse, "rasa_version_baseline": p_version,
        "gateway_turn": p_turn, "services_healthz_baseline": p_healthz,
        "ratio_parse_to_version_p50": round(p_parse["p50_ms"] / p_version["p50_ms"], 1),
        "ratio_parse_to_version_p95": round(p_parse["p95_ms"] / p_version["p95_ms"], 1),
        "ratio_turn_to_healthz_p50": round(p_turn["p50_ms"] / p_healthz["p50_ms"], 1),
        "ratio_turn_to_healthz_p95": round(p_turn["p95_ms"] / p_healthz["p95_ms"], 1),
    }


def rasa_params(env: dict) -> dict:
    """Rasa answers only callers with its token (bot/servers.py): the benchmarks' own calls."""
    return {"token": env["RASA_AUTH_TOKEN"]}


def start_stack(env: dict, log_path: Path) -> subprocess.Popen:
    """The stack as `make run` starts it; its bot tokens are set in `env` first, so the
    benchmark can reach Rasa directly for its baselines (rasa_params)."""
    import secrets

    for name in ("RASA_AUTH_TOKEN", "ACTIONS_TOKEN"):
        env.setdefault(name, secrets.token_urlsafe(24))
    log = open(log_path, "w+b")  # noqa: SIM115 - kept open for the subprocess' lifetime
    proc = subprocess.Popen([sys.executable, "-m", "hotline", "stack"], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    t0 = time.monotonic()
    while b"stack ready" not in log_path.read_bytes():
        if proc.poll() is not None or time.monotonic() - t0 > START_TIMEOUT_S:
            raise RuntimeError("stack did not start:\n" + log_path.read_text(errors="replace")[-4000:])
        time.sleep(0.5)
    return proc


def on_stack(work, keep_database: bool = False):
    """work(ports, rasa_params) run against a fresh stack as `make run` starts it (the embedded
    database unless keep_database: DATABASE_URL/REDIS_URL as set)."""
    ports = {"HOTLINE_PORT": free_port(), "RASA_PORT": free_port(), "ACTIONS_PORT": free_port()}
    with tempfile.TemporaryDirectory() as var:
        env = {**os.environ, **{k: str(v) for k, v in ports.items()}, "HOTLINE_VAR_DIR": var,
               "LOG_LEVEL": "WARNING"}
        for key in ("RASA_URL", "ACTIONS_URL", "SERVICES_URL",
                    *(() if keep_database else ("DATABASE_URL", "REDIS_URL"))):
            env.pop(key, None)
        subprocess.run([sys.executable, "-m", "hotline", "migrate"], cwd=ROOT, env=env, check=True)
        proc = start_stack(env, Path(var) / "stack.log")
        try:
            return asyncio.run(work(ports, rasa_params(env)))
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)


def main() -> None:
    trained = train_seconds()
    figures = on_stack(lambda ports, token: measure(f"http://127.0.0.1:{ports['RASA_PORT']}",
                                                    f"http://127.0.0.1:{ports['HOTLINE_PORT']}",
                                                    token), keep_database=True)
    write("bot", {
        "training_s": round(trained, 1) if trained is not None else None,
        "training_target_s": 300,
        **figures,
        "turn_conversation": CONVERSATION,
        "database": "postgresql" if os.environ.get("DATABASE_URL") else "sqlite (embedded)",
    })


if __name__ == "__main__":
    main()
