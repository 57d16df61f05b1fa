"""最低生活保障（低保）: per-capita income below the local standard and financial assets within
the limit; paid as the gap to the standard; a phase-out period after income rises; and the
“单人户” route for severely disabled or seriously ill members of low-income households."""

from numpy import maximum, where
from openfisca_core.periods import MONTH
from openfisca_core.variables import Variable

from rules.openfisca_hotline.entities import Household, Person
from rules.openfisca_hotline.enums import Area, DisabilityCategory
from rules.openfisca_hotline.regional import region_rules

PHASE_OUT_REFERENCES = ["000_41bdac329cf45ab2.txt 三(三)11", "002_c3dfb0ff5de59320.txt 二(二)4",
                        "003_2866862d50627571.txt 二(二)5"]


class dibao_standard(Variable):
    value_type = float
    entity = Household
    definition_period = MONTH
    label = "当地低保标准（按城市或农村，元/月）"
    reference = ["001_70129cb6b9c84072.txt 一", "000_41bdac329cf45ab2.txt 三(二)6"]
    documentation = "农村标准按年公布的，除以12折算为每月。"

    def formula(household, period, parameters):
        dibao = region_rules(household, period, parameters).dibao
        rural = household("area", period) == Area.rural
        return where(rural, dibao.standard_rural_yearly / 12, dibao.standard_urban_monthly)


class asset_limit_per_capita(Variable):
    value_type = float
    entity = Household
    definition_period = MONTH
    label = "人均金融资产上限（元）"
    reference = "003_2866862d50627571.txt 二(二)4"

    def formula(household, period, parameters):
        months = region_rules(household, period, parameters).asset_limit_months
        return months * household("dibao_standard", period)


class assets_within_limit(Variable):
    value_type = bool
    entity = Household
    definition_period = MONTH
    label = "人均金融资产不超过上限"
    reference = "003_2866862d50627571.txt 二(二)4"
    documentation = "“不超过”：恰好等于上限的，符合条件。"

    def formula(household, period):
        per_capita = household("per_capita_financial_assets", period)
        return per_capita <= household("asset_limit_per_capita", period)


class dibao_income_below_standard(Variable):
    value_type = bool
    entity = Household
    definition_period = MONTH
    label = "家庭人均收入低于当地低保标准"
    reference = "003_2866862d50627571.txt 二(一)2"
    documentation = "“低于”：恰好等于标准的，不符合低保的收入条件（属于低收入家庭的收入范围）。"

    def formula(household, period):
        return household("per_capita_income", period) < household("dibao_standard", period)


class dibao_eligible(Variable):
    value_type = bool
    entity = Household
    definition_period = MONTH
    label = "符合低保条件（按户）"
    reference = "003_2866862d50627571.txt 二(一)2"

    def formula(household, period):
        return household("dibao_income_below_standard", period) * household(
            "assets_within_limit", period)


class dibao_monthly_amount(Variable):
    value_type = float
    entity = Household
    definition_period = MONTH
    label = "估算低保金（元/月）：人均收入与低保标准的差额 × 家庭人数"
    reference = "003_2866862d50627571.txt 二(二)5"

    def formula(household, period):
        gap = maximum(household("dibao_standard", period) - household("per_capita_income", period), 0)
        return household("dibao_eligible", period) * gap * household("household_size", period)


class dibao_phase_out_income_ceiling(Variable):
    value_type = float
    entity = Household
    definition_period = MONTH
    label = "适用渐退期的家庭人均收入上限（元/月，0 表示不设上限）"
    reference = PHASE_OUT_REFERENCES

    def formula(household, period, parameters):
        multiplier = region_rules(household, period, parameters).phase_out.income_max_multiplier
        return multiplier * household("dibao_standard", period)


class dibao_phase_out_income_in_band(Variable):
    value_type = bool
    entity = Household
    definition_period = MONTH
    label = "家庭人均收入已不低于低保标准，但在当地渐退期的收入上限以内"
    reference = PHASE_OUT_REFERENCES

    def formula(household, period, parameters):
        phase_out = region_rules(household, period, parameters).phase_out
        per_capita = household("per_capita_income", period)
        ceiling = household("dibao_phase_out_income_ceiling", period)
        under_ceiling = where(phase_out.includes_upper_bound, per_capita <= ceiling,
                              per_capita < ceiling)
        no_ceiling = ceiling == 0
        return (per_capita >= household("dibao_standard", period)) * (no_ceiling + under_ceiling)


class dibao_phase_out_applicable(Variable):
    value_type = bool
    entity = Household
    definition_period = MONTH
    label = "正在享受低保的家庭收入增加后，可享受低保渐退期"
    reference = PHASE_OUT_REFERENCES
    documentation = "无锡、达州只适用于就业后收入增加的家庭；吉林不要求就业。"

    def formula(household, period, parameters):
        requires_employment = region_rules(household, period, parameters).phase_out.requires_employment
        employment_ok = ~requires_employment + household("has_employed_member", period)
        return (household("receiving_dibao", period)
                * household("dibao_phase_out_income_in_band", period)
                * household("assets_within_limit", period) * employment_ok)


class dibao_phase_out_months(Variable):
    value_type = int
    entity = Household
    definition_period = MONTH
    label = "低保渐退期（月）"
    reference = PHASE_OUT_REFERENCES
    documentation = "吉林：残疾人低保家庭24个月，其他18个月。达州特殊情况可延长至12个月（不在此计算）。"

    def formula(household, period, parameters):
        phase_out = region_rules(household, period, parameters).phase_out
        months = where(household("has_disabled_member", period),
                       phase_out.months_disabled_household, phase_out.months)
        return household("dibao_phase_out_applicable", period) * months


class dibao_single_person_condition(Variable):
    value_type = bool
    entity = Person
    definition_period = MONTH
    label = "本人属于可单独纳入低保的重度残疾人或重病患者"
    reference = ["000_41bdac329cf45ab2.txt 三(二)4", "003_2866862d50627571.txt 二(二)5",
                 "001_70129cb6b9c84072.txt 一"]
    documentation = "无锡：一级、二级重度残疾人，三级智力、精神残疾人，门诊特殊病种人员。"

    def formula(person, period, parameters):
        single = region_rules(person.household, period, parameters).single_person
        category = person("disability_category", period)
        level3_intellectual_mental = (
            (person("disability_level", period) == 3)
            * ((category == DisabilityCategory.intellectual) + (category == DisabilityCategory.mental))
            * single.includes_level3_intellectual_mental)
        return (person("severely_disabled", period) + level3_intellectual_mental
                + person("serious_illness", period))


class dibao_single_person_inclusion(Variable):
    value_type = bool
    entity = Person
    definition_period = MONTH
    label = "可申请参照“单人户”单独纳入低保"
    reference = ["000_41bdac329cf45ab2.txt 三(二)4", "003_2866862d50627571.txt 二(二)5",
                 "001_70129cb6b9c84072.txt 一"]

    def formula(person, period, parameters):
        allowed = region_rules(person.household, period, parameters).single_person.allowed
        return (allowed * person.household("low_income_eligible", period)
                * person("dibao_single_person_condition", period))
