"""The names and word lists of actions/vocabulary.yml, read once per process."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Optional

import yaml


@lru_cache(maxsize=1)
def vocabulary() -> Dict[str, Any]:
    return yaml.safe_load(Path(__file__).with_name("vocabulary.yml").read_text(encoding="utf-8"))


def program_name(code: Optional[str]) -> str:
    return vocabulary()["programs"].get(code or "", code or "")


CASE_TEXTS = Path(__file__).resolve().parents[1] / "referral" / "case_texts.yml"


@lru_cache(maxsize=1)
def _citizen_departments() -> Dict[str, str]:
    """Departments as citizens say them, the list the services' lookup sentences use too."""
    return yaml.safe_load(CASE_TEXTS.read_text(encoding="utf-8"))["departments"]


def department_name(code: Optional[str]) -> str:
    return _citizen_departments().get(code or "", code or "")


def program_named(text: Optional[str]) -> Optional[str]:
    """The program whose name the text says, the longest name first (低保边缘家庭 is not 低保)."""
    names = sorted(vocabulary()["programs"].items(), key=lambda kv: -len(kv[1]))
    return next((code for code, name in names if name in (text or "")), None)


def need_of(parse_data: Optional[dict]) -> Optional[str]:
    """The program the need classifier read in a message (bot/components/need_classifier.py),
    or None when it was unsure: a person routes the request then."""
    need = (parse_data or {}).get("need") or {}
    program = need.get("program")
    return program if program in vocabulary()["programs"] else None


# A need is told (and offered a request) when the need classifier reads it this surely
# (department accuracy above it on held-out texts: bench_needs) in a message long enough to
# describe something, not a word or two.
OFFER_MIN_CONFIDENCE = 0.6
OFFER_MIN_CHARS = 8


ROUTING = Path(__file__).resolve().parents[1] / "referral" / "routing.yml"  # program -> department


@lru_cache(maxsize=1)
def department_of() -> Dict[str, str]:
    """Each program's owner department, as the referral routing has it (referral/routing.yml)."""
    programs = yaml.safe_load(ROUTING.read_text(encoding="utf-8"))["programs"]
    return {code: entry["department"] for code, entry in programs.items()}


def offerable_department(parse_data: Optional[dict]) -> Optional[str]:
    """The department a hardship told belongs to when the classifier hesitates between programs
    of one department (低保, 特困 or 临时救助 for 家里揭不开锅了: all civil affairs): their
    confidences added reach the offer's, in a message long enough to describe something."""
    if len(cjk((parse_data or {}).get("text"))) < OFFER_MIN_CHARS:
        return None
    totals: Dict[str, float] = {}
    for entry in ((parse_data or {}).get("need") or {}).get("ranking") or []:
        department = department_of().get(entry.get("program"))
        if department:
            totals[department] = totals.get(department, 0.0) + float(entry.get("confidence") or 0)
    best = max(totals.items(), key=lambda kv: kv[1], default=(None, 0.0))
    return best[0] if best[1] >= OFFER_MIN_CONFIDENCE else None


def cjk(text: Optional[str]) -> str:
    """The Chinese characters of a text (its length without spaces, digits, punctuation)."""
    return re.sub(r"[^\u4e00-\u9fa5]", "", text or "")


def offerable_need(parse_data: Optional[dict]) -> Optional[str]:
    """The program of a hardship the citizen described (孩子学费凑不齐, 老伴住院钱不够) when NLU
    could not place the message: a description long enough and a need read with confidence."""
    text = cjk((parse_data or {}).get("text"))
    need = (parse_data or {}).get("need") or {}
    if len(text) < OFFER_MIN_CHARS or float(need.get("confidence") or 0) < OFFER_MIN_CONFIDENCE:
        return None
    return need_of(parse_data)


def sounds_urgent(text: str) -> bool:
    return any(w in (text or "") for w in vocabulary()["urgent_keywords"])
