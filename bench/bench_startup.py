"""Stack start-up: time from `python -m hotline stack` to every process healthy (3 runs),
with the services app alone (until it answers GET /api/regions) as the baseline measured in
the same run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

from bench.results import write
from hotline.settings import ROOT


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)  # what docker and the stack supervisor send
    proc.wait(timeout=60)


def time_stack(env: dict, timeout_s: float = 600) -> float:
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "hotline", "stack"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in proc.stdout:
            if "stack ready" in line:
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout_s:
                break
        raise RuntimeError("stack did not become ready")
    finally:
        _stop(proc)


def time_services(env: dict, timeout_s: float = 60) -> float:
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "hotline", "serve"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.monotonic() - t0 < timeout_s:
            try:
                with urllib.request.urlopen("http://127.0.0.1:8000/api/regions", timeout=1):
                    return time.monotonic() - t0
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("services app did not answer")
    finally:
        _stop(proc)


def main() -> None:
    runs, baseline = [], []
    with tempfile.TemporaryDirectory() as var:
        env = {**os.environ, "HOTLINE_VAR_DIR": var}
        subprocess.run([sys.executable, "-m", "hotline", "migrate"], cwd=ROOT, env=env, check=True)
        for _ in range(3):
            baseline.append(time_services(env))
            runs.append(time_stack(env))
    write("startup", {
        "stack_ready_s": [round(x, 1) for x in runs],
        "services_only_s": [round(x, 2) for x in baseline],
        "ratio_stack_to_services_median": round(sorted(runs)[1] / sorted(baseline)[1], 1),
        "database": "postgresql" if os.environ.get("DATABASE_URL") else "sqlite (embedded)",
    })


if __name__ == "__main__":
    main()
