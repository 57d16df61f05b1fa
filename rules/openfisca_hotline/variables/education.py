"""教育救助 (教育部门), by school stage."""

from openfisca_core.periods import MONTH
from openfisca_core.variables import Variable

from rules.openfisca_hotline.entities import Person
from rules.openfisca_hotline.enums import StudentStage


class education_assistance_eligible(Variable):
    value_type = bool
    entity = Person
    definition_period = MONTH
    label = "可申请教育救助（困难家庭的在校学生）"
    reference = ["000_41bdac329cf45ab2.txt 三(三)9", "003_2866862d50627571.txt 二(三)8",
                 "004_661d87b0b2d25674.txt 四(二)"]

    def formula(person, period):
        student = person("student_stage", period) != StudentStage.none
        return student * person.household("special_assistance_household", period)
