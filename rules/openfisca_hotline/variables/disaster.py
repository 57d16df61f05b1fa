"""受灾人员救助 (应急管理部门)."""

from openfisca_core.periods import MONTH
from openfisca_core.variables import Variable

from rules.openfisca_hotline.entities import Household
from rules.openfisca_hotline.enums import EmergencyType


class disaster_assistance_eligible(Variable):
    value_type = bool
    entity = Household
    definition_period = MONTH
    label = "可申请受灾人员救助（基本生活受到自然灾害影响）"
    reference = ["000_41bdac329cf45ab2.txt 三(三)12", "003_2866862d50627571.txt 二(四)13",
                 "004_661d87b0b2d25674.txt 四(二)"]

    def formula(household, period):
        return household("emergency_type", period) == EmergencyType.natural_disaster
