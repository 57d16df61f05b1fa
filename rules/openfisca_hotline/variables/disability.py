"""残疾人救助 (残联): 困难残疾人生活补贴 for disabled members of assisted households, and
重度残疾人护理补贴 for severely disabled people."""

from openfisca_core.periods import MONTH
from openfisca_core.variables import Variable

from rules.openfisca_hotline.entities import Person


class disability_living_allowance_eligible(Variable):
    value_type = bool
    entity = Person
    definition_period = MONTH
    label = "可申请困难残疾人生活补贴"
    reference = ["000_41bdac329cf45ab2.txt 三(三)13", "003_2866862d50627571.txt 二(三)11"]

    def formula(person, period):
        disabled = person("disability_level", period) > 0
        return disabled * person.household("special_assistance_household", period)


class severe_disability_care_allowance_eligible(Variable):
    value_type = bool
    entity = Person
    definition_period = MONTH
    label = "可申请重度残疾人护理补贴"
    reference = ["000_41bdac329cf45ab2.txt 三(三)13", "003_2866862d50627571.txt 二(三)11"]

    def formula(person, period):
        return person("severely_disabled", period)
