"""特困人员救助供养: no work ability (or a minor), no income, no legal supporter able to
provide; support at least a multiple of the local 低保 standard."""

from openfisca_core.periods import MONTH
from openfisca_core.variables import Variable

from rules.openfisca_hotline.entities import Household, Person
from rules.openfisca_hotline.regional import region_rules


class tekun_no_work_ability(Variable):
    value_type = bool
    entity = Person
    definition_period = MONTH
    label = "无劳动能力（未满18周岁的未成年人视为无劳动能力）"
    reference = ["003_2866862d50627571.txt 二(一)2", "003_2866862d50627571.txt 二(二)4"]

    def formula(person, period):
        return person("is_minor", period) + ~person("can_work", period)


class tekun_no_income(Variable):
    value_type = bool
    entity = Person
    definition_period = MONTH
    label = "无生活来源（本人没有收入）"
    reference = "003_2866862d50627571.txt 二(一)2"

    def formula(person, period):
        return person("monthly_income", period) == 0


class tekun_eligible(Variable):
    value_type = bool
    entity = Person
    definition_period = MONTH
    label = "符合特困人员救助供养条件"
    reference = ["003_2866862d50627571.txt 二(一)2", "000_41bdac329cf45ab2.txt 三(二)5"]
    documentation = ("无劳动能力、无生活来源、无法定赡养抚养扶养义务人或者其法定义务人无履行义务能力；"
                     "财产状况按低保、特困和低收入家庭统一的标准核算。")

    def formula(person, period):
        no_supporter = ~person.household("has_capable_supporter", period)
        return (person("tekun_no_work_ability", period) * person("tekun_no_income", period)
                * no_supporter * person.household("assets_within_limit", period))


class tekun_eligible_persons(Variable):
    value_type = int
    entity = Household
    definition_period = MONTH
    label = "家中符合特困供养条件的人数"

    def formula(household, period):
        return household.sum(household.members("tekun_eligible", period))


class tekun_support_standard(Variable):
    value_type = float
    entity = Household
    definition_period = MONTH
    label = "特困人员基本生活标准下限（分散供养，元/月/人）"
    reference = ["000_41bdac329cf45ab2.txt 三(二)6", "001_70129cb6b9c84072.txt 一",
                 "002_c3dfb0ff5de59320.txt 二(二)5", "003_2866862d50627571.txt 二(二)3"]

    def formula(household, period, parameters):
        multiplier = region_rules(household, period, parameters).tekun.multiplier
        return multiplier * household("dibao_standard", period)


class tekun_support_standard_centralized(Variable):
    value_type = float
    entity = Household
    definition_period = MONTH
    label = "特困人员基本生活标准下限（集中供养，元/月/人）"
    reference = "003_2866862d50627571.txt 二(二)3"

    def formula(household, period, parameters):
        multiplier = region_rules(household, period, parameters).tekun.multiplier_centralized
        return multiplier * household("dibao_standard", period)


class tekun_monthly_amount(Variable):
    value_type = float
    entity = Household
    definition_period = MONTH
    label = "估算特困供养基本生活金（分散供养，元/月，按标准下限）"

    def formula(household, period):
        return household("tekun_eligible_persons", period) * household("tekun_support_standard", period)
