"""GET /api/policy against the live app: one answer, all aspects, the fallback, and each error."""

from __future__ import annotations

from rules.knowledge import ASPECTS

ANSWER_KEYS = {"program", "aspect", "region", "short", "long", "citations", "verified"}


async def test_answer_for_a_region_and_aspect(api):
    r = await api.get("/api/policy", params={"program": "temporary", "aspect": "金额", "region": "341503"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == ANSWER_KEYS
    assert (body["program"], body["aspect"], body["region"]) == ("temporary", "金额", "341503")
    assert "1000元" in body["short"] and "3000元" in body["short"]
    assert {"document": "004_661d87b0b2d25674.txt", "clause": "四(三)2"} in body["citations"]
    assert body["verified"] is True


async def test_chinese_is_sent_as_utf8_not_escaped(api):
    r = await api.get("/api/policy", params={"program": "dibao", "aspect": "标准", "region": "430200"})
    assert r.status_code == 200, r.text
    assert "700元/月".encode() in r.content


async def test_region_without_its_own_answer_gets_the_default(api):
    r = await api.get("/api/policy", params={"program": "dibao", "aspect": "材料", "region": "430200"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["region"] == "default"
    assert "身份证" in body["short"]


async def test_without_region_the_default_answer(api):
    r = await api.get("/api/policy", params={"program": "tekun", "aspect": "条件"})
    assert r.status_code == 200, r.text
    assert r.json()["region"] == "default"
    assert "18周岁" in r.json()["short"]


async def test_without_aspect_every_aspect_of_the_program(api):
    r = await api.get("/api/policy", params={"program": "dibao", "region": "320200"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["program"], body["region"]) == ("dibao", "320200")
    assert body["name"].startswith("最低生活保障")
    assert [a["aspect"] for a in body["answers"]] == list(ASPECTS)
    assert all(set(a) == ANSWER_KEYS for a in body["answers"])
    assert {a["region"] for a in body["answers"]} <= {"320200", "default"}
    assert any(a["region"] == "320200" for a in body["answers"])


async def test_without_aspect_or_region(api):
    r = await api.get("/api/policy", params={"program": "vagrant"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["region"] is None
    assert {a["region"] for a in body["answers"]} == {"default"}


async def test_missing_program_is_422_naming_the_field(api):
    for params in ({}, {"program": ""}, {"aspect": "条件"}):
        r = await api.get("/api/policy", params=params)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "invalid"
        assert r.json()["error"]["field"] == "program"


async def test_unknown_program_is_422(api):
    r = await api.get("/api/policy", params={"program": "lottery", "aspect": "条件"})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "program"


async def test_unknown_aspect_is_422(api):
    r = await api.get("/api/policy", params={"program": "dibao", "aspect": "好处"})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "aspect"


async def test_unknown_region_is_404(api):
    for region in ("110000", "无锡市"):
        r = await api.get("/api/policy", params={"program": "dibao", "aspect": "条件", "region": region})
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == "not_found"
        assert "region" in r.json()["error"]["message"]
