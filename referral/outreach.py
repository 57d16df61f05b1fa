"""主动发现 (无锡 23, 株洲 二(一)): the platform writes first, and only where it may.

- Reminders: before a 渐退期 or a temporary benefit ends and before a review (复核), the
  citizen is reminded on their channel, once per reason (a reason is the referral, the kind of
  date and the date itself: moving the date reminds again, a second sweep does not).
- Re-screening: when a region's dated parameter takes effect (a new 低保 standard), the screens
  of the last year are run again as of that day; the households whose result changed are
  listed, and those who agreed at the screen to be told (and have not opted out) are offered to
  re-apply, once.
- Complaint outcomes (referral/complaints.py) go the same way.

This module writes `outreach` rows only; channels/outreach.py hands them to the outbound path,
where opt-outs, quiet hours (no SMS 21:00–08:00) and a daily cap per citizen are kept.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.db import upsert_insert, utcnow
from referral import domain
from referral.domain import REMINDER_KINDS
from referral.models import Outreach, Rescreen, Screen, Ticket
from referral.service import _case_texts, _notification_texts
from referral.workdays import CHINA, is_working_day

HOPEFUL = ("likely_eligible", "possibly_eligible")


def reminder_lead_days() -> int:
    return int(domain.sla_policies()["reminder_lead"]["value"])


async def queue(s: AsyncSession, reason_key: str, kind: str, now: datetime, *, params: dict,
                channel: str | None = None, conversation_id: int | None = None,
                phone: str | None = None, **ids) -> bool:
    """One outreach message for a reason, in the caller's transaction; a reason already queued
    (whatever became of it) queues nothing. Returns whether it was new."""
    text = _notification_texts()[kind].format(**params)
    res = await s.execute(upsert_insert(s)(Outreach).values(
        reason_key=reason_key, kind=kind, channel=channel, conversation_id=conversation_id,
        phone=phone, params=params, text=text, status="pending", not_before=now,
        created_at=now, **ids).on_conflict_do_nothing())
    return bool(res.rowcount)


# --- reminders ----------------------------------------------------------------------------------

def _lead_start(day: date, lead: int) -> date:
    """The working day `lead` working days before `day`."""
    while lead > 0:
        day -= timedelta(days=1)
        if is_working_day(day):
            lead -= 1
    return day


async def plan_reminders(sf: async_sessionmaker, now: datetime) -> int:
    """Queue the reminders now due (from `reminder_lead` working days before the date until the
    date), once per referral, kind and date. A referral closed or redacted is not reminded."""
    today = now.astimezone(CHINA).date()
    horizon = today + timedelta(days=3 * reminder_lead_days() + 30)  # covers any run of holidays
    queued = 0
    async with sf() as s, s.begin():
        rows = list(await s.scalars(select(Ticket).where(
            Ticket.redacted_at.is_(None),
            or_(and_(Ticket.benefit_ends_on.is_not(None), Ticket.benefit_ends_on >= today,
                     Ticket.benefit_ends_on <= horizon),
                and_(Ticket.review_on.is_not(None), Ticket.review_on >= today,
                     Ticket.review_on <= horizon)))))
        for t in rows:
            for kind, day in ((t.benefit_kind, t.benefit_ends_on), ("review", t.review_on)):
                if day is None or kind not in REMINDER_KINDS or not today >= _lead_start(
                        day, reminder_lead_days()) or day < today:
                    continue
                conv = int(t.conversation_id) if (t.conversation_id or "").isdigit() else None
                queued += await queue(
                    s, f"reminder:{t.id}:{kind}:{day.isoformat()}", f"reminder_{kind}", now,
                    ticket_id=t.id, channel=t.channel, conversation_id=conv, phone=t.citizen_phone,
                    params={"reference_no": t.case.reference_no, "date": f"{day.month}月{day.day}日",
                            "department_name": domain.department_name(t.department)})
    return queued


# --- re-screening when a standard changes ---------------------------------------------------

async def keep_screen(sf: async_sessionmaker, request: dict, result: dict, contact: dict,
                      consent: bool) -> int:
    """A screen tied to a citizen (their channel or phone), kept for re-screening."""
    now = utcnow()
    conv = contact.get("conversation_id")
    async with sf() as s, s.begin():
        row = Screen(region=result["region"], request=request,
                     statuses={p["program"]: p["status"] for p in result["programs"]},
                     as_of=date.fromisoformat(result["as_of"]), consent_at=now if consent else None,
                     channel=contact.get("channel"), phone=contact.get("phone"),
                     conversation_id=int(conv) if str(conv or "").isdigit() else None,
                     created_at=now)
        s.add(row)
        await s.flush()
        return row.id


def changed_programs(before: dict, after: dict) -> list[dict]:
    return [{"program": p, "before": before.get(p), "after": status}
            for p, status in after.items() if before.get(p) != status]


async def rescreen(sf: async_sessionmaker, region: str, as_of: date, screen, opted_out,
                   now: datetime | None = None) -> dict | None:
    """Run the region's screens of the year before `as_of` again as of that day. Done once per
    region and date (None when it was done before). `await screen(request)` is the rules'
    screen; `await opted_out(screen_row)` says whether the citizen opted out of messages."""
    now = now or utcnow()
    async with sf() as s, s.begin():
        done = await s.execute(upsert_insert(s)(Rescreen).values(
            region=region, as_of=as_of, changed=[], created_at=now).on_conflict_do_nothing())
        if not done.rowcount:
            return None
        rows = list(await s.scalars(select(Screen).where(
            Screen.region == region, Screen.as_of < as_of,
            Screen.as_of >= as_of - timedelta(days=365)).order_by(Screen.id)))
    listed, offered = [], 0
    for row in rows:
        result = await screen({**row.request, "as_of": as_of.isoformat()})
        after = {p["program"]: p["status"] for p in result["programs"]}
        changes = changed_programs(row.statuses, after)
        if not changes:
            continue
        hopeful = [c["program"] for c in changes
                   if c["after"] in HOPEFUL and c["before"] not in HOPEFUL]
        entry = {"screen_id": row.id, "changes": changes, "offered": False}
        if hopeful and row.consent_at is not None and not await opted_out(row):
            entry["offered"] = await _offer(sf, row, as_of, hopeful[0], now)
            offered += entry["offered"]
        elif hopeful:
            entry["not_offered"] = "no_consent" if row.consent_at is None else "opted_out"
        listed.append(entry)
    async with sf() as s, s.begin():
        r = await s.scalar(select(Rescreen).where(Rescreen.region == region, Rescreen.as_of == as_of))
        r.changed = listed
    return {"region": region, "as_of": as_of.isoformat(), "screens": len(rows),
            "changed": listed, "offered": offered}


async def _offer(sf, row: Screen, as_of: date, program: str, now: datetime) -> bool:
    from rules.regions import regions

    async with sf() as s, s.begin():
        return await queue(
            s, f"rescreen:{row.id}:{as_of.isoformat()}", "rescreen_offer", now, screen_id=row.id,
            channel=row.channel, conversation_id=row.conversation_id, phone=row.phone,
            params={"region_name": regions().get(row.region, {}).get("name", row.region),
                    "program_name": _case_texts()["programs"].get(program, program),
                    "date": f"{as_of.year}年{as_of.month}月{as_of.day}日"})


def parameter_dates(region: str) -> set[date]:
    """The days on which one of the region's parameters takes a new value."""
    from rules.openfisca_hotline import tax_benefit_system
    from rules.region_parameters import parameter_leaves
    from rules.regions import regions

    node = tax_benefit_system().parameters.regions.children[regions()[region]["parameters"]]
    return {date.fromisoformat(v.instant_str) for _, p in parameter_leaves(node) for v in p.values_list}


async def due_rescreens(sf, screen, opted_out, now: datetime, within_days: int = 30) -> list[dict]:
    """Re-screen every region whose parameter took a new value in the last `within_days` days
    (each region and date once: a worker restarted later still runs it)."""
    from rules.regions import region_codes

    today = now.astimezone(CHINA).date()
    out = []
    for region in sorted(region_codes()):
        since = today - timedelta(days=within_days)
        for day in sorted(d for d in parameter_dates(region) if since < d <= today):
            done = await rescreen(sf, region, day, screen, opted_out, now)
            if done is not None:
                out.append(done)
    return out


