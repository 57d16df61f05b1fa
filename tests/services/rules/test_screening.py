"""The screen's program logic without HTTP: routes, statuses, reasons, warnings."""

from __future__ import annotations

from openfisca_core.simulations import SimulationBuilder

from rules.eligibility import screen
from rules.openfisca_hotline import CountryTaxBenefitSystem


def run(region="430200", area="urban", members=None, **household):
    household.setdefault("financial_assets", 0)
    members = members or [{"age": 45, "can_work": True, "monthly_income": 0}]
    return screen({"region": region, "area": area, "as_of": "2026-01-10",
                   "household": {"members": members, **household}})


def program(result, name):
    return next(p for p in result["programs"] if p["program"] == name)


def names(result):
    return [p["program"] for p in result["programs"]]


def test_only_programs_the_inputs_bear_on_appear():
    # 低保、特困 and 低收入 are always answered (every household has members and an income);
    # the others appear when the inputs bear on them.
    plain = run(monthly_income=3000)
    assert names(plain) == ["dibao", "tekun", "low_income", "employment"]
    busy = run(members=[{"age": 45, "can_work": True, "employed": True, "monthly_income": 3000}],
               monthly_income=3000)
    assert names(busy) == ["dibao", "tekun", "low_income"]
    full = run(members=[{"age": 8, "student_stage": "compulsory", "disability_level": 2,
                         "monthly_income": 0}],
               monthly_income=0, rigid_expenses_monthly={"medical": 100},
               housing_difficulty=True, emergency={"type": "natural_disaster"})
    assert names(full) == ["dibao", "tekun", "low_income", "expenditure_hardship", "temporary",
                           "medical", "education", "housing", "disability", "disaster"]


def test_no_deduction_no_warning_for_a_fully_stated_case():
    result = run(monthly_income=600)
    assert program(result, "dibao")["status"] == "likely_eligible"
    assert result["warnings"] == []


def test_employment_deduction_wuxi_changes_the_answer():
    members = [{"age": 40, "can_work": True, "employed": True, "monthly_income": 1500},
               {"age": 38, "can_work": False, "monthly_income": 0}]
    dibao = program(run(region="320200", members=members), "dibao")
    # 750 元 per head is not below 700 元, but 750 − 30% of the standard is: the deduction decides
    assert dibao["status"] == "possibly_eligible"  # 无锡's standard itself is a placeholder
    # 30% of a placeholder standard is no amount to state: the rule is, and the income before it
    assert dibao["estimated_monthly_amount"] is None
    assert "您家人均月收入约750元（就业成员的收入还可扣减低保标准的30%作为就业成本），低于当地低保标准。" \
        in dibao["reasons"]
    assert not any("210" in r or "110" in r for r in dibao["reasons"])


def test_employment_deduction_figures_once_the_standard_is_verified(monkeypatch):
    """An operator who sets 无锡's standard (verified: true) gets the figures back."""
    import dataclasses

    from rules import eligibility
    real = eligibility.region_parameters

    def verified_standard(code, instant):
        params = dict(real(code, instant))
        for path in ("dibao.standard_urban_monthly", "dibao.standard_rural_yearly"):
            params[path] = dataclasses.replace(params[path], verified=True,
                                               reference="000_41bdac329cf45ab2.txt 三(二)6")
        return params

    monkeypatch.setattr(eligibility, "region_parameters", verified_standard)
    members = [{"age": 40, "can_work": True, "employed": True, "monthly_income": 1500},
               {"age": 38, "can_work": False, "monthly_income": 0}]
    dibao = program(run(region="320200", members=members), "dibao")
    assert dibao["status"] == "likely_eligible"
    assert dibao["estimated_monthly_amount"] == 110.0  # (700 − (1500 − 210) / 2) × 2
    assert dibao["reasons"][0] == "您家人均月收入约645元（已扣除就业成本210元），低于当地低保标准700元。"
    assert "按差额计算，全家每月约可领低保金110元。" in dibao["reasons"]


def test_dazhou_deduction_warns_that_the_minimum_wage_is_not_set():
    members = [{"age": 40, "can_work": True, "employed": True, "monthly_income": 650}]
    result = run(region="511700", members=members)
    assert any("达州市的最低工资标准" in w for w in result["warnings"])


def test_phase_out_is_the_route_taken_for_a_current_recipient():
    members = [{"age": 40, "can_work": True, "employed": True, "monthly_income": 1000}]
    dibao = program(run(region="220000", members=members, receiving=["dibao"]), "dibao")
    assert dibao["status"] == "possibly_eligible"
    assert any("18个月" in r for r in dibao["reasons"])
    disabled = [{"age": 40, "can_work": True, "employed": True, "monthly_income": 1600},
                {"age": 70, "can_work": False, "monthly_income": 0, "disability_level": 4}]
    dibao = program(run(region="220000", members=disabled, receiving=["dibao"]), "dibao")
    assert any("24个月" in r for r in dibao["reasons"])
    dazhou = program(run(region="511700", members=members, receiving=["dibao"]), "dibao")
    assert any("6个月" in r for r in dazhou["reasons"]) and any("12个月" in r for r in dazhou["reasons"])


