"""POST /api/eligibility/screen over HTTP: the contract's shape, every status, every error."""

from __future__ import annotations

from pathlib import Path

import pytest

POLICY_DOCS = Path(__file__).resolve().parents[4] / "shared" / "policy_docs"
DEPARTMENTS = {"dibao": "civil_affairs", "tekun": "civil_affairs", "low_income": "civil_affairs",
               "expenditure_hardship": "civil_affairs", "temporary": "civil_affairs",
               "medical": "medical", "education": "education", "housing": "housing",
               "employment": "employment", "disability": "disability", "disaster": "emergency"}


def body(region="430200", area="urban", members=None, **household):
    household.setdefault("financial_assets", 0)
    return {"region": region, "area": area,
            "household": {"members": members or [{"age": 45, "can_work": True, "monthly_income": 0}],
                          **household}}


async def screen(api, payload):
    r = await api.post("/api/eligibility/screen", json=payload)
    assert r.status_code == 200, r.text
    return r.json()


def program(result, name):
    found = [p for p in result["programs"] if p["program"] == name]
    assert found, f"{name} not in {[p['program'] for p in result['programs']]}"
    return found[0]


async def test_contract_example_has_the_contract_shape(api):
    example = {"region": "430200", "area": "urban", "household": {
        "members": [{"age": 67, "can_work": False, "monthly_income": 0, "disability_level": None,
                     "serious_illness": False, "employed": False, "student_stage": None}],
        "monthly_income": 1800, "financial_assets": 20000,
        "rigid_expenses_monthly": {"medical": 0, "education": 0, "care": 0},
        "has_capable_supporter": True, "emergency": None}}
    result = await screen(api, example)
    assert set(result) == {"region", "as_of", "programs", "missing", "warnings"}
    assert result["region"] == "430200" and len(result["as_of"]) == 10
    for p in result["programs"]:
        assert set(p) == {"program", "status", "reasons", "estimated_monthly_amount", "department",
                          "citations"}
        assert p["department"] == DEPARTMENTS[p["program"]]
        assert p["reasons"] and all(isinstance(x, str) and x for x in p["reasons"])
        for c in p["citations"]:
            assert set(c) == {"document", "clause"} and c["clause"]
            assert (POLICY_DOCS / c["document"]).exists() or not POLICY_DOCS.exists()
    assert program(result, "dibao")["status"] == "not_eligible"
    assert program(result, "tekun")["status"] == "not_eligible"  # has a capable supporter


async def test_likely_eligible_with_the_gap_as_amount(api):
    result = await screen(api, body(monthly_income=600))
    dibao = program(result, "dibao")
    assert dibao["status"] == "likely_eligible"
    assert dibao["estimated_monthly_amount"] == 100.0
    assert any("600元" in r and "700元" in r for r in dibao["reasons"])
    assert {"document": "001_70129cb6b9c84072.txt", "clause": "一"} in dibao["citations"]
    assert result["missing"] == []


async def test_possibly_eligible_when_the_standard_is_unverified(api):
    result = await screen(api, body(region="320200", monthly_income=600))
    dibao = program(result, "dibao")
    assert dibao["status"] == "possibly_eligible"
    assert dibao["estimated_monthly_amount"] is None  # no amount from a placeholder standard
    assert "低保实行差额发放：按当地低保标准与家庭人均收入的差额按月发放。" in dibao["reasons"]
    assert "无锡市的低保标准政策文件中没有写明，请您向乡镇（街道）或拨打12349确认。" in dibao["reasons"]
    assert any("暂定" in r for r in dibao["reasons"])
    assert not any("700" in r or "100元" in r for r in dibao["reasons"] + result["warnings"])
    assert any("无锡市的城市低保标准" in w for w in result["warnings"])
    # where 无锡's document says how its standard is set
    assert {"document": "000_41bdac329cf45ab2.txt", "clause": "三(二)6"} in dibao["citations"]


async def test_not_eligible(api):
    result = await screen(api, body(monthly_income=3000))
    for name in ("dibao", "low_income"):
        p = program(result, name)
        assert p["status"] == "not_eligible" and p["estimated_monthly_amount"] is None


