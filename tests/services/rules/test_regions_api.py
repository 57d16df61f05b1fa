"""GET /api/regions and GET /api/regions/{code} (ARCHITECTURE.md §4.2)."""

from __future__ import annotations

import pytest

CODES = ["320200", "430200", "511700", "220000", "341503"]
CONTRACT = ["dibao_standard_urban_monthly", "dibao_standard_rural_monthly", "tekun_multiplier",
            "low_income_multiplier", "asset_limit_months", "employment_deduction",
            "phase_out_months", "temporary_assistance_range"]


async def test_lists_the_seeded_regions(api):
    r = await api.get("/api/regions")
    assert r.status_code == 200
    assert {x["code"]: x["name"] for x in r.json()} == {
        "320200": "无锡市", "430200": "株洲市", "511700": "达州市", "220000": "吉林省",
        "341503": "六安市裕安区"}


@pytest.mark.parametrize("code", CODES)
async def test_region_parameters_carry_value_unit_source_verified(api, code):
    r = await api.get(f"/api/regions/{code}")
    assert r.status_code == 200
    body = r.json()
    assert body["code"] == code and body["name"]
    params = body["parameters"]
    for name in CONTRACT:
        assert name in params, name
    for name, p in params.items():
        assert {"value", "unit", "source", "verified"} <= set(p), name
        assert isinstance(p["verified"], bool), name
        if p["verified"]:
            assert p["source"], name
        else:
            assert p.get("note"), name  # says why it is not verified


async def test_zhuzhou_standards_are_the_stated_ones(api):
    params = (await api.get("/api/regions/430200")).json()["parameters"]
    urban, rural = params["dibao_standard_urban_monthly"], params["dibao_standard_rural_monthly"]
    assert (urban["value"], urban["unit"], urban["verified"]) == (700, "元/月", True)
    assert urban["source"] == "001_70129cb6b9c84072.txt 一"
    assert rural["value"] == round(6733 / 12, 2) and rural["verified"]
    assert params["tekun_multiplier"]["value"] == 1.3 and params["tekun_multiplier"]["verified"]


async def test_unstated_values_are_present_and_unverified(api):
    wuxi = (await api.get("/api/regions/320200")).json()["parameters"]
    assert wuxi["dibao_standard_urban_monthly"]["verified"] is False
    assert wuxi["dibao_standard_urban_monthly"]["value"] > 0
    assert wuxi["employment_deduction"] == {
        **wuxi["employment_deduction"], "verified": True,
        "value": {"share_of_dibao_standard": 0.3, "share_of_minimum_wage": 0, "minimum_wage_monthly": 0}}
    dazhou = (await api.get("/api/regions/511700")).json()["parameters"]
    assert dazhou["employment_deduction"]["value"]["share_of_minimum_wage"] == 0.25
    assert dazhou["employment_deduction"]["verified"] is False  # the minimum wage is not stated
    assert dazhou["temporary_assistance_range"]["value"] == {"min_multiplier": 1, "max_multiplier": 6}
    assert dazhou["temporary_assistance_range"]["verified"] is True
    jilin = (await api.get("/api/regions/220000")).json()["parameters"]
    assert (jilin["asset_limit_months"]["value"], jilin["asset_limit_months"]["verified"]) == (24, True)
    assert jilin["phase_out_months"]["value"] == 18
    assert jilin["phase_out_months_disabled_household"]["value"] == 24


async def test_unknown_region_is_404(api):
    r = await api.get("/api/regions/999999")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
