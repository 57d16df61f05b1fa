"""住房救助 (住建、房管部门)."""

from openfisca_core.periods import MONTH
from openfisca_core.variables import Variable

from rules.openfisca_hotline.entities import Household


class housing_assistance_eligible(Variable):
    value_type = bool
    entity = Household
    definition_period = MONTH
    label = "可申请住房救助（住房困难的困难家庭）"
    reference = ["000_41bdac329cf45ab2.txt 三(三)10", "003_2866862d50627571.txt 二(三)9",
                 "004_661d87b0b2d25674.txt 四(二)"]

    def formula(household, period):
        return household("housing_difficulty", period) * household(
            "special_assistance_household", period)
