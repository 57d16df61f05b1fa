"""医疗救助 (医保部门)."""

from openfisca_core.periods import MONTH
from openfisca_core.variables import Variable

from rules.openfisca_hotline.entities import Household


class medical_need(Variable):
    value_type = bool
    entity = Household
    definition_period = MONTH
    label = "家中有重病患者或有医疗支出"

    def formula(household, period):
        return (household("medical_expenses", period) > 0) + household.any(
            household.members("serious_illness", period))


class medical_assistance_eligible(Variable):
    value_type = bool
    entity = Household
    definition_period = MONTH
    label = "可申请医疗救助"
    reference = ["000_41bdac329cf45ab2.txt 三(三)8", "003_2866862d50627571.txt 二(三)7",
                 "004_661d87b0b2d25674.txt 四(二)"]

    def formula(household, period):
        return household("medical_need", period) * household("special_assistance_household", period)
