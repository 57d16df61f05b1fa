"""What we know about each household member."""

from openfisca_core.indexed_enums import Enum
from openfisca_core.periods import MONTH
from openfisca_core.variables import Variable

from rules.openfisca_hotline.entities import Person
from rules.openfisca_hotline.enums import DisabilityCategory, StudentStage
from rules.openfisca_hotline.regional import region_rules


class age(Variable):
    value_type = int
    default_value = 30
    entity = Person
    definition_period = MONTH
    label = "年龄（周岁）"


class can_work(Variable):
    value_type = bool
    default_value = True
    entity = Person
    definition_period = MONTH
    label = "有劳动能力"


class monthly_income(Variable):
    value_type = float
    entity = Person
    definition_period = MONTH
    label = "个人月收入（元）"


class disability_level(Variable):
    value_type = int
    entity = Person
    definition_period = MONTH
    label = "残疾等级（1–4 级，0 表示没有残疾）"


class disability_category(Variable):
    value_type = Enum
    possible_values = DisabilityCategory
    default_value = DisabilityCategory.unknown
    entity = Person
    definition_period = MONTH
    label = "残疾类别"


class serious_illness(Variable):
    value_type = bool
    entity = Person
    definition_period = MONTH
    label = "患重病（含医院认定的门诊特殊病种、慢特病）"
    reference = ["000_41bdac329cf45ab2.txt 三(二)4", "003_2866862d50627571.txt 二(一)1"]


class employed(Variable):
    value_type = bool
    entity = Person
    definition_period = MONTH
    label = "已就业"


class student_stage(Variable):
    value_type = Enum
    possible_values = StudentStage
    default_value = StudentStage.none
    entity = Person
    definition_period = MONTH
    label = "在读学段"


class is_minor(Variable):
    value_type = bool
    entity = Person
    definition_period = MONTH
    label = "未成年人（未满18周岁）"
    reference = ["000_41bdac329cf45ab2.txt 三(二)5", "003_2866862d50627571.txt 二(二)4"]

    def formula(person, period, parameters):
        return person("age", period) < parameters(period).minor_age


class severely_disabled(Variable):
    value_type = bool
    entity = Person
    definition_period = MONTH
    label = "重度残疾（一级、二级）"
    reference = "000_41bdac329cf45ab2.txt 三(二)4"

    def formula(person, period, parameters):
        level = person("disability_level", period)
        max_level = region_rules(person.household, period, parameters).severe_disability_max_level
        return (level >= 1) * (level <= max_level)


class employment_cost_deduction(Variable):
    value_type = float
    entity = Person
    definition_period = MONTH
    label = "就业成本扣减（每名已就业成员，元/月）"
    reference = ["000_41bdac329cf45ab2.txt 三(三)11", "002_c3dfb0ff5de59320.txt 二(二)4"]
    documentation = "无锡：按低保标准的30%扣减；达州：按最低工资标准的25%扣减。"

    def formula(person, period, parameters):
        rules = region_rules(person.household, period, parameters)
        share = rules.employment_deduction
        amount = (share.share_of_dibao_standard * person.household("dibao_standard", period)
                  + share.share_of_minimum_wage * rules.minimum_wage_monthly)
        return person("employed", period) * amount
