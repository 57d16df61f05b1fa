"""The agents' desk (坐席工作台), the use cases: the waiting queue, taking a conversation over,
replying on the citizen's channel, private notes, canned replies, handing back to the bot or
resolving, the call-back ticket for a conversation nobody took, and the supervisor's figures.
No web code here (console/desk.py is the pages); every function takes a `Viewer`.

A conversation is held by one person at a time. Every change of its state is a guarded update
(channels.states): claiming (pending, or a live `bot` conversation an agent takes over, -> open
with its assignee), so of two agents claiming at once exactly one wins and the other is told who
holds it; releasing, transferring, handing back and resolving only by who holds it (or a
supervisor). While it is `open` the gateway sends the bot nothing, and a reply the bot was
still thinking about when the agent claimed it is dropped. Every view of a transcript, claim,
message, transfer and hand-back goes to the audit log.
"""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select

from channels import events
from channels.gateway import texts
from channels.models import WITH_A_PERSON, CannedReply, Conversation, ConversationNote, Message
from channels.phones import citizen_number, national
from channels.states import move_conversation
from hotline.db import utcnow
from hotline.privacy import mask_phone, mask_text
from hotline.settings import ALWAYS
from referral import domain
from referral import service as referral
from referral.access import Viewer
from referral.workdays import CHINA, add_working_hours

LIVE_WITHIN = timedelta(hours=24)  # a `bot` conversation an agent may open from the search
ONLINE_TTL_S = 45  # an agent's desk page refreshes its presence more often than this


class DeskError(Exception):
    def __init__(self, code: str, message: str, **details):
        super().__init__(message)
        self.code, self.details = code, details


class HeldBy(DeskError):
    def __init__(self, holder: str | None, status: str):
        super().__init__("held", f"该会话已由 {holder} 接手" if holder else "该会话已不在等待人工",
                         holder=holder, conversation_status=status)


def masked_contact(conv: Conversation) -> str:
    """How the desk names a citizen in lists: 138****1234, or the end of a WeChat openid."""
    number = citizen_number(conv)
    if number:
        return mask_phone(national(number) or number)
    return f"…{conv.contact_id[-4:]}"


def row(conv: Conversation, now: datetime) -> dict:
    handoff = (conv.meta or {}).get("handoff") or {}
    program = handoff.get("program")
    return {
        "id": conv.id, "channel": conv.channel, "status": conv.status, "priority": conv.priority,
        "reason": conv.handoff_reason, "summary": conv.handoff_summary or "",
        "contact": masked_contact(conv), "assignee": conv.assignee,
        "region": handoff.get("region") or (conv.meta or {}).get("region"),
        "program": program,
        "department": domain.department_for(program) if program in domain.PROGRAMS else None,
        "urgent": conv.priority >= 1, "crisis": conv.priority >= 2,
        "pending_since": conv.pending_since.isoformat() if conv.pending_since else None,
        "pending_since_ms": int(conv.pending_since.timestamp() * 1000) if conv.pending_since else None,
        "waiting_s": int((now - conv.pending_since).total_seconds())
        if conv.pending_since and conv.status == "pending" else None,
        "last_activity_at": conv.last_activity_at.isoformat(),
    }


# --- the queue and the search --------------------------------------------------------------------

async def waiting(sf) -> list[dict]:
    """Every pending conversation: crisis first, then urgency, then who has waited longest."""
    now = utcnow()
    async with sf() as s:
        rows = await s.scalars(select(Conversation).where(Conversation.status == "pending")
                               .order_by(Conversation.priority.desc(), Conversation.pending_since,
                                         Conversation.id).limit(200))
        return [row(c, now) for c in rows]


async def held_by(sf, viewer: Viewer) -> list[dict]:
    now = utcnow()
    async with sf() as s:
        rows = await s.scalars(select(Conversation).where(Conversation.status == "open",
                                                          Conversation.assignee == viewer.username)
                               .order_by(Conversation.last_activity_at.desc()))
        return [row(c, now) for c in rows]


