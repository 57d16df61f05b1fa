"""低收入家庭（低保边缘家庭）: per-capita income from the 低保 standard up to a multiple of it,
financial assets within the same limit as 低保."""

from numpy import where
from openfisca_core.periods import MONTH
from openfisca_core.variables import Variable

from rules.openfisca_hotline.entities import Household
from rules.openfisca_hotline.regional import region_rules


class low_income_ceiling(Variable):
    value_type = float
    entity = Household
    definition_period = MONTH
    label = "低收入家庭人均收入上限（元/月）"
    reference = ["000_41bdac329cf45ab2.txt 三(一)1", "003_2866862d50627571.txt 二(一)1"]

    def formula(household, period, parameters):
        multiplier = region_rules(household, period, parameters).low_income.multiplier
        return multiplier * household("dibao_standard", period)


class low_income_income_in_band(Variable):
    value_type = bool
    entity = Household
    definition_period = MONTH
    label = "家庭人均收入不低于低保标准、且在低收入上限以内"
    reference = ["000_41bdac329cf45ab2.txt 三(一)1", "003_2866862d50627571.txt 二(一)1"]
    documentation = ("下限与低保衔接：人均收入不低于低保标准"
                     "（吉林文件写“高于”，按与低保“低于”标准衔接理解）。"
                     "上限：无锡“2倍以下”包括2倍，吉林“低于2倍”不包括2倍。")

    def formula(household, period, parameters):
        includes_upper = region_rules(household, period, parameters).low_income.includes_upper_bound
        per_capita = household("per_capita_income", period)
        ceiling = household("low_income_ceiling", period)
        under_ceiling = where(includes_upper, per_capita <= ceiling, per_capita < ceiling)
        return (per_capita >= household("dibao_standard", period)) * under_ceiling


class low_income_eligible(Variable):
    value_type = bool
    entity = Household
    definition_period = MONTH
    label = "符合低收入家庭条件"
    reference = ["000_41bdac329cf45ab2.txt 三(一)1", "003_2866862d50627571.txt 二(一)1"]

    def formula(household, period):
        return household("low_income_income_in_band", period) * household(
            "assets_within_limit", period)
