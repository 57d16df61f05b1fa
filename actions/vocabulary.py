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


def need_of(parse_data: Optional[dict]) -> Optional[str]:
    """The program the need classifier read in a message (bot/components/need_classifier.py),
    or None when it was unsure: a person routes the request then."""
    need = (parse_data or {}).get("need") or {}
    program = need.get("program")
    return program if program in vocabulary()["programs"] else None


def sounds_urgent(text: str) -> bool:
    return any(w in (text or "") for w in vocabulary()["urgent_keywords"])
