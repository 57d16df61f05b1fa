"""临时救助: 急难型 (a sudden emergency) or 支出型 (rigid spending pushes income below the
standard); the amount range (达州: 1–6 × the standard per person), 吉林's advance of one month of
the urban standard, and 裕安's approval tiers (村 ≤1000 元, 乡镇 ≤2000 元, two levels ≤3000 元)."""

from numpy import maximum, minimum, select
from openfisca_core.indexed_enums import Enum
from openfisca_core.periods import MONTH
from openfisca_core.variables import Variable

from rules.openfisca_hotline.entities import Household
from rules.openfisca_hotline.enums import ApprovalLevel, EmergencyType, TemporaryAssistanceType
from rules.openfisca_hotline.regional import region_rules


class temporary_assistance_type(Variable):
    value_type = Enum
    possible_values = TemporaryAssistanceType
    default_value = TemporaryAssistanceType.none
    entity = Household
    definition_period = MONTH
    label = "临时救助类型"
    reference = ["000_41bdac329cf45ab2.txt 三(四)17", "003_2866862d50627571.txt 二(四)12"]

    def formula(household, period):
        urgent = household("emergency_type", period) != EmergencyType.none
        expenditure = (household("rigid_expenses", period) > 0) * (
            household("per_capita_income_after_rigid_expenses", period)
            < household("dibao_standard", period))
        return select([urgent, expenditure],
                      [TemporaryAssistanceType.urgent, TemporaryAssistanceType.expenditure],
                      default=TemporaryAssistanceType.none)


def _whole_household(household, period, multiplier):
    """人均 `multiplier` × 低保标准, for the whole household, where temporary assistance applies."""
    applies = household("temporary_assistance_type", period) != TemporaryAssistanceType.none
    return applies * multiplier * household("dibao_standard", period) * household(
        "household_size", period)


class temporary_assistance_minimum(Variable):
    value_type = float
    entity = Household
    definition_period = MONTH
    label = "临时救助金额下限（全家，一次性，元）"
    reference = "002_c3dfb0ff5de59320.txt 二(二)6"

    def formula(household, period, parameters):
        temporary = region_rules(household, period, parameters).temporary
        return _whole_household(household, period, temporary.range_min_multiplier)


class temporary_assistance_maximum(Variable):
    value_type = float
    entity = Household
    definition_period = MONTH
    label = "临时救助金额上限（全家，一次性，元；必要时可一事一议提高）"
    reference = "002_c3dfb0ff5de59320.txt 二(二)6"

    def formula(household, period, parameters):
        temporary = region_rules(household, period, parameters).temporary
        return _whole_household(household, period, temporary.range_max_multiplier)


class temporary_urgent_advance(Variable):
    value_type = float
    entity = Household
    definition_period = MONTH
    label = "急难先行救助金额（元，按城市低保标准，一次性）"
    reference = "003_2866862d50627571.txt 二(四)15"
    documentation = "吉林：对申请低保、特困供养的家庭或人员，可按当地1个月城市低保标准先行给予急难临时救助。"

    def formula(household, period, parameters):
        rules = region_rules(household, period, parameters)
        urgent = household("temporary_assistance_type", period) == TemporaryAssistanceType.urgent
        return urgent * rules.temporary.urgent_advance_months * rules.dibao.standard_urban_monthly


class temporary_approval_level(Variable):
    value_type = Enum
    possible_values = ApprovalLevel
    default_value = ApprovalLevel.not_applicable
    entity = Household
    definition_period = MONTH
    label = "急难救助的审批层级"
    reference = "004_661d87b0b2d25674.txt 四(三)2"
    documentation = ("所需金额不超过1000元的由村（社）级审批；超过1000元、累计不超过3000元的"
                     "报乡镇（街）级；超过3000元的报区级。")

    def formula(household, period, parameters):
        temporary = region_rules(household, period, parameters).temporary
        amount = household("emergency_amount_needed", period)
        urgent = household("temporary_assistance_type", period) == TemporaryAssistanceType.urgent
        tiered = urgent * (temporary.village_cap > 0)
        return select(
            [~tiered, amount <= temporary.village_cap, amount <= temporary.two_level_cap],
            [ApprovalLevel.not_applicable, ApprovalLevel.village, ApprovalLevel.township],
            default=ApprovalLevel.district)


def _tiered(household, period):
    return household("temporary_approval_level", period) != ApprovalLevel.not_applicable


class temporary_village_amount(Variable):
    value_type = float
    entity = Household
    definition_period = MONTH
    label = "村（社）级急难救助金额（元，封顶）"
    reference = "004_661d87b0b2d25674.txt 四(三)2"

    def formula(household, period, parameters):
        temporary = region_rules(household, period, parameters).temporary
        return _tiered(household, period) * minimum(household("emergency_amount_needed", period),
                                                    temporary.village_cap)


class temporary_township_amount(Variable):
    value_type = float
    entity = Household
    definition_period = MONTH
    label = "乡镇（街）级急难救助金额（元，封顶）"
    reference = "004_661d87b0b2d25674.txt 四(三)2"

    def formula(household, period, parameters):
        temporary = region_rules(household, period, parameters).temporary
        above_village = maximum(household("emergency_amount_needed", period) - temporary.village_cap, 0)
        township_room = minimum(temporary.township_cap,
                                temporary.two_level_cap - temporary.village_cap)
        return _tiered(household, period) * minimum(above_village, township_room)


class temporary_district_amount(Variable):
    value_type = float
    entity = Household
    definition_period = MONTH
    label = "需报区级临时救助的金额（元，超出两级累计封顶的部分）"
    reference = "004_661d87b0b2d25674.txt 四(三)2"

    def formula(household, period, parameters):
        temporary = region_rules(household, period, parameters).temporary
        above_two_levels = household("emergency_amount_needed", period) - temporary.two_level_cap
        return _tiered(household, period) * maximum(above_two_levels, 0)