async def search(sf, q: str | None) -> list[dict]:
    """Live conversations the bot holds, to open and take over: by reference number (the
    conversation it was filed from), by the last 4 digits of the phone, or the most recent."""
    now = utcnow()
    conds = [Conversation.status.in_(("bot", "pending", "open")),
             Conversation.last_activity_at >= now - LIVE_WITHIN]
    q = (q or "").strip()
    if q.startswith("12349-"):
        tickets = await referral.tickets_by_reference(sf, q)
        conds.append(Conversation.id.in_([int(t) for t in tickets if t and t.isdigit()] or [-1]))
    elif q.isdigit() and len(q) == 4:
        conds.append(or_(Conversation.contact_id.like(f"%{q}"), Conversation.phone.like(f"%{q}")))
    elif q:
        return []
    async with sf() as s:
        rows = await s.scalars(select(Conversation).where(*conds)
                               .order_by(Conversation.last_activity_at.desc()).limit(50))
        return [row(c, now) for c in rows]


# --- one conversation ------------------------------------------------------------------------------

async def conversation(s, conv_id: int) -> Conversation:
    conv = await s.get(Conversation, conv_id)
    if conv is None:
        raise DeskError("not_found", "conversation not found")
    return conv


async def one(sf, conv_id: int) -> dict | None:
    async with sf() as s:
        conv = await s.get(Conversation, conv_id)
        return row(conv, utcnow()) if conv else None


async def may_read(sf, viewer: Viewer, conv_id: int) -> bool:
    """Agents read every conversation; a clerk the one a ticket of theirs was filed from."""
    return viewer.on_desk or await referral.conversation_ticket_visible(sf, viewer, conv_id)


def _message(m: Message) -> dict:
    return {"id": m.id, "direction": m.direction, "author": m.author, "channel": m.channel,
            "state": m.state, "text": m.text, "detail": m.detail,
            "agent": (m.payload or {}).get("agent"), "at": m.created_at.isoformat()}


async def messages_after(sf, conv_id: int, after: int = 0) -> list[dict]:
    """The transcript a person reads: what the citizen, the bot, agents and the system said
    (the bot's signals left out)."""
    async with sf() as s:
        rows = await s.scalars(select(Message).where(
            Message.conversation_id == conv_id, Message.id > after, Message.state != "internal")
            .order_by(Message.id).limit(500))
        return [_message(m) for m in rows]


async def delivery_states(sf, conv_id: int, ids: list[int]) -> list[dict]:
    async with sf() as s:
        rows = await s.scalars(select(Message).where(Message.conversation_id == conv_id,
                                                     Message.id.in_(ids or [-1])))
        return [_message(m) for m in rows]


async def transcript(sf, viewer: Viewer, conv_id: int, ip: str | None = None) -> dict:
    """The whole conversation, for a person: audited as a view of personal data. A clerk who
    came through a ticket of theirs reads what the citizen and the platform said, and of the
    citizen's tickets only those referral.access lets them see; agents' notes are the desk's."""
    if not await may_read(sf, viewer, conv_id):
        raise DeskError("not_found", "conversation not found")
    async with sf() as s:
        conv = await conversation(s, conv_id)
        notes = [] if not viewer.on_desk else [
            {"id": n.id, "author": n.author, "text": n.text, "at": n.created_at.isoformat()}
            for n in await s.scalars(select(ConversationNote).where(
                ConversationNote.conversation_id == conv_id).order_by(ConversationNote.id))]
        screened = await _latest_screen(s, conv_id)
        view = {**row(conv, utcnow()), "contact_id": conv.contact_id, "phone": conv.phone,
                "sender": conv.sender_key}
    await referral.record_audit(sf, viewer.actor, "conversation_view",
                                {"conversation_id": conv_id, "channel": conv.channel}, ip)
    tickets = await referral.tickets_of_conversation(sf, conv_id, conv.phone or conv.contact_id,
                                                     None if viewer.on_desk else viewer)
    return {"conversation": view, "messages": await messages_after(sf, conv_id), "notes": notes,
            "eligibility": screened, "tickets": tickets}


async def _latest_screen(s, conv_id: int) -> dict | None:
    """The eligibility screen the bot ran in this conversation, if it did (its signal)."""
    rows = await s.scalars(select(Message.payload).where(
        Message.conversation_id == conv_id, Message.direction == "out", Message.author == "bot",
        Message.text == "").order_by(Message.id.desc()).limit(50))
    for payload in rows:
        custom = (payload or {}).get("custom")
        if isinstance(custom, dict) and "eligibility" in custom:
            return custom["eligibility"]
    return None


