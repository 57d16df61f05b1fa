"""一门受理: the referrals a household's description and its eligibility screen propose.

A family tells several hardships at once ("老伴住院花了好几万，孙子的学费也交不起"). The need
classifier (bot/components/need_classifier.py) reads one need per text, so the description is
cut into its clauses (at punctuation, at the words that join one hardship to the next, and, for
a speech recogniser's run-on text, into overlapping spans), every clause is read, and each need
read with confidence becomes a proposal. A clause also proposes the program of a word that
tells a department's need outright (住院, 学费, 漏雨, 下岗, 瘫 …: referral/needs_cues.yml), which
the classifier, one need a clause, ranks low when the clause tells two ("老伴住院孩子学费都没着落")
or says it indirectly ("老头子瘫在床上" reads as 养老 first). A department counts too when its
programs together reach the cut though none alone does: "家底掏空了" splits the classifier
between 低保, 支出型困难 and 临时救助, all civil affairs, and the case is that department's all
the same. The screen adds every program it found likely or possible. Nothing here files
anything: the citizen or the agent confirms.

The cut-offs and the cue words were set on conversations held by hand and on development sets
(bench/multineed_dev*.yml, looked at while tuning); the held-out sets
(tests/services/data/multineed_*.yml) are only measured (bench/bench_multineed.py).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from functools import cache
from typing import NamedTuple

import yaml

from hotline.settings import ROOT
from referral import domain

# A clause's need counts when the classifier is this sure of it; a span cut out of a run-on
# sentence (it may start or end mid-word) needs more. The whole text's need keeps the
# classifier's own cut-off: it is what a single referral would get.
CLAUSE_MIN_CONFIDENCE = 0.5
SPAN_MIN_CONFIDENCE = 0.6
# One clause may tell two needs at once (摔断了腿住院要交押金包工头还欠着工钱): a clause's
# second-ranked need counts too when the classifier gives it this much. Chosen on a development
# set of two and three single-need held-out descriptions joined as citizens join them
# (tests/services/data/needs_heldout.yml, which tunes nothing else), then measured once on the
# reserve set (now tests/services/data/multineed_heldout_c.yml); spans never propose a second.
CLAUSE_SECOND_MIN_CONFIDENCE = 0.3
SCREEN_STATUSES = ("likely_eligible", "possibly_eligible")
MIN_CLAUSE_CHARS = 4      # shorter pieces (还有, 他爸) join the clause before them
SPAN_CHARS, SPAN_STEP = 12, 6   # a clause longer than a span (run-on text) is also read span by span
MAX_PIECES = 12           # at most this many reads per description


@cache
def _joiners() -> re.Pattern:
    words = yaml.safe_load((ROOT / "referral/needs_cues.yml").read_text(encoding="utf-8"))["joiners"]
    return re.compile("|".join(sorted(map(re.escape, words), key=len, reverse=True)))


@cache
def _cues() -> list[tuple[str, re.Pattern]]:
    doc = yaml.safe_load((ROOT / "referral/needs_cues.yml").read_text(encoding="utf-8"))["cues"]
    return [(program, re.compile("|".join(map(re.escape, words)))) for program, words in doc.items()]


_PUNCT = re.compile(r"[，,。.；;！!？?、\n\r\t…~～]+|\s{1,}")


def clauses(text: str) -> list[str]:
    """The description's clauses: cut at punctuation and joining words (还有, 而且, 另外 …);
    a piece too short to tell a need is kept with the one before it."""
    pieces: list[str] = []
    for part in _PUNCT.split(text):
        pieces.extend(p for p in _joiners().split(part) if p)
    merged: list[str] = []
    for p in (p.strip() for p in pieces):
        if not p:
            continue
        if merged and (len(p) < MIN_CLAUSE_CHARS or len(merged[-1]) < MIN_CLAUSE_CHARS):
            merged[-1] += p
        else:
            merged.append(p)
    return merged


class Cut(NamedTuple):
    """The confidence a piece's first need must reach, and its second (None: not read)."""
    first: float
    second: float | None = None


CLAUSE_CUT = Cut(CLAUSE_MIN_CONFIDENCE, CLAUSE_SECOND_MIN_CONFIDENCE)
SPAN_CUT = Cut(SPAN_MIN_CONFIDENCE)


