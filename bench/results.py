"""Shared helpers of the benchmarks: percentiles and the JSON results file."""

from __future__ import annotations

import json
import platform
import statistics
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    if len(samples_ms) < 2:
        return {"n": len(samples_ms)}
    qs = statistics.quantiles(samples_ms, n=100, method="inclusive")
    return {"n": len(samples_ms), "p50_ms": round(qs[49], 3), "p95_ms": round(qs[94], 3),
            "p99_ms": round(qs[98], 3), "max_ms": round(max(samples_ms), 3)}


def write(name: str, figures: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    doc = {"benchmark": name, "at": datetime.now(UTC).isoformat(timespec="seconds"),
           "machine": {"python": platform.python_version(), "cpu_count": __import__("os").cpu_count()},
           **figures}
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=2))
    print(json.dumps(doc, ensure_ascii=False, indent=2))
    return path