def _must_hold(conv: Conversation, viewer: Viewer) -> None:
    if conv.status != "open" or conv.assignee != viewer.username:
        raise HeldBy(conv.assignee, conv.status)


def holds(conv: Conversation, viewer: Viewer) -> bool:
    return conv.status == "open" and conv.assignee == viewer.username


async def claim(sf, redis, viewer: Viewer, conv_id: int, ip: str | None = None) -> dict:
    """Take the conversation: from the waiting queue (its handoff stays what it was: why, since
    when, how urgent), or a live one the bot holds (a new episode: taken over now, nothing of an
    earlier handoff). Exactly one of several agents claiming at once gets it; the others learn
    who did."""
    now = utcnow()
    async with sf() as s, s.begin():
        got = await move_conversation(s, conv_id, "pending", "open", assignee=viewer.username,
                                      claimed_at=now)
        got = got or await move_conversation(
            s, conv_id, "bot", "open", assignee=viewer.username, claimed_at=now, pending_since=now,
            handoff_reason="taken_over", handoff_summary=None, priority=0,
            first_agent_reply_at=None, waiting_told_at=None)
        conv = await conversation(s, conv_id)
        await s.refresh(conv)
        if not got:
            if holds(conv, viewer):
                return row(conv, now)  # a double click
            raise HeldBy(conv.assignee, conv.status)
        view = row(conv, now)
    await referral.record_audit(sf, viewer.actor, "conversation_claim", {"conversation_id": conv_id}, ip)
    await events.publish(redis, "conversation", conv_id, status="open", assignee=viewer.username)
    return view


async def release(sf, redis, viewer: Viewer, conv_id: int, ip: str | None = None) -> dict:
    """Back to the waiting queue (the agent cannot go on with it): the wait for the next agent
    starts now, not when the citizen first asked (else a conversation held longer than the
    claim timeout would become a call-back ticket at once)."""
    return await _move(sf, redis, viewer, conv_id, "release", ip, to_status="pending",
                       assignee=None, claimed_at=None, pending_since=utcnow())


async def transfer(sf, redis, viewer: Viewer, conv_id: int, to: str, ip: str | None = None) -> dict:
    from console import users  # the console owns accounts

    target = await users.by_username(sf, to)
    if target is None or not target.active or not users.viewer_of(target).on_desk:
        raise DeskError("invalid", f"{to} 不是可接手会话的坐席", field="to")
    return await _move(sf, redis, viewer, conv_id, "transfer", ip, to_status="open", to=to,
                       assignee=to, claimed_at=utcnow())


def _holder(viewer: Viewer) -> list:
    """Who may move an open conversation on: its assignee, or any supervisor."""
    return [] if viewer.role == "supervisor" else [Conversation.assignee == viewer.username]


async def _move(sf, redis, viewer: Viewer, conv_id: int, action: str, ip, to_status: str,
                to: str | None = None, **values) -> dict:
    now = utcnow()
    async with sf() as s, s.begin():
        moved = await move_conversation(s, conv_id, "open", to_status, *_holder(viewer), **values)
        conv = await conversation(s, conv_id)
        await s.refresh(conv)
        if not moved:
            raise HeldBy(conv.assignee, conv.status)
        view = row(conv, now)
    await referral.record_audit(sf, viewer.actor, f"conversation_{action}",
                                {"conversation_id": conv_id, **({"to": to} if to else {})}, ip)
    await events.publish(redis, "conversation", conv_id, status=view["status"], assignee=view["assignee"])
    return view


async def reply(sf, outbound, viewer: Viewer, conv_id: int, text: str, ip: str | None = None) -> dict:
    """The agent's message, on the citizen's own channel through the outbound path."""
    text = (text or "").strip()
    if not text:
        raise DeskError("invalid", "请输入回复内容", field="text")
    if len(text) > 1000:
        raise DeskError("invalid", "回复不能超过1000字", field="text")
    async with sf() as s, s.begin():
        conv = await conversation(s, conv_id)
        _must_hold(conv, viewer)
        if conv.channel == "voice":
            raise DeskError("voice", "电话会话请在电话中与来电人交谈")
        if conv.first_agent_reply_at is None:
            conv.first_agent_reply_at = utcnow()
    msg = await outbound.send(conv_id, text, "agent", payload={"agent": viewer.username})
    await referral.record_audit(sf, viewer.actor, "conversation_message",
                                {"conversation_id": conv_id, "message_id": msg.id}, ip)
    return _message(msg)


