"""What a household tells us, and the totals the rules are built on (收入、财产按户合计、按人均比较)."""

from numpy import maximum
from openfisca_core.indexed_enums import Enum
from openfisca_core.periods import MONTH
from openfisca_core.variables import Variable

from rules.openfisca_hotline.entities import Household
from rules.openfisca_hotline.enums import Area, EmergencyType, Region


class region(Variable):
    value_type = Enum
    possible_values = Region
    default_value = Region.wuxi_320200
    entity = Household
    definition_period = MONTH
    label = "所在地区（行政区划）"


class area(Variable):
    value_type = Enum
    possible_values = Area
    default_value = Area.urban
    entity = Household
    definition_period = MONTH
    label = "城市或农村（决定适用城市还是农村低保标准）"


class household_gross_income(Variable):
    value_type = float
    entity = Household
    definition_period = MONTH
    label = "家庭月收入合计（扣减前，元）"
    documentation = "申请人可以直接告知家庭合计；没有告知时，按各成员月收入相加。"

    def formula(household, period):
        return household.sum(household.members("monthly_income", period))


class financial_assets(Variable):
    value_type = float
    entity = Household
    definition_period = MONTH
    label = "家庭金融资产（现金、存款、有价证券、债权，元）"
    reference = "003_2866862d50627571.txt 二(二)4"


class medical_expenses(Variable):
    value_type = float
    entity = Household
    definition_period = MONTH
    label = "每月基本医疗必需支出（元）"
    reference = "003_2866862d50627571.txt 二(一)1"


class education_expenses(Variable):
    value_type = float
    entity = Household
    definition_period = MONTH
    label = "每月基本教育必需支出（元）"
    reference = "003_2866862d50627571.txt 二(一)1"


class care_expenses(Variable):
    value_type = float
    entity = Household
    definition_period = MONTH
    label = "每月基本照护必需支出（元）"
    reference = "003_2866862d50627571.txt 二(一)1"


class has_capable_supporter(Variable):
    value_type = bool
    default_value = True
    entity = Household
    definition_period = MONTH
    label = "有具备履行能力的法定赡养、抚养、扶养义务人"
    reference = "003_2866862d50627571.txt 二(一)2"


class receiving_dibao(Variable):
    value_type = bool
    entity = Household
    definition_period = MONTH
    label = "目前正在享受低保"


class receiving_tekun(Variable):
    value_type = bool
    entity = Household
    definition_period = MONTH
    label = "家中有人目前正在享受特困供养"


class receiving_low_income(Variable):
    value_type = bool
    entity = Household
    definition_period = MONTH
    label = "目前已被认定为低收入（低保边缘）家庭"


class housing_difficulty(Variable):
    value_type = bool
    entity = Household
    definition_period = MONTH
    label = "住房困难"


class emergency_type(Variable):
    value_type = Enum
    possible_values = EmergencyType
    default_value = EmergencyType.none
    entity = Household
    definition_period = MONTH
    label = "遭遇的急难情况"
    reference = "003_2866862d50627571.txt 二(一)1"


class emergency_amount_needed(Variable):
    value_type = float
    entity = Household
    definition_period = MONTH
    label = "急难情况下需要的救助金额（元，一次性）"


class household_size(Variable):
    value_type = int
    entity = Household
    definition_period = MONTH
    label = "共同生活的家庭成员人数"

    def formula(household, period):
        return household.nb_persons()


class employment_cost_deductions(Variable):
    value_type = float
    entity = Household
    definition_period = MONTH
    label = "家庭就业成本扣减合计（元/月）"

    def formula(household, period):
        return household.sum(household.members("employment_cost_deduction", period))


class countable_income(Variable):
    value_type = float
    entity = Household
    definition_period = MONTH
    label = "核算的家庭月收入（扣减就业成本后，元）"
    documentation = "扣减不会使家庭收入低于0。"

    def formula(household, period):
        gross = household("household_gross_income", period)
        return maximum(gross - household("employment_cost_deductions", period), 0)


class per_capita_income(Variable):
    value_type = float
    entity = Household
    definition_period = MONTH
    label = "家庭人均月收入（核算后，元）"

    def formula(household, period):
        return household("countable_income", period) / household("household_size", period)


class per_capita_financial_assets(Variable):
    value_type = float
    entity = Household
    definition_period = MONTH
    label = "家庭人均金融资产（元）"
    reference = "003_2866862d50627571.txt 二(二)4"

    def formula(household, period):
        return household("financial_assets", period) / household("household_size", period)


class rigid_expenses(Variable):
    value_type = float
    entity = Household
    definition_period = MONTH
    label = "每月基本医疗、基本教育、基本照护等必需支出合计（元）"
    reference = "003_2866862d50627571.txt 二(一)1"

    def formula(household, period):
        return (household("medical_expenses", period) + household("education_expenses", period)
                + household("care_expenses", period))


class per_capita_income_after_rigid_expenses(Variable):
    value_type = float
    entity = Household
    definition_period = MONTH
    label = "扣减必需支出后的家庭人均月收入（元）"
    reference = "003_2866862d50627571.txt 二(一)1"

    def formula(household, period):
        remaining = household("countable_income", period) - household("rigid_expenses", period)
        return maximum(remaining, 0) / household("household_size", period)


class has_disabled_member(Variable):
    value_type = bool
    entity = Household
    definition_period = MONTH
    label = "家中有残疾人（残疾人家庭）"

    def formula(household, period):
        return household.any(household.members("disability_level", period) > 0)


class has_employed_member(Variable):
    value_type = bool
    entity = Household
    definition_period = MONTH
    label = "家中有已就业的成员"

    def formula(household, period):
        return household.any(household.members("employed", period))
