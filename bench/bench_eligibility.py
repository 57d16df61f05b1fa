"""POST /api/eligibility/screen latency over 2,000 varied households, through a real HTTP client
against the services app served in this process (embedded SQLite, as `make run` on a bare
machine). Baseline measured in the same run, interleaved request by request: GET /api/regions
(same app, same client, no rules work). Also the screen's own compute time without HTTP.
Target: screen p95 < 20 ms.

    .venv/bin/python -m bench.bench_eligibility
"""

from __future__ import annotations

import asyncio
import random
import socket
import tempfile
import time
from collections import Counter
from dataclasses import replace

import httpx

from bench.results import percentiles, write
from hotline.app import create_app
from hotline.migrate import upgrade
from hotline.settings import Settings
from rules.eligibility import screen
from rules.regions import region_codes
from rules.screen_request import DISABILITY_CATEGORIES, EMERGENCY_TYPES, STUDENT_STAGES

HOUSEHOLDS = 2000
WARMUP = 50
TARGET_P95_MS = 20.0


def _maybe(rng: random.Random, p: float, value):
    return value if rng.random() < p else None


def member(rng: random.Random) -> dict:
    age = rng.choice([rng.randint(0, 17), rng.randint(18, 59), rng.randint(60, 95)])
    disabled = rng.random() < 0.12
    return {
        "age": _maybe(rng, 0.97, age),
        "can_work": _maybe(rng, 0.9, age >= 18 and age < 65 and rng.random() < 0.8),
        "monthly_income": _maybe(rng, 0.6, rng.choice([0, 0, rng.randint(100, 900),
                                                        rng.randint(1000, 6000)])),
        "disability_level": rng.randint(1, 4) if disabled else None,
        "disability_category": rng.choice(DISABILITY_CATEGORIES) if disabled else None,
        "serious_illness": rng.random() < 0.1,
        "employed": 18 <= age < 65 and rng.random() < 0.4,
        "student_stage": rng.choice(STUDENT_STAGES) if 3 <= age <= 22 and rng.random() < 0.7 else None,
    }


def household(rng: random.Random) -> dict:
    size = rng.choice([1, 1, 2, 2, 3, 3, 4, 5, 6])
    members = [member(rng) for _ in range(size)]
    emergency = None
    if rng.random() < 0.2:
        emergency = {"type": rng.choice(EMERGENCY_TYPES), "description": "突发困难",
                     "amount": _maybe(rng, 0.6, rng.choice([800, 1000, 2000, 3000, 4500]))}
    return {
        "region": rng.choice(sorted(region_codes())),
        "area": _maybe(rng, 0.95, rng.choice(["urban", "rural"])),
        "household": {
            "members": members,
            "monthly_income": _maybe(rng, 0.7, rng.choice([0, rng.randint(200, 1500) * size,
                                                             rng.randint(1500, 5000) * size])),
            "financial_assets": _maybe(rng, 0.85, rng.choice([0, rng.randint(1000, 60000)])),
            "rigid_expenses_monthly": _maybe(rng, 0.4, {"medical": rng.choice([0, 300, 1500]),
                                                        "education": rng.choice([0, 500]),
                                                        "care": rng.choice([0, 800])}),
            "has_capable_supporter": _maybe(rng, 0.85, rng.random() < 0.7),
            "emergency": emergency,
            "receiving": rng.choice([[], [], [], ["dibao"], ["low_income"]]),
            "housing_difficulty": _maybe(rng, 0.3, rng.random() < 0.5),
        },
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _serve(settings: Settings):
    app = create_app(settings, name="bench_eligibility")
    server = await app.create_server(host="127.0.0.1", port=settings.port,
                                     return_asyncio_server=True, access_log=False)
    await server.startup()
    await server.before_start()
    await server.after_start()
    return server


async def _stop(server) -> None:
    await server.before_stop()
    server.close()
    await server.wait_closed()
    await server.after_stop()


async def _timed(client: httpx.AsyncClient, method: str, path: str, **kw) -> tuple[float, httpx.Response]:
    t0 = time.perf_counter()
    r = await client.request(method, path, **kw)
    return (time.perf_counter() - t0) * 1000, r


async def measure(base_url: str, households: list[dict]) -> dict:
    screen_ms, baseline_ms, statuses = [], [], Counter()
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        for payload in households[:WARMUP]:
            await client.post("/api/eligibility/screen", json=payload)
            await client.get("/api/regions")
        for payload in households:
            ms, r = await _timed(client, "POST", "/api/eligibility/screen", json=payload)
            r.raise_for_status()
            screen_ms.append(ms)
            statuses.update(p["status"] for p in r.json()["programs"])
            ms, r = await _timed(client, "GET", "/api/regions")
            r.raise_for_status()
            baseline_ms.append(ms)
    return {"screen": screen_ms, "baseline": baseline_ms, "statuses": dict(statuses)}


def compute_only(households: list[dict]) -> list[float]:
    out = []
    for payload in households:
        t0 = time.perf_counter()
        screen(payload)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> None:
    rng = random.Random(12349)
    households = [household(rng) for _ in range(HOUSEHOLDS)]
    with tempfile.TemporaryDirectory() as var:
        settings = Settings.from_env({"HOTLINE_VAR_DIR": var, "DATABASE_URL": f"sqlite:///{var}/bench.db"})
        settings = replace(settings, port=_free_port())
        upgrade(settings)

        async def run() -> dict:
            server = await _serve(settings)
            try:
                return await measure(f"http://127.0.0.1:{settings.port}", households)
            finally:
                await _stop(server)

        http = asyncio.run(run())
    direct = compute_only(households)
    screen_p, base_p, direct_p = (percentiles(http["screen"]), percentiles(http["baseline"]),
                                  percentiles(direct))
    write("eligibility", {
        "households": HOUSEHOLDS,
        "screen_http": screen_p,
        "baseline_get_regions_http": base_p,
        "screen_compute_only": direct_p,
        "ratio_screen_to_baseline_p50": round(screen_p["p50_ms"] / base_p["p50_ms"], 1),
        "ratio_screen_to_baseline_p95": round(screen_p["p95_ms"] / base_p["p95_ms"], 1),
        "target_p95_ms": TARGET_P95_MS,
        "meets_target": screen_p["p95_ms"] < TARGET_P95_MS,
        "program_statuses": http["statuses"],
        "database": "sqlite (embedded)",
    })


if __name__ == "__main__":
    main()