async def note(sf, redis, viewer: Viewer, conv_id: int, text: str, ip: str | None = None) -> dict:
    text = (text or "").strip()
    if not text or len(text) > 2000:
        raise DeskError("invalid", "备注为1–2000字", field="text")
    async with sf() as s, s.begin():
        conv = await conversation(s, conv_id)
        if not viewer.on_desk:
            raise HeldBy(conv.assignee, conv.status)
        n = ConversationNote(conversation_id=conv_id, author=viewer.username, text=text,
                             created_at=utcnow())
        s.add(n)
        await s.flush()
        view = {"id": n.id, "author": n.author, "text": n.text, "at": n.created_at.isoformat()}
    await referral.record_audit(sf, viewer.actor, "conversation_note", {"conversation_id": conv_id}, ip)
    await events.publish(redis, "note", conv_id, note_id=view["id"])
    return view


async def _end(sf, outbound, viewer: Viewer, conv_id: int, status: str, told: str, action: str,
               ip: str | None) -> dict:
    now = utcnow()
    # A supervisor may end a conversation still waiting in the queue too.
    held = WITH_A_PERSON if viewer.role == "supervisor" else "open"
    async with sf() as s, s.begin():
        moved = await move_conversation(s, conv_id, held, status, *_holder(viewer), assignee=None,
                                        priority=0)
        conv = await conversation(s, conv_id)
        await s.refresh(conv)
        if not moved:
            raise HeldBy(conv.assignee, conv.status)
        view = row(conv, now)
    if conv.channel != "voice":
        await outbound.send(conv_id, told, "system")
    await referral.record_audit(sf, viewer.actor, f"conversation_{action}",
                                {"conversation_id": conv_id}, ip)
    await events.publish(outbound.redis, "conversation", conv_id, status=status)
    return view


async def hand_back(sf, outbound, viewer: Viewer, conv_id: int, ip: str | None = None) -> dict:
    """To the bot again: it remembers what it knew (the tracker was left as it was)."""
    return await _end(sf, outbound, viewer, conv_id, "bot", texts()["desk"]["handed_back"],
                      "hand_back", ip)


async def resolve(sf, outbound, viewer: Viewer, conv_id: int, ip: str | None = None) -> dict:
    return await _end(sf, outbound, viewer, conv_id, "resolved", texts()["desk"]["resolved"],
                      "resolve", ip)


# --- canned replies --------------------------------------------------------------------------------

async def canned(sf) -> list[dict]:
    async with sf() as s:
        rows = await s.scalars(select(CannedReply).order_by(CannedReply.code))
        return [{"code": c.code, "text": c.text, "updated_by": c.updated_by} for c in rows]


async def save_canned(sf, viewer: Viewer, code: str, text: str) -> None:
    code, text = (code or "").strip(), (text or "").strip()
    if not code or len(code) > 32 or not text or len(text) > 1000:
        raise DeskError("invalid", "简码1–32字，内容1–1000字", field="code")
    async with sf() as s, s.begin():
        row_ = await s.get(CannedReply, code)
        if row_ is None:
            s.add(CannedReply(code=code, text=text, updated_by=viewer.username, updated_at=utcnow()))
        else:
            row_.text, row_.updated_by, row_.updated_at = text, viewer.username, utcnow()
    await referral.record_audit(sf, viewer.actor, "canned_reply_save", {"code": code})


async def delete_canned(sf, viewer: Viewer, code: str) -> None:
    async with sf() as s, s.begin():
        row_ = await s.get(CannedReply, code)
        if row_ is not None:
            await s.delete(row_)
    await referral.record_audit(sf, viewer.actor, "canned_reply_delete", {"code": code})


# --- nobody came ---------------------------------------------------------------------------------

def claim_deadline(pending_since: datetime, minutes: float, hours) -> datetime:
    """When a pending conversation has waited too long, counting only agent hours (the
    settings' spans, hotline.hours)."""
    if hours == ALWAYS:
        return pending_since + timedelta(minutes=minutes)
    return add_working_hours(pending_since, minutes / 60, list(hours))