def test_single_person_route_for_a_severely_disabled_member():
    members = [{"age": 30, "can_work": False, "monthly_income": 0, "disability_level": 1},
               {"age": 55, "can_work": True, "monthly_income": 1600}]
    result = run(region="430200", members=members, has_capable_supporter=True)
    dibao = program(result, "dibao")
    assert dibao["status"] == "possibly_eligible"  # 经本人申请，可单独纳入
    assert any("单独纳入低保" in r for r in dibao["reasons"])
    assert dibao["estimated_monthly_amount"] is None
    assert program(result, "low_income")["status"] == "possibly_eligible"  # 2× is not stated for 株洲


def test_exactly_at_the_standard_is_not_dibao_but_low_income():
    result = run(region="320200", monthly_income=700)
    assert program(result, "dibao")["status"] == "not_eligible"
    assert program(result, "low_income")["status"] == "possibly_eligible"


def test_zero_income_is_below_any_standard():
    result = run(region="341503", monthly_income=0)
    dibao = program(result, "dibao")
    assert dibao["status"] == "likely_eligible"  # no value of the standard changes this
    assert any("城市低保标准" in w for w in result["warnings"])  # the amount rests on it


def test_expenditure_hardship_in_jilin():
    result = run(region="220000", monthly_income=1500, rigid_expenses_monthly={"medical": 900})
    hardship = program(result, "expenditure_hardship")
    assert hardship["status"] == "possibly_eligible"  # 上年度人均可支配收入 is not stated
    assert any("可支配收入" in w for w in result["warnings"])
    temporary = program(result, "temporary")
    assert temporary["status"] == "possibly_eligible"  # 支出型: 审核确认


def test_tekun_asks_for_work_ability_when_no_one_supports():
    result = run(members=[{"age": 50, "monthly_income": 0}], monthly_income=0,
                 has_capable_supporter=False)
    assert program(result, "tekun")["status"] == "need_more_info"
    assert "household.members[0].can_work" in result["missing"]


def test_minor_orphan_is_likely_tekun():
    result = run(region="320200", members=[{"age": 12, "monthly_income": 0}], monthly_income=0,
                 has_capable_supporter=False)
    tekun = program(result, "tekun")
    assert tekun["status"] == "likely_eligible"
    assert any("未满18周岁" in r for r in tekun["reasons"])


def test_other_emergency_is_only_possibly():
    result = run(monthly_income=3000, emergency={"type": "other", "description": "钱包被偷"})
    assert program(result, "temporary")["status"] == "possibly_eligible"


def test_education_names_the_measure_for_the_stage():
    members = [{"age": 16, "student_stage": "high_school", "monthly_income": 0},
               {"age": 45, "can_work": False, "monthly_income": 0}]
    education = program(run(region="320200", members=members), "education")
    assert any("高中阶段减免学费、发放助学金" in r for r in education["reasons"])


def test_special_programs_are_not_eligible_outside_the_categories():
    members = [{"age": 45, "can_work": True, "monthly_income": 5000, "serious_illness": True}]
    medical = program(run(members=members), "medical")
    assert medical["status"] == "not_eligible"
    assert any("临时救助" in r for r in medical["reasons"])


def test_warnings_are_plain_chinese_and_unique():
    result = run(region="511700", monthly_income=800,
                 members=[{"age": 40, "can_work": True, "employed": True, "monthly_income": 800}],
                 rigid_expenses_monthly={"medical": 500}, emergency={"type": "accident"})
    warnings = result["warnings"]
    assert warnings and len(warnings) == len(set(warnings))
    assert all(w.startswith("达州市的") and "政策文件中没有写明" in w for w in warnings)


def test_configured_disposable_income_caps_expenditure_hardship():
    """Once an operator sets 吉林's per-capita disposable income, the upper bound applies."""
    tbs = CountryTaxBenefitSystem()
    tbs.parameters.regions.jilin_220000.expenditure_hardship.disposable_income_yearly.update(
        period="2025-01", value=18000)  # 1500 元/月
    situation = {"persons": {"p": {}}, "households": {"h": {
        "members": ["p"], "region": {"2025-01": "jilin_220000"},
        "household_gross_income": {"2025-01": 1500}, "medical_expenses": {"2025-01": 900}}}}
    simulation = SimulationBuilder().build_from_entities(tbs, situation)
    assert not simulation.calculate("expenditure_hardship_eligible", "2025-01")[0]
    situation["households"]["h"]["household_gross_income"] = {"2025-01": 1450}
    simulation = SimulationBuilder().build_from_entities(tbs, situation)
    assert simulation.calculate("expenditure_hardship_eligible", "2025-01")[0]
