"""Task success of the bot on scripted conversations written from the citizen's side
(bench/conversations/*.yml, see bench/dialogues.py), through the whole stack with the real
Rasa: the share of dialogues where the citizen got what they came for, by theme, every
failure with its reason, and the length of the bot's replies (one SMS is 70 characters; none
should pass 140).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import httpx

from bench import dialogues
from bench.bench_bot import free_port, start_stack
from bench.results import write
from hotline.db import create_engine, session_factory
from hotline.settings import ROOT, Settings

CONCURRENCY = 4


async def run_all(base: str, env: dict, only: list[str] | None = None) -> dict:
    engine = create_engine(Settings.from_env(env).database_url)
    sessions = session_factory(engine)
    await dialogues.prepare(sessions)
    todo = [d for d in dialogues.load() if not only or any(w in d["name"] or w == d["file"] for w in only)]
    gate = asyncio.Semaphore(CONCURRENCY)
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        async def one(d):
            async with gate:
                return await dialogues.run(http, sessions, d)
        outcomes = await asyncio.gather(*[one(d) for d in todo])
    await engine.dispose()
    by_file = defaultdict(list)
    for o in outcomes:
        by_file[o.file].append(o.success)
    lengths = [n for o in outcomes for n in o.reply_lengths]
    return {
        "dialogues": len(outcomes),
        "task_success": round(sum(o.success for o in outcomes) / len(outcomes), 3),
        "by_theme": {f: {"n": len(v), "success": round(sum(v) / len(v), 3)}
                     for f, v in sorted(by_file.items())},
        "failures": [{"name": o.name, "file": o.file, "why": o.why, "turns": o.turns}
                     for o in outcomes if not o.success],
        "replies": {"n": len(lengths), "max_chars": max(lengths, default=0),
                    "within_one_sms_share": round(sum(n <= dialogues.SMS_CHARS for n in lengths)
                                                  / max(len(lengths), 1), 3),
                    "over_140": sum(n > dialogues.MAX_REPLY_CHARS for n in lengths)},
    }


def main() -> None:
    """All dialogues on a stack of its own; `--base URL [words]`: those whose name holds one of
    the words (or of that theme) on a stack already running with this environment's database
    (a developer's `make run`), printed rather than written to bench/results."""
    args = sys.argv[1:]
    if args[:1] == ["--base"]:
        figures = asyncio.run(run_all(args[1], dict(os.environ), args[2:]))
        print(json.dumps(figures, ensure_ascii=False, indent=1))
        return
    ports = {"HOTLINE_PORT": free_port(), "RASA_PORT": free_port(), "ACTIONS_PORT": free_port()}
    with tempfile.TemporaryDirectory() as var:
        env = {**os.environ, **{k: str(v) for k, v in ports.items()}, "HOTLINE_VAR_DIR": var,
               "LOG_LEVEL": "WARNING", "AGENT_HOURS": "always"}
        for key in ("RASA_URL", "ACTIONS_URL", "SERVICES_URL"):
            env.pop(key, None)
        subprocess.run([sys.executable, "-m", "hotline", "migrate"], cwd=ROOT, env=env, check=True)
        proc = start_stack(env, Path(var) / "stack.log")
        try:
            figures = asyncio.run(run_all(f"http://127.0.0.1:{ports['HOTLINE_PORT']}", env))
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
    write("conversations", figures)


if __name__ == "__main__":
    main()
