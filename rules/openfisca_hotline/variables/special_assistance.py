"""Who may apply for 专项救助 (medical, education, housing, employment, disability): 低保,
特困 and 低收入 households, and qualifying 支出型困难 households."""

from openfisca_core.periods import MONTH
from openfisca_core.variables import Variable

from rules.openfisca_hotline.entities import Household


class special_assistance_household(Variable):
    value_type = bool
    entity = Household
    definition_period = MONTH
    label = "属于可申请专项救助的困难家庭（低保、特困、低收入、支出型困难家庭）"
    reference = ["003_2866862d50627571.txt 二(一)2", "000_41bdac329cf45ab2.txt 三(一)1",
                 "002_c3dfb0ff5de59320.txt 二(一)1"]

    def formula(household, period):
        return (household("dibao_eligible", period) + household("receiving_dibao", period)
                + household("dibao_phase_out_applicable", period)
                + (household("tekun_eligible_persons", period) > 0)
                + household("receiving_tekun", period)
                + household("low_income_eligible", period) + household("receiving_low_income", period)
                + household("expenditure_hardship_eligible", period))
