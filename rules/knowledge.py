"""Policy knowledge base: what the bot and the agents answer about each program, by region.

The answers are data, one file per program in rules/knowledge/<program>.yml:

    program: dibao
    name: 最低生活保障（低保）
    answers:
      <aspect>:                     # one of ASPECTS
        default: <answer>           # required: region-independent, true in every region
        "<region code>": <answer>   # optional: what that region's own document says
    <answer> = {short, long, citations: [{document, clause, quote}], verified}

`short` is read by a citizen by SMS (at most SHORT_MAX_SENTENCES sentences and
SHORT_MAX_CHARS characters); `long` is read by a hotline agent. Each citation names a file of
../shared/policy_docs/, the clause in that document's own numbering written with ASCII
parentheses ("三(二)5" = section 三, part (二), item 5; "文首" = the header before section 一),
and a verbatim `quote` of that clause so a reviewer can find it. `verified: false` marks an
answer the documents do not settle for that place: it says so and points the citizen to the
乡镇（街道） office or the 12349 hotline; an operator should complete it from the local rules.

lookup() falls back from the region's answer to the default one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from referral.domain import PROGRAMS
from rules.regions import regions

KNOWLEDGE_DIR = Path(__file__).with_name("knowledge")
ASPECTS = ("条件", "标准", "金额", "材料", "流程", "时限", "部门")
DEFAULT_REGION = "default"
SHORT_MAX_CHARS = 120
SHORT_MAX_SENTENCES = 3

_SENTENCE_END = re.compile(r"[。！？!?]")


class KnowledgeError(ValueError):
    """The knowledge files break the rules above; the message lists every problem."""


@dataclass(frozen=True)
class Citation:
    document: str
    clause: str
    quote: str

    def as_dict(self) -> dict:
        return {"document": self.document, "clause": self.clause}


@dataclass(frozen=True)
class Answer:
    program: str
    aspect: str
    region: str
    short: str
    long: str
    citations: tuple[Citation, ...]
    verified: bool

    def as_dict(self) -> dict:
        return {
            "program": self.program,
            "aspect": self.aspect,
            "region": self.region,
            "short": self.short,
            "long": self.long,
            "citations": [c.as_dict() for c in self.citations],
            "verified": self.verified,
        }


@dataclass(frozen=True)
class Program:
    code: str
    name: str
    answers: dict[tuple[str, str], Answer]  # (aspect, region) -> answer


def sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text) if s.strip()]


def char_count(text: str) -> int:
    return len("".join(text.split()))


def policy_documents() -> frozenset[str]:
    return frozenset(r["document"] for r in regions().values())


def load(directory: Path = KNOWLEDGE_DIR) -> dict[str, Program]:
    """Read and validate every program file; raise KnowledgeError listing all problems."""
    problems: list[str] = []
    programs: dict[str, Program] = {}
    for code in PROGRAMS:
        path = directory / f"{code}.yml"
        if not path.is_file():
            problems.append(f"{path.name}: missing")
            continue
        program = _program(path, code, problems)
        if program is not None:
            programs[code] = program
    strays = sorted(p.name for p in directory.glob("*.yml") if p.stem not in PROGRAMS)
    problems += [f"{name}: not a program code (ARCHITECTURE.md §4.1)" for name in strays]
    if problems:
        raise KnowledgeError("policy knowledge base is invalid:\n  " + "\n  ".join(problems))
    return programs


def _program(path: Path, code: str, problems: list[str]) -> Program | None:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        problems.append(f"{path.name}: not valid YAML: {exc}")
        return None
    if not isinstance(data, dict) or data.get("program") != code or not data.get("name"):
        problems.append(f"{path.name}: needs `program: {code}`, `name` and `answers`")
        return None
    answers: dict[tuple[str, str], Answer] = {}
    by_aspect = data.get("answers") or {}
    for aspect in by_aspect:
        if aspect not in ASPECTS:
            problems.append(f"{path.name}: unknown aspect {aspect!r}; aspects are {', '.join(ASPECTS)}")
    for aspect in ASPECTS:
        by_region = {str(k): v for k, v in (by_aspect.get(aspect) or {}).items()}
        if DEFAULT_REGION not in by_region:
            problems.append(f"{path.name}: {aspect}: no `default` answer")
        for region, raw in by_region.items():
            where = f"{path.name}: {aspect}/{region}"
            if region != DEFAULT_REGION and region not in regions():
                problems.append(f"{where}: not a seeded region code")
                continue
            answer = _answer(code, aspect, region, raw, where, problems)
            if answer is not None:
                answers[(aspect, region)] = answer
    return Program(code=code, name=str(data["name"]), answers=answers)


def _answer(program: str, aspect: str, region: str, raw, where: str, problems: list[str]) -> Answer | None:
    if not isinstance(raw, dict):
        problems.append(f"{where}: must be a mapping with short, long, citations, verified")
        return None
    short, long_ = raw.get("short"), raw.get("long")
    found = len(problems)
    if not isinstance(short, str) or not short.strip() or not isinstance(long_, str) or not long_.strip():
        problems.append(f"{where}: `short` and `long` must be non-empty text")
    elif char_count(short) > SHORT_MAX_CHARS or len(sentences(short)) > SHORT_MAX_SENTENCES:
        problems.append(
            f"{where}: short answer has {char_count(short)} characters and {len(sentences(short))} "
            f"sentences (at most {SHORT_MAX_CHARS} and {SHORT_MAX_SENTENCES})"
        )
    if not isinstance(raw.get("verified"), bool):
        problems.append(f"{where}: `verified` must be true or false")
    citations = []
    for c in raw.get("citations") or []:
        if not isinstance(c, dict) or not all(isinstance(c.get(k), str) and c[k] for k in
                                              ("document", "clause", "quote")):
            problems.append(f"{where}: each citation needs document, clause and quote")
        elif c["document"] not in policy_documents():
            problems.append(f"{where}: unknown document {c['document']!r}")
        else:
            citations.append(Citation(c["document"], c["clause"], c["quote"]))
    if not raw.get("citations"):
        problems.append(f"{where}: needs at least one citation")
    if len(problems) > found:
        return None
    # Chinese needs no spaces: drop those that YAML line folding puts between lines.
    return Answer(program, aspect, region, "".join(short.split()), "".join(long_.split()),
                  tuple(citations), raw["verified"])


@cache
def knowledge() -> dict[str, Program]:
    """The validated knowledge base, read once per process."""
    return load()


def lookup(program: str, aspect: str, region: str | None = None) -> dict | None:
    """The answer for program × aspect in region, else the default one; None if unknown.

    Returns {program, aspect, region (the region whose answer was used, or "default"), short,
    long, citations: [{document, clause}], verified}."""
    p = knowledge().get(program)
    if p is None:
        return None
    answer = p.answers.get((aspect, region or DEFAULT_REGION)) or p.answers.get((aspect, DEFAULT_REGION))
    return answer.as_dict() if answer else None


def program_name(program: str) -> str | None:
    p = knowledge().get(program)
    return p.name if p else None
