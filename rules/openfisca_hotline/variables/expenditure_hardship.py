"""支出型困难家庭 (吉林's definition, 003 二(一)1): per-capita income at least twice the 低保
standard but below last year's local per-capita disposable income, and below the standard once
basic medical, education and care spending is deducted."""

from openfisca_core.periods import MONTH
from openfisca_core.variables import Variable

from rules.openfisca_hotline.entities import Household
from rules.openfisca_hotline.regional import region_rules


class expenditure_hardship_income_floor(Variable):
    value_type = float
    entity = Household
    definition_period = MONTH
    label = "支出型困难家庭人均收入下限（低保标准的2倍，元/月）"
    reference = "003_2866862d50627571.txt 二(一)1"

    def formula(household, period, parameters):
        multiplier = region_rules(household, period, parameters).expenditure_hardship.income_min_multiplier
        return multiplier * household("dibao_standard", period)


class expenditure_hardship_above_floor(Variable):
    value_type = bool
    entity = Household
    definition_period = MONTH
    label = "家庭人均收入达到低保标准2倍（含）"
    reference = "003_2866862d50627571.txt 二(一)1"

    def formula(household, period):
        floor = household("expenditure_hardship_income_floor", period)
        return household("per_capita_income", period) >= floor


class expenditure_hardship_below_disposable_income(Variable):
    value_type = bool
    entity = Household
    definition_period = MONTH
    label = "家庭人均收入低于上年度当地居民人均可支配收入"
    reference = "003_2866862d50627571.txt 二(一)1"
    documentation = "当地居民人均可支配收入未配置（为0）时，不检查这一上限。"

    def formula(household, period, parameters):
        disposable = region_rules(household, period, parameters).expenditure_hardship.disposable_income_yearly
        return (disposable == 0) + (household("per_capita_income", period) * 12 < disposable)


class expenditure_hardship_income_in_band(Variable):
    value_type = bool
    entity = Household
    definition_period = MONTH
    label = "家庭人均收入达到低保标准2倍（含），且低于上年度当地居民人均可支配收入"
    reference = "003_2866862d50627571.txt 二(一)1"

    def formula(household, period):
        return household("expenditure_hardship_above_floor", period) * household(
            "expenditure_hardship_below_disposable_income", period)


class expenditure_hardship_below_standard_after_expenses(Variable):
    value_type = bool
    entity = Household
    definition_period = MONTH
    label = "扣减基本医疗、基本教育、基本照护等必需支出后，人均收入低于低保标准"
    reference = "003_2866862d50627571.txt 二(一)1"

    def formula(household, period):
        after = household("per_capita_income_after_rigid_expenses", period)
        return after < household("dibao_standard", period)


class expenditure_hardship_eligible(Variable):
    value_type = bool
    entity = Household
    definition_period = MONTH
    label = "符合支出型困难家庭条件"
    reference = "003_2866862d50627571.txt 二(一)1"

    def formula(household, period):
        return household("expenditure_hardship_income_in_band", period) * household(
            "expenditure_hardship_below_standard_after_expenses", period)
