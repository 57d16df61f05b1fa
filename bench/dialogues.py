"""Scripted conversations from the citizen's side, run against the whole stack through
POST /channels/web/messages with the real Rasa (bench/conversations/*.yml; bench_conversations
runs them all, tests/services/test_e2e_conversations.py a few in `make test`).

A dialogue says what the citizen opens with, what they answer when the bot asks (a cue word of
the bot's question -> the answer), digressions and corrections said at a given point, and what
they came for: a ticket (its program, name, phone, 乡镇/街道), an answer (words it must contain),
a person (handoff) or the state of their ticket. The runner answers whatever the bot asks, in
the order it asks (a citizen who came to file a request says 好 帮我登记 when offered to be
registered, unless the dialogue says otherwise); it fails a dialogue the bot gets stuck in (a
question the citizen has no answer for), traps (the same question a third time), files the
wrong ticket (it stops there: the citizen has been told a reference number) or ends without
the goal.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml
from sqlalchemy import select

from channels.models import Conversation
from referral.models import Ticket
from referral.units import seeded

HERE = Path(__file__).with_name("conversations")
REFERENCE = re.compile(r"12349-\d{8}-\d{4}(?:-\d{3})?")
STATUS_REFERENCE, STATUS_PHONE = "12349-20261122-0001", "13800001234"  # the status dialogues' ticket
MAX_REPLY_CHARS, SMS_CHARS = 140, 70
TAKE_THE_OFFER = "好 帮我登记"  # the answer to 要我帮您登记吗 of a citizen who came to file a request


def load(names: list[str] | None = None) -> list[dict]:
    """Every dialogue (or those named), each with the file it came from."""
    out = []
    for path in sorted(HERE.glob("*.yml")):
        for d in yaml.safe_load(path.read_text(encoding="utf-8")):
            if names is None or d["name"] in names:
                out.append({**d, "file": path.stem})
    return out


@dataclass
class Outcome:
    name: str
    file: str
    success: bool
    why: str = ""
    turns: list[tuple[str, str]] = field(default_factory=list)  # (citizen, bot)

    @property
    def reply_lengths(self) -> list[int]:
        return [len(part) for _, bot in self.turns for part in bot.split("\n") if part]


def _cue(cues: dict, question: str) -> str | None:
    """The answer key whose cue words appear in the bot's question: its last sentence first
    (好的，我来帮您登记求助。请问您怎么称呼？ asks the name, not to register)."""
    sentences = [x for x in re.split(r"(?<=[。！？?!])", question) if x.strip()]
    for part in (sentences[-1:] or [question]) + [question]:
        for key in cues:
            if any(word and word in part for word in str(key).split("|")):
                return key
    return None


async def _ticket(sessions, ref: str) -> Ticket | None:
    async with sessions() as s:
        return await s.scalar(select(Ticket).where(Ticket.reference_no == ref))


async def _goal_met(d: dict, sessions, sender: str, said: list[str]) -> tuple[bool, str]:
    goal = d["goal"]
    text = "\n".join(said)
    if "answer" in goal:
        words = goal["answer"] if isinstance(goal["answer"], list) else [goal["answer"]]
        return any(all(w in reply for w in words) for reply in said), f"no reply with all of {words}"
    if goal.get("handoff"):
        async with sessions() as s:
            status = await s.scalar(select(Conversation.status).where(
                Conversation.channel == "web", Conversation.contact_id == sender))
        return status in ("pending", "open"), f"conversation is {status}"
    if goal.get("status"):
        return STATUS_REFERENCE in said[-1] and "没有查到" not in said[-1], "no status given"
    want = goal.get("ticket") or {}
    found = REFERENCE.search(text)
    if not found:
        return False, "no ticket filed"
    t = await _ticket(sessions, found.group(0))
    wrong = []
    if want.get("program") and t.program != want["program"]:
        wrong.append(f"program {t.program} (wanted {want['program']})")
    if want.get("name") and t.citizen_name != want["name"]:
        wrong.append(f"name {t.citizen_name!r} (wanted {want['name']!r})")
    if want.get("phone") and re.sub(r"\D", "", t.citizen_phone) != str(want["phone"]):
        wrong.append(f"phone {t.citizen_phone} (wanted {want['phone']})")
    if want.get("street_unit"):
        unit = t.unit_code or (seeded().match(t.region, t.street).unit or None)
        code = unit if isinstance(unit, str) or unit is None else unit.code
        if code != str(want["street_unit"]):
            wrong.append(f"street {t.street!r} -> {code} (wanted {want['street_unit']})")
    return not wrong, "; ".join(wrong)


async def run(http: httpx.AsyncClient, sessions, d: dict) -> Outcome:
    sender = f"suite-{uuid.uuid4().hex[:10]}"
    metadata = {"region": str(d["region"])} if d.get("region") else {}
    outcome = Outcome(d["name"], d.get("file", ""), False)
    said: list[str] = []

    async def say(text: str) -> str:
        r = await http.post("/channels/web/messages", json={
            "sender": sender, "text": str(text), "message_id": str(uuid.uuid4()), "metadata": metadata})
        replies = [x.get("text") for x in r.json().get("replies", []) if x.get("text")]
        said.append("\n".join(replies))
        outcome.turns.append((str(text), said[-1]))
        return replies[-1] if replies else ""

    question = await say(d["opening"])
    interjects = {int(i["after"]): i for i in d.get("interject") or []}
    asked, replies_seen = Counter(), 1
    for _ in range(int(d.get("max_turns", 12))):
        met, why = await _goal_met(d, sessions, sender, said)
        if met:
            outcome.success = True
            return outcome
        if "ticket" in d["goal"] and REFERENCE.search("\n".join(said)):
            outcome.why = f"wrong ticket: {why}"
            return outcome
        if replies_seen in interjects:
            line = interjects.pop(replies_seen)
            question = await say(line["say"])
            replies_seen += 1
            if line.get("expect") and not any(w in said[-1] for w in line["expect"]):
                outcome.why = f"did not answer 「{line['say']}」: {said[-1][:80]}"
                return outcome
            continue
        answers = d.get("answers") or {}
        if "ticket" in d["goal"] and not any("登记" in str(k) for k in answers):
            answers = {**answers, "登记": TAKE_THE_OFFER}  # one who came to file accepts the offer
        key = _cue(answers, question) or _cue(answers, said[-1])
        if key is None:
            outcome.why = f"stuck after: {said[-1][:100]} ({why})"
            return outcome
        asked[key] += 1
        if asked[key] > 2:
            outcome.why = f"trapped: asked {key} a third time"
            return outcome
        question = await say(answers[key])
        replies_seen += 1
    met, why = await _goal_met(d, sessions, sender, said)
    outcome.success, outcome.why = met, "" if met else f"out of turns: {why}"
    return outcome


async def prepare(sessions) -> None:
    """The ticket the status dialogues ask about (filed before, as the citizen says)."""
    from referral import service

    if await _ticket(sessions, STATUS_REFERENCE) is not None:
        return
    req = service.NewReferral(program="dibao", region="341503", citizen_name="孙秀英",
                              citizen_phone=STATUS_PHONE, description="老伴瘫痪，没有收入", channel="web")
    body, _ = await service.create_referral(sessions, req, None, "suite")
    async with sessions() as s, s.begin():
        t = await s.scalar(select(Ticket).where(Ticket.reference_no == body["reference_no"]))
        t.reference_no = STATUS_REFERENCE
