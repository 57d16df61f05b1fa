"""No amount from a value the documents do not state.

Where a region's 低保 standard (or a multiplier, a number of months …) is a placeholder
(`verified: false`), the screen states the rule in words and asks the citizen to confirm the
local standard, but shows no yuan figure computed from it: every "N元" in its reasons and
warnings is one the citizen gave (or one computed from their figures alone), or one the
documents state. Also: every program the inputs bear on is answered (特困 for someone who can
work, with the reason), and an emergency of a type the API does not list is screened as other.
"""

from __future__ import annotations

import re

import pytest

from rules.eligibility import screen
from rules.region_parameters import region_parameters
from rules.screen_request import parse_screen_request

YUAN = re.compile(r"(\d+(?:\.\d+)?)元")
UNVERIFIED_STANDARD = ("320200", "511700", "220000", "341503")
CONFIRM = "的低保标准政策文件中没有写明，请您向乡镇（街道）或拨打12349确认。"


def run(region, area="urban", members=None, **household):
    household.setdefault("financial_assets", 0)
    members = members or [{"age": 45, "can_work": True, "monthly_income": 0}]
    return screen({"region": region, "area": area, "as_of": "2026-01-10",
                   "household": {"members": members, **household}})


def program(result, name):
    found = [p for p in result["programs"] if p["program"] == name]
    assert found, f"{name} not in {[p['program'] for p in result['programs']]}"
    return found[0]


def yuan_figures(result) -> set[str]:
    texts = [r for p in result["programs"] for r in p["reasons"]] + result["warnings"]
    return {m.group(1) for t in texts for m in YUAN.finditer(t)}


# Households that reach every amount the screen can state (低保 gap, 资产上限, 渐退 and 低收入
# ceilings, 支出型 floor, 特困 support, 临时救助 range and advance, 就业成本扣减), each with the
# only figures that may appear: the citizen's own (per-capita income and assets, income after
# rigid expenses, the amount needed).
FAMILY = [{"age": 40, "can_work": True, "employed": True, "monthly_income": 1500},
          {"age": 75, "can_work": False, "monthly_income": 0, "disability_level": 1},
          {"age": 10, "student_stage": "compulsory", "monthly_income": 0}]
CASES = {
    "alone, no income": (dict(members=[{"age": 80, "can_work": False, "monthly_income": 0}],
                              monthly_income=0, has_capable_supporter=False, financial_assets=3000,
                              emergency={"type": "accident", "amount": 2500}),
                         {"0", "3000", "2500"}),
    "alone, some income": (dict(monthly_income=600, financial_assets=5000), {"600", "5000"}),
    "above the standard": (dict(monthly_income=900, financial_assets=5000), {"900", "5000"}),
    "well above": (dict(monthly_income=1300, financial_assets=90000), {"1300", "90000"}),
    "family": (dict(members=FAMILY, financial_assets=3000, has_capable_supporter=False,
                    rigid_expenses_monthly={"medical": 300}, housing_difficulty=True,
                    emergency={"type": "natural_disaster", "amount": 2500}),
               {"500", "1000", "400", "2500"}),
    "rigid spending": (dict(monthly_income=1500, rigid_expenses_monthly={"medical": 900}),
                       {"1500", "600"}),
    "receiving, income up": (dict(members=[{"age": 40, "can_work": True, "employed": True,
                                            "monthly_income": 1000}], receiving=["dibao"]),
                             {"1000"}),
}
# 裕安's approval tiers are stated in its document (004 四(三)2): 1000, 2000, 3000 元 and the parts
# of the amount needed that fall to each level.
STATED = {"341503": {"1000", "2000", "3000", "1500"}}


@pytest.mark.parametrize("area", ["urban", "rural"])
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("region", UNVERIFIED_STANDARD)
def test_no_yuan_figure_from_a_placeholder_standard(region, case, area):
    household, allowed = CASES[case]
    result = run(region, area, **household)
    assert yuan_figures(result) <= allowed | STATED.get(region, set()), result
    for p in result["programs"]:
        if p["program"] in ("dibao", "tekun", "low_income", "expenditure_hardship", "temporary"):
            assert p["estimated_monthly_amount"] is None, p


def test_the_placeholder_is_not_shown_in_the_warnings_either():
    for region in UNVERIFIED_STANDARD:
        assert not region_parameters(region, "2026-01-01")["dibao.standard_urban_monthly"].verified
        warnings = run(region, monthly_income=600)["warnings"]
        standard = [w for w in warnings if "城市低保标准" in w]
        assert standard and not any(YUAN.search(w) for w in standard), warnings
        assert all("12349" in w for w in standard)


def test_an_unverified_standard_states_the_rule_and_asks_to_confirm():
    result = run("320200", members=[{"age": 80, "can_work": False, "monthly_income": 0}],
                 monthly_income=0, financial_assets=6000, has_capable_supporter=False)
    dibao, tekun = program(result, "dibao"), program(result, "tekun")
    assert dibao["status"] == "possibly_eligible"  # the asset limit (24 months) is a placeholder too
    assert "低保实行差额发放：按当地低保标准与家庭人均收入的差额按月发放。" in dibao["reasons"]
    assert "您家人均存款等金融资产约6000元，没有超过当地上限（不超过当地低保标准的24个月）。" \
        in dibao["reasons"]
    assert "无锡市" + CONFIRM in dibao["reasons"]
    assert "特困人员基本生活标准不低于当地低保标准的1.5倍。" in tekun["reasons"]  # 无锡: 1.5×
    assert "无锡市" + CONFIRM in tekun["reasons"]
    low_income = program(run("320200", monthly_income=1000), "low_income")
    assert "您家人均月收入约1000元，在当地低保标准的1至2倍之间。" in low_income["reasons"]
    for reasons in (dibao["reasons"], tekun["reasons"], low_income["reasons"]):
        assert all(len(s) <= 70 for r in reasons for s in re.split(r"(?<=[。！？])", r)), reasons


