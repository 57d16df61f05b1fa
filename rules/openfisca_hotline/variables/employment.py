"""就业救助 (人社部门): members of assisted households who can work but have no job."""

from openfisca_core.periods import MONTH
from openfisca_core.variables import Variable

from rules.openfisca_hotline.entities import Household, Person
from rules.openfisca_hotline.enums import StudentStage


class unemployed_able_to_work(Variable):
    value_type = bool
    entity = Person
    definition_period = MONTH
    label = "有劳动能力、处于失业状态的成年人（不含在校学生）"
    reference = ["004_661d87b0b2d25674.txt 四(二)", "000_41bdac329cf45ab2.txt 三(三)11"]

    def formula(person, period):
        not_student = person("student_stage", period) == StudentStage.none
        return (person("can_work", period) * ~person("employed", period) * not_student
                * ~person("is_minor", period))


class zero_employment_household(Variable):
    value_type = bool
    entity = Household
    definition_period = MONTH
    label = "零就业家庭（有劳动能力的成员都没有就业）"
    reference = ["000_41bdac329cf45ab2.txt 三(三)11", "003_2866862d50627571.txt 二(三)10"]

    def formula(household, period):
        return household.any(household.members("unemployed_able_to_work", period)) * ~household(
            "has_employed_member", period)


class employment_assistance_eligible(Variable):
    value_type = bool
    entity = Person
    definition_period = MONTH
    label = "可申请就业救助"
    reference = ["004_661d87b0b2d25674.txt 四(二)", "003_2866862d50627571.txt 二(三)10",
                 "000_41bdac329cf45ab2.txt 三(三)11"]

    def formula(person, period):
        return person("unemployed_able_to_work", period) * person.household(
            "special_assistance_household", period)