async def test_need_more_info_names_what_to_ask(api):
    payload = body(members=[{"age": 70, "can_work": False}, {"age": 40}])
    del payload["household"]["financial_assets"]
    result = await screen(api, payload)
    assert program(result, "dibao")["status"] == "need_more_info"
    assert program(result, "tekun")["status"] == "need_more_info"
    for field in ("household.monthly_income", "household.financial_assets",
                  "household.has_capable_supporter", "household.members[0].monthly_income"):
        assert field in result["missing"]


async def test_need_more_info_for_the_area(api):
    payload = body(monthly_income=500)
    del payload["area"]
    result = await screen(api, payload)
    assert program(result, "dibao")["status"] == "need_more_info"
    assert "area" in result["missing"]


async def test_tekun_likely_with_support_standard(api):
    result = await screen(api, body(members=[{"age": 80, "can_work": False, "monthly_income": 0}],
                                    monthly_income=0, has_capable_supporter=False))
    tekun = program(result, "tekun")
    assert tekun["status"] == "likely_eligible"
    assert tekun["estimated_monthly_amount"] == 910.0  # 700 × 1.3
    assert result["warnings"] == []


async def test_temporary_assistance_approval_tiers_in_yuan(api):
    result = await screen(api, body(region="341503", monthly_income=3000,
                                    emergency={"type": "accident", "description": "车祸", "amount": 2500}))
    temporary = program(result, "temporary")
    assert temporary["status"] == "likely_eligible"
    text = "".join(temporary["reasons"])
    assert "村（社）级救助1000元" in text and "1500元申报乡镇（街）级" in text
    assert {"document": "004_661d87b0b2d25674.txt", "clause": "四(三)2"} in temporary["citations"]


async def test_temporary_assistance_range_and_advance(api):
    # 达州 states the range (1–6 × the standard) but not the standard: the rule, no amounts
    dazhou = await screen(api, body(region="511700", monthly_income=0,
                                    emergency={"type": "serious_illness"}))
    text = "".join(program(dazhou, "temporary")["reasons"])
    assert "临时救助人均标准为低保标准的1至6倍（一次性" in text and "元" not in text
    assert "达州市的低保标准政策文件中没有写明" in text
    # 吉林 states one month of the urban standard in advance, and 30 days, but not the standard
    jilin = await screen(api, body(region="220000", monthly_income=0,
                                   emergency={"type": "public_health"}))
    text = "".join(program(jilin, "temporary")["reasons"])
    assert "可以先按1个月城市低保标准给予急难临时救助" in text and "30日内办结" in text
    assert "元" not in text


async def test_an_emergency_type_the_api_does_not_list_is_screened_as_other(api):
    for emergency in ({"type": "fire", "description": "家里着火了"}, {"description": "家里着火了"}):
        result = await screen(api, body(region="511700", monthly_income=3000, emergency=emergency))
        temporary = program(result, "temporary")
        assert temporary["status"] == "possibly_eligible"  # 其他特殊原因: assessed by the office
        assert any("突发困难" in r and "急难型临时救助" in r for r in temporary["reasons"])
        assert "disaster" not in [p["program"] for p in result["programs"]]


async def test_disaster_goes_to_emergency_management(api):
    result = await screen(api, body(monthly_income=5000, emergency={"type": "natural_disaster"}))
    disaster = program(result, "disaster")
    assert disaster["status"] == "likely_eligible" and disaster["department"] == "emergency"


async def test_special_programs_follow_the_household_category(api):
    members = [{"age": 40, "can_work": True, "monthly_income": 0},
               {"age": 12, "student_stage": "compulsory", "monthly_income": 0, "serious_illness": True},
               {"age": 70, "can_work": False, "monthly_income": 300, "disability_level": 4}]
    result = await screen(api, body(region="430200", members=members, housing_difficulty=True))
    assert program(result, "dibao")["status"] == "likely_eligible"
    for name in ("medical", "education", "employment", "disability"):
        assert program(result, name)["status"] == "likely_eligible", name
    assert program(result, "housing")["status"] == "possibly_eligible"  # 住房困难标准 is assessed locally
    assert {p["program"]: p["department"] for p in result["programs"]}.items() <= DEPARTMENTS.items()


