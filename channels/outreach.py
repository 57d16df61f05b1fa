"""Outreach messages (referral/outreach.py writes them) handed to the outbound path, where the
citizen's choices and the clock are kept: nothing to a citizen who unsubscribed (WeChat) or
opted out (退订), no SMS in quiet hours (they wait until the morning), at most a daily cap per
citizen (the rest wait for the next day). What became of each is kept on its row and audited."""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta

from sqlalchemy import func, select

from channels.models import Conversation
from channels.outbound import Outbound
from channels.phones import citizen_number, e164
from channels.sms import opted_out
from channels.wechat import notice_templates
from hotline.db import utcnow
from referral import domain
from referral.models import AuditEntry, Outreach
from referral.workdays import CHINA

log = logging.getLogger(__name__)


def quiet_hours() -> tuple[time, time]:
    start, end = domain.sla_policies()["outreach_quiet_hours"]["value"]
    return time.fromisoformat(start), time.fromisoformat(end)


def daily_cap() -> int:
    return int(domain.sla_policies()["outreach_daily_cap"]["value"])


def quiet_until(now: datetime) -> datetime | None:
    """The end of the quiet hours `now` falls in (None: not quiet)."""
    start, end = quiet_hours()
    local = now.astimezone(CHINA)
    if local.time() >= start:
        return datetime.combine(local.date() + timedelta(days=1), end, CHINA)
    if local.time() < end:
        return datetime.combine(local.date(), end, CHINA)
    return None


def _by_sms(conv: Conversation, settings, kind: str, now: datetime) -> bool:
    """Whether the message will go by SMS: an SMS or phone citizen, or a WeChat one the 48-hour
    window no longer reaches and no subscription notice can carry it."""
    if conv.channel in ("sms", "voice"):
        return True
    if conv.channel != "wechat":
        return False
    window = settings.channels.wechat_window_h * 3600
    if conv.last_inbound_at and (now - conv.last_inbound_at).total_seconds() < window:
        return False
    return not (settings.channels.wechat_subscribe_template and kind in notice_templates()["notices"])


async def screen_opted_out(sf, row) -> bool:
    """Whether the citizen of a kept screen opted out: unsubscribed on WeChat, 退订 by SMS."""
    if row.conversation_id is not None:
        async with sf() as s:
            conv = await s.get(Conversation, row.conversation_id)
        if conv is not None and conv.unsubscribed_at is not None:
            return True
        phone = conv and citizen_number(conv)
    else:
        phone = None
    phone = e164(row.phone or phone)
    return bool(phone) and await opted_out(sf, phone) is not None


async def _conversation(outbound: Outbound, o: Outreach) -> Conversation | None:
    conv_id = o.conversation_id
    if conv_id is None and e164(o.phone):
        conv_id = await outbound.conversation_for("sms", e164(o.phone), e164(o.phone))
    if conv_id is None:
        return None
    async with outbound.sf() as s:
        return await s.get(Conversation, conv_id)


async def _handed_today(outbound: Outbound, conv_id: int, now: datetime) -> int:
    local = now.astimezone(CHINA)
    day_start = datetime.combine(local.date(), time(0), CHINA)
    async with outbound.sf() as s:
        return await s.scalar(select(func.count()).select_from(Outreach).where(
            Outreach.conversation_id == conv_id, Outreach.status == "handed",
            Outreach.handed_at >= day_start))


async def _decide(outbound: Outbound, o: Outreach, now: datetime):
    """(status, detail, not_before, conversation id) for one pending outreach message."""
    conv = await _conversation(outbound, o)
    if conv is None:
        return "failed", "没有可用的联系渠道（无会话、无手机号）", None, None
    if conv.unsubscribed_at is not None:
        why = "群众已取消关注公众号" if conv.channel == "wechat" else "群众已退订短信"
        return "suppressed", why, None, conv.id
    by_sms = _by_sms(conv, outbound.settings, o.kind, now)
    phone = e164(o.phone if o.phone and conv.channel not in ("sms", "voice") else citizen_number(conv))
    if phone and await opted_out(outbound.sf, phone) is not None and (by_sms or conv.channel == "web"):
        return "suppressed", "群众已退订短信", None, conv.id
    if by_sms and (later := quiet_until(now)) is not None:
        return "pending", "夜间不发短信，早上再发", later, conv.id
    if await _handed_today(outbound, conv.id, now) >= daily_cap():
        tomorrow = now.astimezone(CHINA).date() + timedelta(days=1)
        return "pending", f"今日已发{daily_cap()}条，明天再发", datetime.combine(
            tomorrow, quiet_hours()[1], CHINA), conv.id
    return "handed", None, None, conv.id


async def relay(outbound: Outbound, now: datetime | None = None, limit: int = 50) -> dict[str, int]:
    """Hand the outreach messages now due to the outbound path (once each: the message's
    dedupe key is the outreach row)."""
    now = now or utcnow()
    async with outbound.sf() as s:
        due = list(await s.scalars(select(Outreach).where(
            Outreach.status == "pending", Outreach.not_before <= now).order_by(Outreach.id).limit(limit)))
    counts: dict[str, int] = {}
    for o in due:
        status, detail, later, conv_id = await _decide(outbound, o, now)
        message_id = None
        if status == "handed":
            msg = await outbound.send(conv_id, o.text, "system", dedupe_key=f"outreach:{o.id}",
                                      phone=o.phone, payload={"notice": o.kind, "params": o.params,
                                                              "outreach_id": o.id})
            message_id = msg.id
        async with outbound.sf() as s, s.begin():
            row = await s.get(Outreach, o.id)
            row.status, row.detail, row.conversation_id = status, detail, conv_id or row.conversation_id
            if later is not None:
                row.not_before = later
            if status == "handed":
                row.message_id, row.handed_at = message_id, now
            if status != "pending":  # a deferral is not an outreach yet
                s.add(AuditEntry(actor="system:outreach", action=f"outreach_{status}"[:32],
                                 ticket_id=o.ticket_id, created_at=now,
                                 detail={"reason": o.reason_key, "kind": o.kind, "detail": detail}))
        key = status if status != "pending" else "deferred"
        counts[key] = counts.get(key, 0) + 1
    return counts
