"""主动发现 (referral/outreach.py, channels/outreach.py): reminders before a benefit ends, once
per reason; a raised standard offering to re-apply to exactly the households whose result it
changes (with their consent, none to those who opted out); and what the platform writes first
kept to the citizen's choices and the clock: no SMS 21:00–08:00, a daily cap, 退订 and WeChat
unsubscribes respected, every outreach recorded and audited."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import select, update

from channels import outreach as channel_outreach
from channels.models import Conversation
from channels.phones import e164
from hotline.db import utcnow
from referral import outreach, service
from referral.access import Viewer
from referral.models import AuditEntry, Outreach, Rescreen, Screen, Ticket
from referral.workdays import CHINA, add_working_days
from rules.eligibility import screen
from rules.openfisca_hotline import tax_benefit_system
from rules.region_parameters import region_parameters
from rules.regions import regions
from tests.services.channels.conftest import new_phone, post_twilio, sms

CLERK = Viewer("li_minzheng", "staff", "civil_affairs")


def china(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), CHINA)


def tomorrow() -> date:
    return utcnow().astimezone(CHINA).date() + timedelta(days=1)


async def sms_ticket(ctx, phone: str) -> Ticket:
    body, _ = await service.create_referral(ctx.sessions, service.NewReferral(
        program="dibao", region="430200", citizen_name="刘桂芬", citizen_phone=phone,
        description=f"就业后收入超过低保标准 {uuid.uuid4().hex[:6]}", channel="sms"), None, "test")
    async with ctx.sessions() as s:
        return await s.scalar(select(Ticket).where(Ticket.reference_no == body["reference_no"]))


async def rows(ctx, **where) -> list[Outreach]:
    async with ctx.sessions() as s:
        stmt = select(Outreach).order_by(Outreach.id)
        for k, v in where.items():
            stmt = stmt.where(getattr(Outreach, k) == v)
        return list(await s.scalars(stmt))


async def test_a_reminder_before_the_phase_out_ends_is_sent_once(app):
    ctx, twilio = app["ctx"], app["twilio"]
    phone = new_phone()
    t = await sms_ticket(ctx, phone)
    ends = (add_working_days(china(tomorrow(), 10), 30)).date()
    page = await service.set_dates(ctx.sessions, CLERK, t.reference_no, "phase_out", ends.isoformat())
    assert page["benefit_ends_on"] == ends.isoformat() and page["events"][-1]["kind"] == "dates"
    with pytest.raises(service.ValidationError):  # a date already past reminds nobody
        await service.set_dates(ctx.sessions, CLERK, t.reference_no, "review", "2020-01-01")
    with pytest.raises(service.ValidationError):
        await service.set_dates(ctx.sessions, CLERK, t.reference_no, "holiday", ends.isoformat())

    far = china(tomorrow(), 10)  # 30 working days before: too early
    await outreach.plan_reminders(ctx.sessions, far)
    assert await rows(ctx, ticket_id=t.id) == []
    lead = outreach.reminder_lead_days()
    due = china(outreach._lead_start(ends, lead), 10)
    for _ in range(3):  # every sweep from the lead day on: queued once
        await outreach.plan_reminders(ctx.sessions, due)
        await outreach.plan_reminders(ctx.sessions, due + timedelta(days=2))
    queued = await rows(ctx, ticket_id=t.id)
    assert [o.kind for o in queued] == ["reminder_phase_out"]
    assert f"{ends.month}月{ends.day}日" in queued[0].text and t.case.reference_no in queued[0].text

    before = len(twilio.sent)
    for _ in range(2):
        await channel_outreach.relay(ctx.outbound, due)
    await ctx.outbound.drain()
    sent = [m for m in twilio.sent[before:] if m["To"] == phone]
    assert len(sent) == 1 and "渐退期" in sent[0]["Body"]
    async with ctx.sessions() as s:
        audit = list(await s.scalars(select(AuditEntry).where(
            AuditEntry.ticket_id == t.id, AuditEntry.action == "outreach_handed")))
    assert len(audit) == 1 and audit[0].detail["reason"] == queued[0].reason_key

    # The clerk moves the date: the new date is a new reason, reminded once again.
    later = ends + timedelta(days=14)
    await service.set_dates(ctx.sessions, CLERK, t.reference_no, "phase_out", later.isoformat())
    await outreach.plan_reminders(ctx.sessions, china(outreach._lead_start(later, lead), 10))
    assert [o.reason_key.rsplit(":", 1)[1] for o in await rows(ctx, ticket_id=t.id)] == [
        ends.isoformat(), later.isoformat()]


async def test_no_sms_in_the_quiet_hours_and_no_more_than_the_daily_cap(app):
    ctx, twilio = app["ctx"], app["twilio"]
    phone = new_phone()
    t = await sms_ticket(ctx, phone)
    day = tomorrow() + timedelta(days=3)
    evening = china(day, 21, 30)
    async with ctx.sessions() as s, s.begin():
        for n in range(3):
            await outreach.queue(s, f"test:{t.id}:{n}", "reminder_review", evening - timedelta(hours=1),
                                 ticket_id=t.id, channel="sms", phone=phone,
                                 params={"reference_no": t.reference_no, "date": "1月5日",
                                         "department_name": "民政部门"})
    before = len(twilio.sent)
    await channel_outreach.relay(ctx.outbound, evening)
    waiting = await rows(ctx, ticket_id=t.id)
    assert {o.status for o in waiting} == {"pending"}
    assert {o.not_before for o in waiting} == {china(day + timedelta(days=1), 8)}
    await channel_outreach.relay(ctx.outbound, china(day + timedelta(days=1), 7, 59))  # still night
    assert len([m for m in twilio.sent[before:] if m["To"] == phone]) == 0

    morning = china(day + timedelta(days=1), 8, 5)
    await channel_outreach.relay(ctx.outbound, morning)
    await ctx.outbound.drain()
    after = await rows(ctx, ticket_id=t.id)
    cap = channel_outreach.daily_cap()
    assert [o.status for o in after].count("handed") == cap == 2
    assert after[-1].status == "pending" and after[-1].not_before == china(day + timedelta(days=2), 8)
    assert len([m for m in twilio.sent[before:] if m["To"] == phone]) == cap
    await channel_outreach.relay(ctx.outbound, china(day + timedelta(days=2), 9))
    assert [o.status for o in await rows(ctx, ticket_id=t.id)] == ["handed"] * 3


async def test_citizens_who_opted_out_or_unsubscribed_get_nothing(app):
    ctx, twilio = app["ctx"], app["twilio"]
    stopped = new_phone()
    await post_twilio(app["http"], "/channels/sms/twilio", sms("退订", stopped))
    t = await sms_ticket(ctx, stopped)
    oid = f"o{uuid.uuid4().hex[:27]}"
    wechat_conv = await ctx.outbound.conversation_for("wechat", oid)
    async with ctx.sessions() as s, s.begin():
        await s.execute(update(Conversation).where(Conversation.id == wechat_conv)
                        .values(unsubscribed_at=utcnow()))
        for key, conv, phone in (("sms", None, stopped), ("wechat", wechat_conv, None)):
            await outreach.queue(s, f"test:optout:{t.id}:{key}", "reminder_review", utcnow(),
                                 ticket_id=t.id, channel=key, conversation_id=conv, phone=phone,
                                 params={"reference_no": t.reference_no, "date": "1月5日",
                                         "department_name": "民政部门"})
    before = len(twilio.sent)
    await channel_outreach.relay(ctx.outbound, china(tomorrow(), 10))
    done = await rows(ctx, ticket_id=t.id)
    assert [(o.status, o.detail) for o in done] == [("suppressed", "群众已退订短信"),
                                                  ("suppressed", "群众已取消关注公众号")]
    assert not [m for m in twilio.sent[before:] if m["To"] == stopped]


@pytest.fixture
def raised_standard():
    """430200's urban 低保 standard raised from 700 to 800 from the first of next month, as an
    operator adds a dated value to the parameter file (restored afterwards)."""
    node = tax_benefit_system().parameters.regions.children[regions()["430200"]["parameters"]]
    param = node.dibao.standard_urban_monthly
    kept = list(param.values_list)
    today = utcnow().astimezone(CHINA).date()
    first = (today.replace(day=28) + timedelta(days=4)).replace(day=1)
    param.update(start=first.isoformat(), value=800)
    region_parameters.cache_clear()
    yield first
    param.values_list = kept
    region_parameters.cache_clear()


def household(income: int) -> dict:
    return {"region": "430200", "area": "urban",
            "household": {"members": [{"age": 58, "can_work": False, "monthly_income": income}],
                          "financial_assets": 0, "has_capable_supporter": True}}


async def test_a_raised_standard_offers_re_applying_to_exactly_the_households_it_changes(
        app, raised_standard):
    ctx, twilio, http = app["ctx"], app["twilio"], app["http"]
    first = raised_standard
    phones = {name: new_phone() for name in ("now_eligible", "already", "opted_out", "no_consent", "above")}
    await post_twilio(http, "/channels/sms/twilio", sms("退订", phones["opted_out"]))
    kept = {}
    for name, income, consent in (("now_eligible", 750, True), ("already", 300, True),
                                  ("opted_out", 750, True), ("no_consent", 750, False),
                                  ("above", 1000, True)):
        r = await http.post("/api/eligibility/screen", json={
            **household(income), "contact": {"phone": phones[name], "channel": "sms"},
            "consent_to_contact": consent})
        assert r.status_code == 200, r.text
        kept[name] = r.json()["screen_id"]
    anonymous = await http.post("/api/eligibility/screen", json=household(750))
    assert "screen_id" not in anonymous.json()  # not tied to anyone: not kept
    async with ctx.sessions() as s:
        row = await s.get(Screen, kept["now_eligible"])
    assert row.statuses["dibao"] == "not_eligible" and row.consent_at is not None
    assert "contact" not in row.request and row.phone == phones["now_eligible"]

    async def run(request):
        return screen(request)

    async def opted_out(screen_row):
        return await channel_outreach.screen_opted_out(ctx.sessions, screen_row)

    day_before = china(first - timedelta(days=1), 10)
    assert [r for r in await outreach.due_rescreens(ctx.sessions, run, opted_out, day_before)
            if r["region"] == "430200" and r["as_of"] == first.isoformat()] == []
    results = await outreach.due_rescreens(ctx.sessions, run, opted_out, china(first, 10))
    done = next(r for r in results if r["region"] == "430200" and r["as_of"] == first.isoformat())
    ours = {e["screen_id"]: e for e in done["changed"] if e["screen_id"] in kept.values()}
    name_of = {v: k for k, v in kept.items()}
    listed = {name_of[i]: e for i, e in ours.items()}
    assert set(listed) == {"now_eligible", "already", "opted_out", "no_consent"}  # "above": unchanged
    assert {n for n, e in listed.items() if e["offered"]} == {"now_eligible"}
    assert listed["opted_out"]["not_offered"] == "opted_out"
    assert listed["no_consent"]["not_offered"] == "no_consent"
    assert "not_offered" not in listed["already"]  # it was hopeful before: nothing to offer
    assert {c["program"]: (c["before"], c["after"]) for c in listed["now_eligible"]["changes"]}[
        "dibao"] == ("not_eligible", "possibly_eligible")
    # Done once per region and date: a restarted worker does not offer again.
    assert not [r for r in await outreach.due_rescreens(ctx.sessions, run, opted_out, china(first, 11))
                if r["region"] == "430200"]
    async with ctx.sessions() as s:
        assert await s.scalar(select(Rescreen).where(Rescreen.region == "430200",
                                                     Rescreen.as_of == first)) is not None
    offers = [o for o in await rows(ctx, kind="rescreen_offer") if o.screen_id in kept.values()]
    assert [o.screen_id for o in offers] == [kept["now_eligible"]]

    before = len(twilio.sent)
    await channel_outreach.relay(ctx.outbound, china(first, 10))
    await ctx.outbound.drain()
    got = {m["To"] for m in twilio.sent[before:]} & {e164(p) for p in phones.values()}
    assert got == {e164(phones["now_eligible"])}
    body = next(m["Body"] for m in twilio.sent[before:] if m["To"] == e164(phones["now_eligible"]))
    assert "株洲" in body and "低保" in body and f"{first.year}年{first.month}月1日" in body


async def test_a_wechat_citizen_inside_the_window_is_written_to_on_wechat_even_at_night(app):
    """Quiet hours are for SMS: a WeChat citizen who wrote within 48 hours gets the message as a
    customer-service message, at 22:00 as at noon; one the window no longer reaches (and no
    subscription template) would get an SMS, so that one waits for the morning."""
    from tests.services.channels.conftest import post_wechat, wechat_text

    ctx, wechat = app["ctx"], app["wechat"]
    near, far = f"o{uuid.uuid4().hex[:27]}", f"o{uuid.uuid4().hex[:27]}"
    for oid in (near, far):
        await post_wechat(app["http"], wechat_text(oid, "你好"))
    async with ctx.sessions() as s, s.begin():
        convs = {oid: await s.scalar(select(Conversation).where(Conversation.contact_id == oid))
                 for oid in (near, far)}
        convs[far].last_inbound_at = utcnow() - timedelta(hours=49)
        convs[far].phone = new_phone()
        for oid, conv in convs.items():
            await outreach.queue(s, f"test:wechat:{oid}", "reminder_review", utcnow(), channel="wechat",
                                 conversation_id=conv.id,
                                 params={"reference_no": "12349-20261207-0001-123", "date": "1月5日",
                                         "department_name": "民政部门"})
    night = utcnow().astimezone(CHINA).replace(hour=22, minute=0)
    if night < utcnow():
        night += timedelta(days=1)
    before = len(wechat.sent)
    await channel_outreach.relay(ctx.outbound, night)
    await ctx.outbound.drain()
    by = {o.reason_key.rsplit(":", 1)[1]: o for o in await rows(ctx, kind="reminder_review")
          if o.reason_key.startswith("test:wechat:")}
    assert by[near].status == "handed" and by[far].status == "pending"
    assert by[far].not_before.astimezone(CHINA).hour == 8
    assert [m["touser"] for m in wechat.sent[before:]] == [near]


def test_every_wechat_notice_fills_from_the_notice_s_own_placeholders():
    import re as _re

    from channels.wechat import notice_templates
    from referral.service import _notification_texts

    texts = _notification_texts()
    for kind, fields in notice_templates()["notices"].items():
        told = set(_re.findall(r"{(\w+)}", texts[kind]))
        wanted = {p for v in fields.values() for p in _re.findall(r"{(\w+)}", v)}
        assert wanted <= told, (kind, wanted - told)


async def test_the_bot_keeps_a_screen_by_its_sender_only_when_asked(app):
    """The bot's 提醒我 sends the household with its Rasa sender (channel:contact): the screen is
    kept with the conversation and the consent; a contact that is not an object is refused."""
    ctx, http = app["ctx"], app["http"]
    phone = new_phone()
    await post_twilio(http, "/channels/sms/twilio", sms("你好", phone))
    r = await http.post("/api/eligibility/screen", json={
        **household(750), "contact": {"sender": f"sms:{phone}"}, "consent_to_contact": True})
    assert r.status_code == 200, r.text
    async with ctx.sessions() as s:
        row = await s.get(Screen, r.json()["screen_id"])
        conv = await s.scalar(select(Conversation).where(Conversation.contact_id == phone))
    assert row.conversation_id == conv.id and row.channel == "sms" and row.consent_at is not None
    unknown = await http.post("/api/eligibility/screen", json={
        **household(750), "contact": {"sender": "sms:+8613000000000"}})
    assert "screen_id" not in unknown.json()  # nobody to tell: not kept
    bad = await http.post("/api/eligibility/screen", json={**household(750), "contact": "13800001234"})
    assert bad.status_code == 422 and "contact" in bad.json()["error"]["message"]