async def call_back_unclaimed(sf, outbound, settings, now: datetime | None = None) -> int:
    """A conversation nobody claimed in DESK_CLAIM_TIMEOUT_MIN of agent hours: the citizen is
    told, and a call-back ticket goes to civil affairs with the transcript linked."""
    now = now or utcnow()
    minutes, hours = settings.desk_claim_timeout_min, settings.channels.agent_hours
    async with sf() as s:
        pending = list(await s.scalars(select(Conversation).where(
            Conversation.status == "pending", Conversation.pending_since.is_not(None))))
    done = 0
    for conv in pending:
        if claim_deadline(conv.pending_since, minutes, hours) > now:
            continue
        async with sf() as s, s.begin():  # one process does it: the status flips once
            if not await move_conversation(s, conv.id, "pending", "resolved",
                                           Conversation.pending_since == conv.pending_since,
                                           priority=0):
                continue
        ref = await _file_call_back(sf, conv, minutes)
        await _list_call_back(sf, conv, ref, now)
        told = texts()["desk"]["call_back"].format(reference_no=ref) if ref else \
            texts()["desk"]["call_back_no_number"]
        await outbound.send(conv.id, told, "system")
        await events.publish(outbound.redis, "conversation", conv.id, status="resolved",
                             call_back=ref)
        done += 1
    return done


async def _list_call_back(sf, conv: Conversation, ref: str | None, now: datetime) -> None:
    """The agents' call-back list (console/outreach.py) holds it too, once per handoff."""
    async with sf() as s, s.begin():
        await referral.add_call_back(
            s, f"handoff:{conv.id}:{conv.pending_since.isoformat()}", "unclaimed_handoff", now,
            conversation_id=conv.id, phone=_call_back_number(conv),
            reason=texts()["desk"]["call_back_reason"].format(
                reason=conv.handoff_reason or "", reference_no=ref or "",
                summary=mask_text(conv.handoff_summary or "")[:200]))


def _call_back_number(conv: Conversation) -> str | None:
    return national(citizen_number(conv)) or conv.phone


async def _file_call_back(sf, conv: Conversation, minutes: float) -> str | None:
    phone = _call_back_number(conv)
    if not phone:
        return None
    handoff = (conv.meta or {}).get("handoff") or {}
    program = handoff.get("program")
    if program not in domain.PROGRAMS or domain.department_for(program) != "civil_affairs":
        program = "temporary"  # the catch-all of the documents, owned by civil affairs
    region = handoff.get("region") or (conv.meta or {}).get("region")
    from rules.regions import region_codes

    if region not in region_codes():
        region = next(iter(sorted(region_codes())))
    description = texts()["desk"]["call_back_ticket"].format(
        channel=conv.channel, minutes=int(minutes), summary=mask_text(conv.handoff_summary or ""))
    body, _ = await referral.create_referral(
        sf, referral.NewReferral(program=program, region=region, citizen_name="（未留姓名）",
                                 citizen_phone=phone, description=description, channel=conv.channel,
                                 conversation_id=str(conv.id)),
        f"desk:call_back:{conv.id}:{conv.pending_since.isoformat()}", actor="system:desk")
    return body["reference_no"]


# --- the supervisor's view -----------------------------------------------------------------------

async def mark_online(redis, viewer: Viewer) -> None:
    await redis.set(f"desk:online:{viewer.username}", viewer.role, ex=ONLINE_TTL_S)


async def figures(sf, redis) -> dict:
    """Agents online, conversations waiting and the longest wait, the median time from a
    handoff to the first agent reply today."""
    now = utcnow()
    online = sorted([k.split(":", 2)[2] async for k in redis.scan_iter("desk:online:*")])
    start = now.astimezone(CHINA).replace(hour=0, minute=0, second=0, microsecond=0)
    async with sf() as s:
        waits = [now - t for t in await s.scalars(select(Conversation.pending_since).where(
            Conversation.status == "pending"))]
        firsts = (await s.execute(select(Conversation.pending_since, Conversation.first_agent_reply_at)
                                  .where(Conversation.first_agent_reply_at >= start))).all()
        held = await s.scalar(select(func.count()).select_from(Conversation).where(
            Conversation.status == "open"))
    to_first = [(b - a).total_seconds() for a, b in firsts if a and b]
    return {"agents_online": online, "waiting": len(waits), "open": held,
            "longest_wait_s": int(max(waits).total_seconds()) if waits else 0,
            "median_first_reply_s": int(statistics.median(to_first)) if to_first else None,
            "first_replies_today": len(to_first)}
