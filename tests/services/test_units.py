"""The unit directory (承办单位): every 乡镇/街道 of the seeded regions, a citizen's street matched to
it, tickets routed by its codes, 待分派 for a street it cannot place, admins' edits."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from referral import domain, service, units
from referral.access import Viewer
from referral.models import AuditEntry, Ticket
from referral.units import DirectoryError
from rules.regions import region_codes

PINGQIAO, SUBU = "341503204", "341503100"  # 六安市裕安区 平桥乡, 苏埠镇
OFFICE = Viewer("zhou", "staff", "civil_affairs")  # 裕安区民政局: the whole department
PINGQIAO_CLERK = Viewer("wu", "staff", "civil_affairs", (PINGQIAO,))
ADMIN = Viewer("root", "admin")


def test_every_seeded_region_has_its_units():
    d = units.seeded()
    counts = {r: len(d.in_region(r)) for r in region_codes()}
    # 国家统计局 2023 统计用区划代码: 裕安区 23, 无锡市 88, 株洲市 112, 达州市 200, 吉林省 1075
    assert counts == {"341503": 23, "320200": 88, "430200": 112, "511700": 200, "220000": 1075}
    assert d.get(PINGQIAO).office == "平桥乡人民政府"
    assert d.get("341503001").office == "鼓楼街道办事处"
    assert all(u.code.startswith(u.region[:2]) and len(u.code) == 9 for u in d.units.values())


@pytest.mark.parametrize("said, code", [
    ("平桥乡", PINGQIAO), ("平桥", PINGQIAO), ("平桥乡政府", PINGQIAO),
    ("裕安区平桥乡人民政府", PINGQIAO), ("我住在平桥乡", PINGQIAO), ("平 桥 乡", PINGQIAO),
    ("苏埠镇", SUBU), ("苏埠", SUBU), ("鼓楼街道办", "341503001"), ("鼓楼办事处", "341503001"),
    ("平桥乡新安村", PINGQIAO),  # the longest name wins over 新安(镇)
])
def test_a_street_as_citizens_say_it_finds_its_unit(said, code):
    assert units.seeded().match("341503", said).unit.code == code


@pytest.mark.parametrize("region, said", [
    ("341503", "不知道"), ("341503", "火星乡"), ("341503", ""), ("341503", "六安市裕安区"),
    ("220000", "梨树县"),  # a county's name, not its 梨树镇
    ("320200", "平桥乡"),  # a unit of another region
])
def test_no_unit_when_the_text_names_none(region, said):
    assert units.seeded().match(region, said).unit is None


def test_a_name_two_counties_share_is_placed_by_the_county_or_not_at_all():
    d = units.seeded()
    both = d.match("220000", "城南街道")
    assert both.unit is None and len(both.candidates) == 2
    assert d.match("220000", "洮北区城南街道").unit.county == "白城市洮北区"
    assert d.match("220000", "白城市城南街道").unit.county == "白城市洮北区"  # the city tells too
    assert d.match("320200", "湖父镇").unit.name == "湖㳇镇"  # an alias in the file


def test_resolve_takes_codes_names_offices_and_the_consoles_labels():
    d = units.seeded()
    assert [u.code for u in d.resolve("平桥乡人民政府")] == [PINGQIAO]
    assert [u.code for u in d.resolve(PINGQIAO)] == [PINGQIAO]
    assert [u.code for u in d.resolve("裕安区平桥乡人民政府（341503204）")] == [PINGQIAO]
    assert len(d.resolve("城南街道")) > 1 and d.resolve("平桥") == []


@pytest.mark.parametrize("text, message", [
    ('region: "341503"\nunits:\n  - {code: "320200001", name: 甲镇, county: 乙, office: 甲镇人民政府}\n',
     "not a 9-digit code of 341503"),
    ('region: "341503"\nunits:\n  - {code: "341503001", name: 甲镇, county: 乙}\n', "office are required"),
    ('region: "999999"\nunits: []\n', "a seeded region"),
    ('region: "341503"\nunits:\n  - {code: "341503001", name: 甲镇, county: 乙, office: 甲, aliases: 甲}\n',
     "aliases must be a list"),
])
def test_a_bad_directory_file_is_refused(tmp_path, text, message):
    name = "999999.yml" if "999999" in text else "341503.yml"
    (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(DirectoryError, match=message):
        units.load(tmp_path)


def test_street_routing_and_transfers_keep_it():
    placed = domain.route("dibao", "341503", "平桥", region_name="六安市裕安区")
    assert (placed.department, placed.unit_code, placed.handling_unit) == \
        ("civil_affairs", PINGQIAO, "平桥乡人民政府")
    unplaced = domain.route("tekun", "341503", "俺们村", region_name="六安市裕安区")
    assert unplaced.unplaced and unplaced.unit_code is None
    assert unplaced.handling_unit == "六安市裕安区民政"
    # a dibao ticket sent to 医保 and back to 民政 returns to its street's office
    away = domain.route("dibao", "341503", "平桥", region_name="六安市裕安区", department="medical")
    assert (away.department, away.handling_unit, away.unit_code) == ("medical", "六安市裕安区医保", None)
    back = domain.route("dibao", "341503", "平桥", region_name="六安市裕安区", department="civil_affairs")
    assert (back.unit_code, back.handling_unit) == (PINGQIAO, "平桥乡人民政府")
    # regions without street routing keep the department's office
    assert domain.route("dibao", "320200", "东亭街道", region_name="无锡市").unit_code is None


async def file(sessions, street: str | None, program: str = "dibao") -> str:
    req = service.NewReferral(program=program, region="341503", citizen_name="刘桂芬",
                              citizen_phone="13800001234", description=f"测试 {uuid.uuid4()}",
                              street=street, channel="web")
    body, _ = await service.create_referral(sessions, req, None, "test")
    return body["reference_no"]


async def row(sessions, ref: str) -> Ticket:
    async with sessions() as s:
        return await s.scalar(select(Ticket).where(Ticket.reference_no == ref))


async def test_the_bots_street_answer_reaches_the_units_clerk(sessions):
    """Before: the ticket's unit was the free text 平桥乡 while the clerk's was 平桥乡人民政府, so
    no clerk's queue listed it."""
    ref = await file(sessions, "平桥乡")
    t = await row(sessions, ref)
    assert (t.unit_code, t.handling_unit, t.unplaced) == (PINGQIAO, "平桥乡人民政府", False)
    rows, _ = await service.list_tickets(sessions, PINGQIAO_CLERK, q=ref)
    assert [r["reference_no"] for r in rows] == [ref]
    assert (await service.get_ticket(sessions, PINGQIAO_CLERK, ref))["unit_code"] == PINGQIAO