async def test_as_of_can_be_given(api):
    result = await screen(api, {**body(monthly_income=600), "as_of": "2025-03-15"})
    assert result["as_of"] == "2025-03-15"


# --- errors ----------------------------------------------------------------------------------
async def test_invalid_json_is_400(api):
    r = await api.post("/api/eligibility/screen", content=b'{"region": ',
                       headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    r = await api.post("/api/eligibility/screen", content=b"[1, 2]")
    assert r.status_code == 400
    r = await api.post("/api/eligibility/screen", content=b"")
    assert r.status_code == 400 and r.json()["error"]["code"] == "empty_body"


async def test_unknown_region_is_404(api):
    r = await api.post("/api/eligibility/screen", json=body(region="110000"))
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def _with(path: str, value):
    """A valid request with the value at `path` replaced (`...`: removed)."""
    payload = body(monthly_income=500)
    if path.startswith("household.emergency."):
        payload["household"]["emergency"] = {"type": "accident"}
    target = payload
    *parents, last = path.split(".")
    for part in parents:
        if part.endswith("]"):
            name, index = part[:-1].split("[")
            target = target[name][int(index)]
        else:
            target = target.setdefault(part, {})
    if value is ...:
        target.pop(last, None)
    else:
        target[last] = value
    return payload


@pytest.mark.parametrize("path,value", [
    ("region", ...), ("region", 320200), ("area", "city"), ("as_of", "22/11/2026"),
    ("as_of", "2019-01-01"), ("as_of", "9999-12-31"), ("as_of", "2030-01-01"),
    ("household", ...), ("household", "a family"),
    ("household.members", []), ("household.members", "two people"),
    ("household.members", [{"age": 30}] * 31),
    ("household.members[0].age", -1), ("household.members[0].age", "forty"),
    ("household.members[0].age", True), ("household.members[0].age", 30.5),
    ("household.members[0].can_work", "yes"), ("household.members[0].monthly_income", -5),
    ("household.members[0].disability_level", 5), ("household.members[0].disability_category", "x"),
    ("household.members[0].student_stage", "phd"), ("household.members[0].employed", 1),
    ("household.monthly_income", "1800"), ("household.financial_assets", -1),
    ("household.financial_assets", 1e12), ("household.rigid_expenses_monthly", [100]),
    ("household.rigid_expenses_monthly.medical", -100), ("household.has_capable_supporter", "no"),
    ("household.emergency", "fire"), ("household.emergency.type", 5),
    ("household.emergency.type", {"kind": "fire"}), ("household.emergency.amount", "many"),
    ("household.receiving", ["welfare"]), ("household.housing_difficulty", "yes"),
])
async def test_bad_input_is_422_naming_the_field(api, path, value):
    r = await api.post("/api/eligibility/screen", json=_with(path, value))
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid" and error["message"]
    assert error["field"] == path, error


async def test_not_a_number_is_422(api):
    raw = (b'{"region": "430200", "area": "urban", "household": {"members": [{"age": 30}], '
           b'"monthly_income": NaN}}')
    r = await api.post("/api/eligibility/screen", content=raw)
    assert r.status_code == 422 and r.json()["error"]["field"] == "household.monthly_income"


async def test_the_screen_runs_off_the_event_loop(api, live_app, monkeypatch):
    """OpenFisca is CPU work: it runs in the rules' own thread, so the loop keeps serving."""
    import threading

    from rules import api as rules_api

    threads = []
    real = rules_api.screen

    def recording(data):
        threads.append(threading.current_thread())
        return real(data)

    monkeypatch.setattr(rules_api, "screen", recording)
    await screen(api, body(monthly_income=600))
    assert threads and threads[0] is not threading.main_thread()
    assert threads[0].name.startswith("rules")


def test_the_parameter_cache_is_bounded():
    from rules.region_parameters import region_parameters

    assert region_parameters.cache_info().maxsize is not None
