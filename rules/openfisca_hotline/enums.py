"""Enumerations shared by several variable files (OpenFisca loads each variable file as its own
module, so shared enums live here)."""

from openfisca_core.indexed_enums import Enum


class Region(Enum):
    """Seeded regions; the name is the folder under parameters/regions/ (pinyin + GB/T 2260 code)."""

    wuxi_320200 = "无锡市"
    zhuzhou_430200 = "株洲市"
    dazhou_511700 = "达州市"
    jilin_220000 = "吉林省"
    yuan_341503 = "六安市裕安区"


class Area(Enum):
    urban = "城市（城镇）"
    rural = "农村"


class EmergencyType(Enum):
    none = "无"
    natural_disaster = "自然灾害"
    accident = "突发事件、意外伤害"
    serious_illness = "重大疾病"
    public_health = "突发公共卫生事件"
    other = "其他特殊原因"


class StudentStage(Enum):
    none = "不在校"
    preschool = "学前教育（幼儿园）"
    compulsory = "义务教育（小学、初中）"
    high_school = "高中阶段（含中职）"
    higher = "高等教育（高职、大专、本科）"


class DisabilityCategory(Enum):
    unknown = "未说明"
    physical = "肢体残疾"
    visual = "视力残疾"
    hearing = "听力残疾"
    speech = "言语残疾"
    intellectual = "智力残疾"
    mental = "精神残疾"
    multiple = "多重残疾"


class TemporaryAssistanceType(Enum):
    none = "不适用"
    urgent = "急难型临时救助"
    expenditure = "支出型临时救助"


class ApprovalLevel(Enum):
    not_applicable = "当地文件未规定分级审批"
    village = "村（社）级"
    township = "乡镇（街）级"
    district = "区级"
