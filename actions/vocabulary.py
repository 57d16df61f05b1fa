"""The names and word lists of actions/vocabulary.yml, read once per process."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Optional

import yaml


@lru_cache(maxsize=1)
def vocabulary() -> Dict[str, Any]:
    return yaml.safe_load(Path(__file__).with_name("vocabulary.yml").read_text(encoding="utf-8"))


def program_name(code: Optional[str]) -> str:
    return vocabulary()["programs"].get(code or "", code or "")


def department_name(code: Optional[str]) -> str:
    return vocabulary()["departments"].get(code or "", code or "")


def guess_program(text: str) -> Optional[str]:
    """The program a description of a hardship points to most (the most keywords; on a tie, the
    one listed first), or None if no word matches."""
    hits = {program: sum(w in text for w in words)
            for program, words in vocabulary()["program_keywords"].items()}
    best = max(hits, key=hits.get, default=None)  # max() keeps the first of equal counts
    return best if best and hits[best] else None


def sounds_urgent(text: str) -> bool:
    return any(w in (text or "") for w in vocabulary()["urgent_keywords"])