def test_verified_figures_stay():
    """株洲 states its standard (700 元) and 特困 multiplier (1.3): amounts as before."""
    dibao = program(run("430200", monthly_income=600), "dibao")
    assert dibao["status"] == "likely_eligible" and dibao["estimated_monthly_amount"] == 100.0
    assert "您家人均月收入约600元，低于当地低保标准700元。" in dibao["reasons"]
    assert "按差额计算，全家每月约可领低保金100元。" in dibao["reasons"]
    assert not any(CONFIRM in r for r in dibao["reasons"])
    tekun = program(run("430200", members=[{"age": 80, "can_work": False, "monthly_income": 0}],
                        monthly_income=0, has_capable_supporter=False), "tekun")
    assert tekun["estimated_monthly_amount"] == 910.0
    assert "特困人员基本生活标准不低于当地低保标准的1.3倍，约910元/人/月。" in tekun["reasons"]


def test_a_figure_from_a_placeholder_multiplier_is_not_shown_next_to_a_verified_standard():
    """株洲's 低收入 multiplier (2×) and asset limit (24 months) are placeholders: 700 元 stays,
    1400 元 and 16800 元 do not appear, and the citizen is asked to confirm."""
    result = run("430200", monthly_income=1000, financial_assets=5000)
    low_income = program(result, "low_income")
    assert "您家人均月收入约1000元，在当地低保标准700元的1至2倍之间。" in low_income["reasons"]
    assert "您家人均存款等金融资产约5000元，没有超过当地上限（不超过当地低保标准的24个月）。" \
        in low_income["reasons"]
    assert "有关的具体金额政策文件中没有写明，请您向乡镇（街道）或拨打12349确认。" in low_income["reasons"]
    assert yuan_figures(result) <= {"1000", "5000", "700"}
    above = run("430200", monthly_income=1500)
    assert "您家人均月收入约1500元，超过了低收入家庭的上限（低保标准的2倍）。" \
        in program(above, "low_income")["reasons"]


# --- every program the inputs bear on --------------------------------------------------------
def test_tekun_for_someone_who_can_work_says_why_not():
    result = run("430200", members=[{"age": 45, "can_work": True, "monthly_income": 0}],
                 monthly_income=0, has_capable_supporter=False)
    tekun = program(result, "tekun")
    assert tekun["status"] == "not_eligible"
    assert tekun["reasons"][0] == "家中第1位成员（45岁）有劳动能力。"
    assert any("特困供养面向无劳动能力" in r for r in tekun["reasons"])
    assert tekun["department"] == "civil_affairs" and tekun["citations"]


def test_tekun_not_eligible_names_every_member_and_the_supporter():
    members = [{"age": 45, "can_work": True, "monthly_income": 0},
               {"age": 70, "can_work": False, "monthly_income": 800}]
    tekun = program(run("220000", members=members, has_capable_supporter=True), "tekun")
    assert tekun["status"] == "not_eligible"
    text = "".join(tekun["reasons"])
    assert "家中第1位成员（45岁）有劳动能力" in text
    assert "家中第2位成员（70岁）有收入" in text
    assert "有能够履行赡养、抚养、扶养义务的亲属" in text
    assert len(tekun["reasons"]) == len(set(tekun["reasons"]))


def test_tekun_asks_when_it_cannot_tell():
    result = run("430200", members=[{"age": 50, "can_work": True, "monthly_income": 0}, {}],
                 monthly_income=0)
    tekun = program(result, "tekun")
    assert tekun["status"] == "need_more_info"
    assert {"household.members[1].can_work", "household.has_capable_supporter"} <= set(result["missing"])


# --- emergencies of a type the API does not list ---------------------------------------------
@pytest.mark.parametrize("emergency", [
    {"type": "fire", "description": "家里着火了"}, {"type": "火灾"}, {"description": "家里着火了"},
    {"type": "", "description": "家里着火了"}, {},
])
def test_an_unlisted_or_missing_emergency_type_is_other(emergency):
    payload = {"region": "511700", "area": "urban", "household": {
        "members": [{"age": 45, "can_work": True, "monthly_income": 0}], "monthly_income": 3000,
        "financial_assets": 0, "emergency": emergency}}
    parsed = parse_screen_request(payload).emergency
    assert parsed.type == "other"
    assert parsed.description == (emergency.get("description") or emergency.get("type") or None)
    temporary = program(screen(payload), "temporary")
    assert temporary["status"] == "possibly_eligible"  # 其他特殊原因: the office assesses it
    assert "您家遭遇突发困难，基本生活暂时有困难，可以申请急难型临时救助。" in temporary["reasons"]


def test_a_listed_type_is_kept():
    payload = {"region": "511700", "area": "urban", "household": {
        "members": [{"age": 45}], "emergency": {"type": "natural_disaster", "description": "洪水"}}}
    assert parse_screen_request(payload).emergency.type == "natural_disaster"
