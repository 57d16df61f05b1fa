"""一门受理、协同办理: a household asks once. One case, a referral per department and program,
one number for the citizen; each department sees and clears its own; the lookup tells each
referral's status; the case closes when every referral is done and the citizen is told once,
with each outcome, on their channel. 救急难 tiers (裕安 四(三)2) and 先行救助 (吉林 12/15, 无锡 17)
give a referral its level and its own deadline."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from referral import service
from referral.access import Viewer
from referral.models import Case, OutboxMessage, SlaEvent, Ticket
from referral.workdays import add_calendar_days, add_working_days
from tests.services.channels.conftest import new_phone
from tests.services.channels.test_notices import relay

MEDICAL = Viewer("wang_yibao", "staff", "medical")
EDUCATION = Viewer("zhao_jiaoyu", "staff", "education")
CIVIL = Viewer("li_minzheng", "staff", "civil_affairs")


def household(phone: str, **over) -> dict:
    return {"region": "430200", "channel": "sms", "citizen": {"name": "周建国", "phone": phone},
            "description": "老伴尿毒症每周透析，医保报完还差好几千；孙子读初三，学费交不上",
            **over}


async def file_case(http, phone: str, referrals: list[dict], key: str | None = None, **over):
    r = await http.post("/api/cases", json={**household(phone, **over), "referrals": referrals},
                        headers={"Idempotency-Key": key or f"case-{uuid.uuid4().hex}"})
    assert r.status_code in (200, 201), r.text
    return r


async def tickets_of(ctx, case_ref: str) -> list[Ticket]:
    async with ctx.sessions() as s:
        case = await s.scalar(select(Case).where(Case.reference_no == case_ref))
        return list(await s.scalars(select(Ticket).where(Ticket.case_id == case.id).order_by(Ticket.id)))


async def case_notices(ctx, tickets: list[Ticket]) -> list[OutboxMessage]:
    async with ctx.sessions() as s:
        return list(await s.scalars(select(OutboxMessage).where(
            OutboxMessage.ticket_id.in_([t.id for t in tickets])).order_by(OutboxMessage.id)))


async def test_one_case_two_departments_each_clears_its_own_and_the_citizen_is_told_once(app):
    ctx, http = app["ctx"], app["http"]
    phone = new_phone()
    r = await file_case(http, phone, [{"program": "medical"}, {"program": "education"}])
    assert r.status_code == 201
    body = r.json()
    ref = body["reference_no"]
    assert [x["department"] for x in body["referrals"]] == ["medical", "education"]
    medical, education = await tickets_of(ctx, ref)
    assert medical.reference_no == ref and education.reference_no != ref  # one number to tell
    assert (medical.department, education.department) == ("medical", "education")
    assert medical.resolution_due and education.resolution_due  # each its own clock

    # Each clerk's queue holds their own referral only.
    mine, _ = await service.list_tickets(ctx.sessions, MEDICAL, q=phone[-4:])
    assert [t["reference_no"] for t in mine] == [medical.reference_no]
    mine, _ = await service.list_tickets(ctx.sessions, EDUCATION, q=phone[-4:])
    assert [t["reference_no"] for t in mine] == [education.reference_no]
    # The case view: their own in full, of the other only that it exists and where it stands.
    seen = await service.get_case(ctx.sessions, MEDICAL, education.reference_no)
    assert seen["reference_no"] == ref and seen["departments"] == 2
    own, other = seen["referrals"]
    assert own["visible"] and own["reference_no"] == medical.reference_no
    assert other == {"visible": False, "department": "education", "program": "education",
                     "department_name": "教育", "status": "new"}
    with pytest.raises(service.NotFound):  # a department cannot touch another's referral
        await service.resolve(ctx.sessions, MEDICAL, education.reference_no, "已办")
    with pytest.raises(service.NotFound):  # nor see a case it has no referral in
        await service.get_case(ctx.sessions, CIVIL, ref)

    # The citizen's lookup by the one number: each referral in one plain sentence.
    look = await http.get(f"/api/referrals/{ref}", params={"phone_last4": phone[-4:]})
    assert look.status_code == 200
    sentences = [x["sentence"] for x in look.json()["case"]["referrals"]]
    assert sentences == ["医疗救助已转给医保部门，等待受理。", "教育救助已转给教育部门，等待受理。"]

    await service.claim(ctx.sessions, MEDICAL, medical.reference_no)
    await service.claim(ctx.sessions, EDUCATION, education.reference_no)
    await service.resolve(ctx.sessions, MEDICAL, medical.reference_no, "已按规定救助3200元")
    await relay(ctx)
    async with ctx.sessions() as s:
        assert (await s.scalar(select(Case).where(Case.reference_no == ref))).status == "open"
    look = (await http.get(f"/api/referrals/{ref}", params={"phone_last4": phone[-4:]})).json()
    assert [x["status"] for x in look["case"]["referrals"]] == ["resolved", "accepted"]
    assert "已办结" in look["case"]["referrals"][0]["sentence"]

    await service.resolve(ctx.sessions, EDUCATION, education.reference_no, "已发放助学金1000元")
    await relay(ctx)
    async with ctx.sessions() as s:
        case = await s.scalar(select(Case).where(Case.reference_no == ref))
    assert case.status == "closed" and case.closed_at is not None
    notices = await case_notices(ctx, [medical, education])
    assert [(n.kind, n.status) for n in notices] == [
        ("accepted", "sent"), ("accepted", "sent"), ("case_closed", "sent")]
    assert all(ref in n.text for n in notices)  # every notice quotes the number the citizen knows
    closing = notices[-1].text
    assert "已按规定救助3200元" in closing and "已发放助学金1000元" in closing
    # on the citizen's channel: SMS, in parts that carry all of it, once
    parts = [m["Body"] for m in app["twilio"].sent if m["To"] == phone and m["Body"].startswith("(")]
    joined = "".join(p.split(")", 1)[1] for p in parts)
    assert joined == closing, parts

    # A referral reopened: the case is open again; done again, closed again.
    await service.reopen(ctx.sessions, EDUCATION, education.reference_no, "群众反映未到账")
    async with ctx.sessions() as s:
        assert (await s.scalar(select(Case).where(Case.reference_no == ref))).status == "open"


async def test_a_retried_case_is_filed_once_and_bad_referrals_are_refused(app):
    ctx, http = app["ctx"], app["http"]
    phone, key = new_phone(), f"case-{uuid.uuid4().hex}"
    bodies = await asyncio.gather(*(file_case(http, phone, [{"program": "housing"},
                                                            {"program": "dibao"}], key=key)
                                    for _ in range(5)))
    assert sorted(r.status_code for r in bodies).count(201) == 1
    assert len({r.json()["reference_no"] for r in bodies}) == 1
    async with ctx.sessions() as s:
        n = await s.scalar(select(func.count()).select_from(Ticket).where(Ticket.citizen_phone == phone))
    assert n == 2
    for referrals, field in (([], "referrals"), ([{"program": "dibao"}, {"program": "dibao"}], "referrals"),
                             ([{"program": "nope"}], "program"),
                             ([{"program": "temporary", "amount_yuan": -5}], "amount_yuan")):
        r = await http.post("/api/cases", json={**household(new_phone()), "referrals": referrals})
        assert r.status_code == 422 and r.json()["error"]["field"] == field, r.text


async def test_two_clerks_finishing_the_last_two_referrals_at_once_close_the_case_once(app):
    ctx, http = app["ctx"], app["http"]
    phone = new_phone()
    filed = await file_case(http, phone, [{"program": "medical"}, {"program": "education"}])
    ref = filed.json()["reference_no"]
    medical, education = await tickets_of(ctx, ref)
    await service.claim(ctx.sessions, MEDICAL, medical.reference_no)
    await service.claim(ctx.sessions, EDUCATION, education.reference_no)
    await asyncio.gather(service.resolve(ctx.sessions, MEDICAL, medical.reference_no, "已救助"),
                         service.resolve(ctx.sessions, EDUCATION, education.reference_no, "已资助"))
    async with ctx.sessions() as s:
        assert (await s.scalar(select(Case).where(Case.reference_no == ref))).status == "closed"
    assert [n.kind for n in await case_notices(ctx, [medical, education])].count("case_closed") == 1


@pytest.mark.parametrize(("amount", "tier", "office"), [
    (800, "village", False), (2500, "township", False), (5000, "district", True)])
async def test_yuan_temporary_assistance_goes_to_the_tier_of_the_amount_asked(app, amount, tier, office):
    """裕安 四(三)2: up to 1,000 yuan the 村(社) 互助社, up to 3,000 with the 乡镇(街), above it the
    district; each tier with its clause and its own clock (operator defaults, marked so)."""
    ctx, http = app["ctx"], app["http"]
    r = await file_case(http, new_phone(), [{"program": "temporary", "amount_yuan": amount}],
                        region="341503", street="平桥乡")
    (t,) = await tickets_of(ctx, r.json()["reference_no"])
    assert t.pathway["tier"]["tier"] == tier and "四(三)2" in t.pathway["tier"]["source"]
    if office:
        assert t.handling_unit == "六安市裕安区民政" and t.unit_code is None
    else:
        assert t.handling_unit == "平桥乡人民政府"
    days = {"village": 3, "township": 10, "district": 15}[tier]
    assert t.applied_sla["resolution"]["value"] == days
    assert t.applied_sla["resolution"]["verified"] is False
    assert t.resolution_due == add_working_days(t.created_at, days)


async def test_jilin_urgent_help_shows_its_fast_path_and_its_own_deadline(app):
    """吉林 第12/15条: 先行救助 — one month of the standard first, the whole within 30 days."""
    ctx, http = app["ctx"], app["http"]
    r = await file_case(http, new_phone(), [{"program": "temporary", "urgency": "urgent"},
                                            {"program": "medical"}], region="220000")
    temporary, medical = await tickets_of(ctx, r.json()["reference_no"])
    assert "先行" in temporary.pathway["fast_path"]["label"]
    assert temporary.fast_path_due == add_working_days(temporary.created_at, 2)
    assert temporary.resolution_due == add_calendar_days(temporary.created_at, 30)
    assert temporary.applied_sla["resolution"]["verified"] is True
    assert medical.pathway == {} and medical.fast_path_due is None  # not a path of 医疗救助
    page = await service.get_ticket(ctx.sessions, Viewer("x", "supervisor"), temporary.reference_no)
    assert page["fast_path_due"] and page["case"]["referrals"] == 2


async def test_a_first_help_not_given_by_its_deadline_is_escalated_once(app):
    """先行救助 has its own deadline: past it with no first help recorded, the sweep escalates
    the referral to the department's supervisor once; one whose first help was recorded in time
    is left alone, and recording it tells the citizen what was given."""
    ctx, http = app["ctx"], app["http"]
    late_ref = (await file_case(http, new_phone(), [{"program": "temporary", "urgency": "urgent"}],
                                region="220000")).json()["reference_no"]
    given_ref = (await file_case(http, new_phone(), [{"program": "temporary", "urgency": "urgent"},
                                                     {"program": "medical"}],
                                 region="220000")).json()["reference_no"]
    (late,), (given, medical) = await tickets_of(ctx, late_ref), await tickets_of(ctx, given_ref)
    boss = Viewer("x", "supervisor")

    page = await service.first_help(ctx.sessions, boss, given.reference_no, "先行发放临时救助金1000元")
    assert page["fast_path_given_at"] and not page["fast_path_pending"]
    assert page["first_responded_at"]  # it answers the citizen: the first response is made
    assert page["status"] == "new" and page["events"][-1]["kind"] == "first_help"
    with pytest.raises(service.InvalidTransition):  # recorded once
        await service.first_help(ctx.sessions, boss, given.reference_no, "再发一次")
    with pytest.raises(service.InvalidTransition):  # 医疗救助 has no fast path here
        await service.first_help(ctx.sessions, boss, medical.reference_no, "先行")
    with pytest.raises(service.ValidationError):
        await service.first_help(ctx.sessions, boss, late.reference_no, "  ")
    told = [n for n in await case_notices(ctx, [given]) if n.kind == "first_help"]
    assert len(told) == 1 and "先行发放临时救助金1000元" in told[0].text

    # Accepted in time, so only the fast path's deadline can pass: a claim is not the help.
    row = await service.claim(ctx.sessions, boss, late.reference_no)
    assert row["fast_path_pending"] and not row["fast_path_overdue"]
    await service.sweep_sla(ctx.sessions, late.fast_path_due - timedelta(minutes=1))
    async with ctx.sessions() as s:
        assert (await s.get(Ticket, late.id)).fast_path_breached_at is None
    now = late.fast_path_due + timedelta(minutes=1)
    assert now < late.resolution_due
    for _ in range(2):  # a second sweep changes nothing
        await service.sweep_sla(ctx.sessions, now)
    async with ctx.sessions() as s:
        events = {t: [(e.target, e.kind, e.level) for e in await s.scalars(
            select(SlaEvent).where(SlaEvent.ticket_id == t.id).order_by(SlaEvent.id))]
            for t in (late, given)}
        late_now = await s.get(Ticket, late.id)
        given_now = await s.get(Ticket, given.id)
    assert ("first_help", "breached", 0) in events[late] and ("any", "escalated", 1) in events[late]
    assert events[late].count(("first_help", "breached", 0)) == 1
    assert late_now.escalation_level == 1 and late_now.priority == late.priority + 1
    assert late_now.fast_path_breached_at == now
    assert not [e for e in events[given] if e[0] == "first_help"]
    assert given_now.escalation_level == 0