async def test_an_unplaced_ticket_waits_at_the_office_then_is_placed(sessions):
    ref = await file(sessions, "俺们那个村")
    t = await row(sessions, ref)
    assert t.unplaced and t.unit_code is None and t.department == "civil_affairs"
    assert t.handling_unit == "六安市裕安区民政"
    rows, _ = await service.list_tickets(sessions, OFFICE, unplaced=True, q=ref)
    assert [r["reference_no"] for r in rows] == [ref] and rows[0]["unplaced"]
    with pytest.raises(service.NotFound):  # not yet any street clerk's
        await service.get_ticket(sessions, PINGQIAO_CLERK, ref)
    with pytest.raises(service.ValidationError, match="没有"):
        await service.place(sessions, OFFICE, ref, "火星乡")
    detail = await service.place(sessions, OFFICE, ref, "平桥")
    assert (detail["unit_code"], detail["handling_unit"], detail["unplaced"]) == \
        (PINGQIAO, "平桥乡人民政府", False)
    assert detail["events"][-1]["kind"] == "place"
    assert (await service.get_ticket(sessions, PINGQIAO_CLERK, ref))["reference_no"] == ref
    rows, _ = await service.list_tickets(sessions, OFFICE, unplaced=True, q=ref)
    assert rows == []


async def test_a_transfer_away_and_back_keeps_street_routing(sessions):
    ref = await file(sessions, "苏埠镇")
    moved = await service.transfer(sessions, OFFICE, ref, "medical", "是医疗费用问题")
    assert (moved["department"], moved["unit_code"]) == ("medical", None)
    med = Viewer("he", "staff", "medical")
    back = await service.transfer(sessions, med, ref, "civil_affairs", "属于低保")
    assert (back["unit_code"], back["handling_unit"]) == (SUBU, "苏埠镇人民政府")


async def test_an_admins_edit_of_the_office_and_aliases_takes_effect(sessions):
    code = "341503205"  # 罗集乡
    await service.edit_unit(sessions, ADMIN, code, "罗集乡民政所", ["罗集老街"], ip="10.0.0.9")
    try:
        t = await row(sessions, await file(sessions, "罗集老街"))
        assert (t.unit_code, t.handling_unit) == (code, "罗集乡民政所")
        listed = {u["code"]: u for u in await service.list_units(sessions, "341503")}
        assert listed[code]["edited_by"] == "admin:root" and listed[code]["seeded_office"] == "罗集乡人民政府"
        async with sessions() as s:
            audit = await s.scalar(select(AuditEntry).where(AuditEntry.action == "unit_edit")
                                   .order_by(AuditEntry.id.desc()))
        assert audit.detail["code"] == code and audit.ip == "10.0.0.9"
    finally:  # back to the seeded values: the edit is dropped
        await service.edit_unit(sessions, ADMIN, code, "罗集乡人民政府", [])
    listed = {u["code"]: u for u in await service.list_units(sessions, "341503")}
    assert listed[code]["edited_by"] is None and listed[code]["aliases"] == []


async def test_a_request_nobody_could_route_waits_at_civil_affairs_flagged(sessions):
    req = service.NewReferral(program="temporary", region="320200", citizen_name="钱大妈",
                              citizen_phone="13800001234", description="说不清楚的困难",
                              channel="web", needs_routing=True)
    body, _ = await service.create_referral(sessions, req, None, "test")
    t = await row(sessions, body["reference_no"])
    assert (t.department, t.handling_unit, t.unplaced) == ("civil_affairs", "无锡市民政", True)