def pieces(text: str) -> dict[str, Cut]:
    """What is read, each with the confidence its needs must reach: each clause, and a clause
    longer than a span (a recogniser's run-on sentence) also in overlapping spans."""
    out: dict[str, Cut] = {}
    for c in clauses(text):
        out.setdefault(c, CLAUSE_CUT)
        if len(c) > SPAN_CHARS:
            for i in range(0, len(c) - SPAN_STEP, SPAN_STEP):
                out.setdefault(c[i:i + SPAN_CHARS], SPAN_CUT)
    return dict(list(out.items())[:MAX_PIECES])


def _proposal(program: str, source: str, confidence: float | None = None, **extra) -> dict:
    department = domain.department_for(program)
    return {"program": program, "department": department,
            "department_name": domain.department_name(department), "source": source,
            "confidence": None if confidence is None else round(confidence, 4), **extra}


def _ranked(need: dict) -> list[tuple[str | None, float]]:
    """(program, confidence) of a read, best first: its ranking, else its one program."""
    ranking = [(r.get("program"), float(r.get("confidence") or 0)) for r in need.get("ranking") or []
               if isinstance(r, dict)]
    return ranking or [(need.get("program"), float(need.get("confidence") or 0))]


def from_reads(whole: dict, reads: dict[str, tuple[dict, Cut]]) -> list[dict]:
    """Proposals from the classifier's reads: the whole text's need first (what one referral
    would get), then each piece's needs read with the confidence its kind asks, in the order
    told; then each department a read's programs reach together at its first cut (the whole
    text's at a clause's), by its likeliest program. `reads`: piece -> (need, cut)."""
    found: dict[str, dict] = {}
    if whole.get("program") in domain.PROGRAMS:
        found[whole["program"]] = _proposal(whole["program"], "description",
                                            whole.get("confidence"), clause=None)
    for piece, (need, cut) in reads.items():
        for (program, confidence), minimum in zip(_ranked(need), (cut.first, cut.second), strict=False):
            if minimum is None or confidence < minimum:
                break
            if program in domain.PROGRAMS and program not in found:
                found[program] = _proposal(program, "description", confidence, clause=piece)
    departments = {p["department"] for p in found.values()}
    for piece, (need, cut) in [(None, (whole, CLAUSE_CUT)), *reads.items()]:
        for department, (mass, program) in _by_department(need).items():
            if mass >= cut.first and department not in departments:
                departments.add(department)
                found[program] = _proposal(program, "description", mass, clause=piece,
                                           by_department=True)
    return list(found.values())


def _by_department(need: dict) -> dict[str, tuple[float, str]]:
    """department -> (its programs' confidences added, its likeliest program) of a read."""
    out: dict[str, tuple[float, str]] = {}
    for program, confidence in _ranked(need):
        if program in domain.PROGRAMS:
            department = domain.department_for(program)
            mass, best = out.get(department, (0.0, program))
            out[department] = (mass + confidence, best)
    return out


def from_cues(text: str, found: list[dict]) -> list[dict]:
    """`found` and, for each clause holding a cue word of a department not yet proposed, that
    cue's program (referral/needs_cues.yml `cues`), in the order told."""
    departments = {p["department"] for p in found}
    out = list(found)
    for clause in clauses(text):
        for program, words in _cues():
            hit = words.search(clause)
            if hit and domain.department_for(program) not in departments:
                departments.add(domain.department_for(program))
                out.append(_proposal(program, "description", clause=clause, cue=hit.group(0)))
    return out


def from_screen(screen: dict | None) -> list[dict]:
    """Every program the eligibility screen found likely or possible."""
    out = []
    for p in (screen or {}).get("programs") or []:
        if isinstance(p, dict) and p.get("program") in domain.PROGRAMS \
                and p.get("status") in SCREEN_STATUSES:
            out.append(_proposal(p["program"], "screen", status=p["status"]))
    return out


async def propose(text: str, read: Callable[[str], Awaitable[dict]],
                  screen: dict | None = None) -> list[dict]:
    """The proposed referrals, one per program: the description's, then the screen's.
    `read(text)` is the classifier's need for a text ({"program", "confidence"})."""
    text = (text or "").strip()
    proposals = []
    if text:
        parts = {p: m for p, m in pieces(text).items() if p != text}
        whole, *needs = await asyncio.gather(read(text), *(read(p) for p in parts))
        reads = {p: (need, parts[p]) for p, need in zip(parts, needs, strict=True)}
        proposals = from_cues(text, from_reads(whole, reads))
    for p in from_screen(screen):
        known = next((q for q in proposals if q["program"] == p["program"]), None)
        if known is None:
            proposals.append(p)
        else:
            known["screen_status"] = p["status"]
    return proposals
