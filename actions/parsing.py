"""Reading numbers, money, household sizes, ages, places and yes/no out of what citizens type.

People write 两千五, 一千二百块, 3k, 1.5万, 七百多, 八百来块, 两千出头, 十几万, 一年两万多; this module
turns them into values (cn2an does the Chinese numerals) and says when a value is only
approximate (多/来/出头/几), so the bot can say "按约700元算". No Rasa imports: plain functions,
tested on their own.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Optional

import cn2an

_CN_DIGITS = "零〇一二两三四五六七八九十百千万亿点壹贰叁肆伍陆柒捌玖拾佰仟"
# A number as people type it: Arabic (with k/w/千/万 suffixes and Chinese tails: 3千5, 1.5万)
# or Chinese numerals; 几 stands for an unknown digit (十几万, 几百).
_NUMBER = re.compile(
    rf"(?:\d+(?:\.\d+)?\s*[kKwW千万百]?[\d{_CN_DIGITS}几]*|[{_CN_DIGITS}几]*[{_CN_DIGITS}][{_CN_DIGITS}几]*"
    rf"|几[十百千万][{_CN_DIGITS}]*)"
)
_APPROX_AFTER = re.compile(r"^\s*(多|来|出头|左右|上下|把|几)")
# The unit after the approximation belongs to the number: 二十多万 is 20 万 and more, 三千来块.
_APPROX_UNIT = re.compile(r"^\s*(?:多|来|几)\s*([千万])")
_APPROX_BEFORE = re.compile(r"(大概|大约|差不多|约|将近|不到|估计)\s*$")
# Words right after a number that say it is not money: 一个月, 三口人, 67岁, 两个孩子 …
_NOT_MONEY_AFTER = re.compile(r"^\s*(?:多|来)?\s*(个|口|岁|周岁|了|年|天|次|号|级|套|亩|辆|间|位|趟|回"
                              r"|个月|月|周|小时|点|分|层|楼)")
_MONEY_AFTER = re.compile(r"^\s*(?:多|来|出头)?\s*(元|块|圆|k|K|w|W|千|万)")
_YEARLY = re.compile(r"(一年|每年|年收入|全年|一年到头|一年下来)")
_NONE_WORDS = re.compile(
    r"(没有?(任何)?收入|没啥收入|没什么收入|无收入|零收入|一分钱?(收入)?都?没有?|没有?进项|没有?钱|没存款|没有存款|"
    r"没有?积蓄|一分(钱)?也?没|分文没有|身无分文|啥也没有|什么都没有|一点都没有|^没有?$|^无$|^零$|^0$)"
)
# "None" in any word order and dialect: a negation and a word for money, income or savings
# (积蓄没得, 一分钱存款都冇, 没啥子存款, 存款一点没有).
_NEGATION = re.compile(r"(没有?|没得|冇|木有|无|没啥子?|没什么|一分(钱)?都?(没|冇)|不剩|莫得|么得)")
_MONEY_WORD = re.compile(r"(存款|积蓄|储蓄|存的钱|存钱|家底|钱|收入|进项|工资|退休金|养老金)")


_NOT_AN_AMOUNT = re.compile(r"一(点儿?|丁点儿?|分钱?|毛钱?|个子儿?|个钢镚儿?)")


def says_none(text: str) -> bool:
    """The citizen says there is none (no income, no savings), however it is worded."""
    text = (text or "").strip()
    if _NONE_WORDS.search(text):
        return True
    return bool(_NEGATION.search(text) and _MONEY_WORD.search(text) and not re.search(r"\d", text))


@dataclass(frozen=True)
class Quantity:
    value: float
    approximate: bool = False
    yearly: bool = False  # the citizen gave a yearly figure; `value` is already per month


def _to_number(token: str) -> Optional[float]:
    token = token.strip().replace(" ", "")
    token = token.replace("几", "五")  # 十几 ≈ 十五, 几百 ≈ 五百: a middle guess, flagged approximate
    token = re.sub(r"(?<=\d)[kK]", "千", token)
    token = re.sub(r"(?<=\d)[wW]", "万", token)
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([千万百])(\d)", token)
    if m:  # 3千5 = 3500, 1万2 = 12000
        unit = {"百": 100, "千": 1000, "万": 10000}[m.group(2)]
        return float(m.group(1)) * unit + int(m.group(3)) * unit / 10
    try:
        value = cn2an.cn2an(token, "smart")
    except (ValueError, KeyError, IndexError):
        return None
    return float(value)


# Two neighbouring digits before a unit say a range (七八百 = 700 to 800, 三四千, 一两万).
_RANGE = re.compile(r"([一二两三四五六七八])([二两三四五六七八九])([十百千万])")
_DIGIT = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_UNIT = {"十": 10, "百": 100, "千": 1000, "万": 10000}


def _range_middle(token: str) -> Optional[float]:
    m = _RANGE.fullmatch(token.strip())
    if not m or _DIGIT[m.group(2)] != _DIGIT[m.group(1)] + 1:
        return None
    return (_DIGIT[m.group(1)] + 0.5) * _UNIT[m.group(3)]


def numbers(text: str) -> list[tuple[float, str, str, bool]]:
    """Every number in the text: (value, text before, text after, approximate)."""
    found = []
    for m in _NUMBER.finditer(text or ""):
        middle = _range_middle(m.group(0))
        value = middle if middle is not None else _to_number(m.group(0))
        if value is None:
            continue
        before, after = text[: m.start()], text[m.end():]
        unit = _APPROX_UNIT.match(after)
        if unit and not m.group(0).endswith(unit.group(1)):
            value *= _UNIT[unit.group(1)]
        approx = middle is not None or "几" in m.group(0) or bool(
            _APPROX_AFTER.match(after) or _APPROX_BEFORE.search(before))
        found.append((value, before, after, approx))
    return found


def parse_money(text: str) -> Optional[Quantity]:
    """The money amount in a message, per month; 0 for 没有收入/一分钱都没有; None if none found.

    A yearly figure (一年两万多) is divided by 12. Numbers that count something else (一个月,
    三口人, 六十七岁) are skipped; when several remain, one marked as money (元/块/k/千/万) wins."""
    text = (text or "").strip()
    if not text:
        return None
    none = says_none(text)
    if none:  # 一点积蓄都没得: 一点 is no amount here
        text = _NOT_AN_AMOUNT.sub("", text)
    candidates = [(v, b, a, approx) for v, b, a, approx in numbers(text)
                  if not _NOT_MONEY_AFTER.match(a)]
    if not candidates:
        return Quantity(0.0) if none else None
    marked = [c for c in candidates if _MONEY_AFTER.match(c[2]) or c[0] >= 100]
    value, before, _after, approx = (marked or candidates)[0]
    if _YEARLY.search(before[-8:] if before else "") or _YEARLY.search(text) and "月" not in text:
        return Quantity(round(value / 12, 2), approx, yearly=True)
    return Quantity(value, approx)


_PERSON_PATTERNS = (
    (re.compile(r"一家(\S{1,3}?)口"), 1),
    (re.compile(r"([\d零一二两三四五六七八九十]+)\s*口(人|子)?"), 1),
    (re.compile(r"([\d零一二两三四五六七八九十]+)\s*个(人|成员)"), 1),
    (re.compile(r"([\d零一二两三四五六七八九十]+)\s*人"), 1),
)
_TWO = re.compile(r"(两口子|老两口|我们俩|我们两个|俺俩|我俩|我和老伴|我跟老伴|我和我老伴|就我们夫妻"
                  r"|夫妻俩|娘俩|娘儿俩|父子俩|母子俩|爷孙俩|奶孙俩)")
_ONE = re.compile(r"(就我一个|只有我一个|我一个人|就我自己|一个人过|一个人住|孤身一人|独自一人"
                  r"|单身一个人|就俺一个|俺一个人)")


def parse_person_count(text: str) -> Optional[int]:
    """How many people live in the household: 四口人, 一家三口, 3个人, 两口子, 就我一个人."""
    text = text or ""
    for pattern, group in _PERSON_PATTERNS:
        m = pattern.search(text)
        if m:
            value = _to_number(m.group(group))
            if value is not None and 1 <= value <= 30:
                return int(value)
    if _TWO.search(text):
        return 2
    if _ONE.search(text):
        return 1
    return None


_BARE_COUNT = re.compile(r"\s*(?:就|有|共|一共|总共)?\s*([\d零一二两三四五六七八九十]+)"
                         r"\s*(?:个|位)?\s*[。.!！]?\s*")


def parse_count(text: str) -> Optional[int]:
    """A bare small number answering "几口人": 4, 四, 四个."""
    m = _BARE_COUNT.fullmatch(text or "")
    if not m:
        return None
    value = _to_number(m.group(1))
    return int(value) if value is not None and 1 <= value <= 30 else None


_AGE = re.compile(r"([\d零一二两三四五六七八九十百]+)\s*(多)?\s*(岁|周岁|了)")


def parse_age(text: str) -> Optional[int]:
    """六十七了, 67岁, 七十多岁 -> 67, 67, 70."""
    for m in _AGE.finditer(text or ""):
        value = _to_number(m.group(1))
        if value is not None and 0 < value < 120 and not (m.group(3) == "了" and value < 16):
            return int(value)
    return None


_URBAN = re.compile(r"(城里|城市|城镇|市里|市区|县城|镇上|街道|小区|社区|楼房|城区)")
_RURAL = re.compile(r"(农村|村里|乡下|乡里|村子|屯|种地|种田|老家村|山里|村上|寨子)")


def parse_area(text: str) -> Optional[str]:
    """urban (城市/城镇) or rural (农村), from how people describe where they live."""
    text = text or ""
    rural, urban = _RURAL.search(text), _URBAN.search(text)
    if rural and not urban:
        return "rural"
    if urban and not rural:
        return "urban"
    if rural and urban:  # 县城边上的村里: the later word is usually the answer
        return "rural" if rural.start() > urban.start() else "urban"
    return None


_YES = re.compile(r"^(有|有的|有啊|有呢|有个|有一个|有两个|有儿子|有女儿|是的|是|对|嗯)")
_NO = re.compile(
    r"(没有|没得|没人|无儿无女|没儿没女|孤寡|不管|不养|指望不上|靠不上|都不在了|走了|去世|过世|没了|失联|联系不上|"
    r"他们也困难|自己都顾不上|也没钱|^没$|^无$|^不是$|^否$)"
)


def parse_yes_no(text: str) -> Optional[bool]:
    """有/没有 answers, as to "有没有能养您的子女或亲属": a negative word wins over 有."""
    text = (text or "").strip()
    if _NO.search(text):
        return False
    if _YES.search(text):
        return True
    return None


# Digits read one by one, as speech recognition writes them and elderly people type them:
# 幺 (1 on the phone), 两 / 二, 洞 (0), 拐 (7), 勾 (9) and the formal 壹贰叁 ….
_SPOKEN = {**dict.fromkeys("零〇○洞", "0"), **dict.fromkeys("一幺壹", "1"), **dict.fromkeys("二两贰", "2"),
           **dict.fromkeys("三叁", "3"), **dict.fromkeys("四肆", "4"), **dict.fromkeys("五伍", "5"),
           **dict.fromkeys("六陆", "6"), **dict.fromkeys("七柒拐", "7"), **dict.fromkeys("八捌", "8"),
           **dict.fromkeys("九玖勾", "9")}
_SPOKEN_CHARS = "".join(_SPOKEN)
# A run of at least three spoken digits (spaces, dashes and the commas speech recognition puts
# between groups allowed): 十, 百 and 千 break a run, so amounts (一千二百) are never read this way.
_SPOKEN_RUN = re.compile(rf"[{_SPOKEN_CHARS}](?:[\s\-—－,，、]*[{_SPOKEN_CHARS}]){{2,}}")


def digits_as_read(text: Optional[str]) -> str:
    """'幺三八 零零零零 幺二三四' -> '138 0000 1234', '１３８' -> '138': for numbers read digit by
    digit (phones, reference numbers, the last 4 digits), never for amounts."""
    text = unicodedata.normalize("NFKC", text or "")
    return _SPOKEN_RUN.sub(lambda m: "".join(_SPOKEN.get(ch, ch) for ch in m.group(0)), text)


_MOBILE = re.compile(r"(?<!\d)(?:\+?86[\s\-]?)?(1[3-9]\d)[\s\-,，、]*(\d{4})[\s\-,，、]*(\d{4})(?!\d)")


def parse_mobile(text: Optional[str]) -> Optional[str]:
    """A mainland mobile number however it is written: 13800001234, 138 0000 1234,
    138-0000-1234, +86 138…, １３８…, 幺三八零零零零幺二三四."""
    m = _MOBILE.search(digits_as_read(text))
    return "".join(m.groups()) if m else None


def parse_last4(text: Optional[str]) -> Optional[str]:
    """The last 4 digits of a phone: '1234', '尾号1234', '幺二三四', or a whole mobile number;
    never the sequence of a reference number said with them (12349-20261202-0007-386 尾号1234)."""
    text = digits_as_read(text)
    mobile = parse_mobile(text)
    if mobile:
        return mobile[-4:]
    text = _reference(text)[1]
    digits = re.findall(r"(?<!\d)(\d[\s\-]?\d[\s\-]?\d[\s\-]?\d)(?!\d)", text)
    if len(digits) == 1:
        return re.sub(r"\D", "", digits[0])
    return None


# A reference number: 12349, the day (20YYMMDD), the day's sequence (4 digits, more past 9999)
# and, on numbers filed since 2026-12, a check part of 3 random digits (referral/domain.py).
# Citizens write the parts with dashes, spaces, 杠 or nothing between them, and speech
# recognisers break them into groups anywhere: the digits are read as groups, each after at most
# 3 other characters, and the parts are counted off them.
_REF_START = re.compile(r"(?<!\d)1\s*2\s*3\s*4\s*9")
_REF_GROUP = re.compile(r"\D{0,3}(\d+)")
_REF_DAY = re.compile(r"20\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])")
_SPACED_DIGITS = re.compile(r"(?<!\d)\d(?:\s+\d(?!\d))+")  # 1 2 3 4 9: read out digit by digit


def _reference_at(text: str, pos: int) -> Optional[tuple[str, int]]:
    """The number whose 12349 ends at pos, and where it ends."""
    groups: list[tuple[str, int]] = []  # digits, where they end
    while len(groups) < 12 and (m := _REF_GROUP.match(text, pos)):
        groups.append((m.group(1), m.end()))
        pos = m.end()
    day = "".join(g for g, _ in groups)[:8]
    if not _REF_DAY.fullmatch(day):
        return None
    # What follows the day, in the groups it came in (the day may end inside one: 1234920261202…)
    rest, seen = [], 0
    for digits, end in groups:
        if seen + len(digits) > 8:
            rest.append((digits[max(0, 8 - seen):], end))
        seen += len(digits)
    seq, end = "", 0
    while rest and len(seq) < 4:
        digits, end = rest.pop(0)
        seq += digits
    if 7 <= len(seq) <= 9:  # run together: 0007386 is the sequence 0007 and the check part 386
        return f"12349-{day}-{seq[:-3]}-{seq[-3:]}", end
    if not 4 <= len(seq) <= 6:
        return None
    check, check_end = "", end
    while rest and len(check) < 3:
        digits, check_end = rest.pop(0)
        check += digits
    # Exactly 3 digits after the sequence are its check part; anything else (尾号1234 after a
    # number of the old form, which has none) is not part of the number.
    if len(check) == 3:
        return f"12349-{day}-{seq}-{check}", check_end
    return f"12349-{day}-{seq}", end


def _reference(text: Optional[str]) -> tuple[Optional[str], str]:
    """The reference number in the text, and the text without it (digits as read)."""
    text = _SPACED_DIGITS.sub(lambda m: re.sub(r"\s+", "", m.group(0)), digits_as_read(text))
    for start in _REF_START.finditer(text):
        found = _reference_at(text, start.end())
        if found:
            return found[0], f"{text[:start.start()]} {text[found[1]:]}"
    return None, text


def parse_reference_no(text: Optional[str]) -> Optional[str]:
    """12349-20261202-0007-386 (the day, its sequence, a check part of 3 digits), and numbers of
    the old form without the check part (12349-20261122-0001), also typed with spaces, other
    dashes or none at all, in full-width digits, or read out digit by digit (幺二三四九 二零二六…
    as a speech recogniser writes it)."""
    return _reference(text)[0]


_STREET = re.compile(r"([\u4e00-\u9fa5]{1,8}?(?:街道办事处|街道办|街道|镇|乡|苏木))")
_STREET_STOP = re.compile(r"^(我是|我在|住在|家在|俺是|俺在|在|是|属于|我们是|我们在|就在|地址是|住址)")


# "我们镇上", "回老家乡下", "城乡低保": words ending in 镇/乡 that name no place.
_NOT_A_STREET = re.compile(r"^(我|俺|咱|你|他|她|这|那|哪|本|城乡|家乡|老乡|下乡|回乡|乡镇|城镇|小镇|街道|乡里)")


def parse_street(text: Optional[str]) -> Optional[str]:
    """The 乡镇/街道 named in a message: 苏埠镇, 小华山街道, 月塘街道."""
    for m in _STREET.finditer(text or ""):
        name = re.sub(r"^.*(在|住|是)", "", _STREET_STOP.sub("", m.group(1)))
        name = re.sub(r"^.*(市|区|县|州|的)", "", name) or name
        if len(name) >= 2 and not _NOT_A_STREET.search(name):
            return name
    return None


# --- names --------------------------------------------------------------------------------------

_NAME_LEAD = re.compile(r"^(?:我|俺|咱|本人)?(?:的)?(?:名字|姓名)?(?:是|叫|叫做|为|[:：])?\s*")
_CALLED = re.compile(r"(?:我|俺)?(?:叫|名叫|名字叫|叫做)(?!我|俺)\s*([\u4e00-\u9fa5·]{2,5})")
_SURNAME_ONLY = re.compile(r"(?:我|俺)?姓\s*([\u4e00-\u9fa5])(?![\u4e00-\u9fa5]*(?:叫|名))")
# A form of address is as good as a name for a clerk who calls back: 王阿姨, 张大爷, 李师傅.
_ADDRESS = re.compile(r"(?:叫我|喊我|我是|俺是)?\s*([\u4e00-\u9fa5]{1,2}(?:阿姨|大爷|大娘|大妈|大姐|大哥|奶奶|爷爷"
                      r"|婆婆|叔叔|叔|婶子|婶|老师|师傅|先生|女士|小姐|老汉|老太)|(?<=叫我)[老小][\u4e00-\u9fa5])")
_NOT_A_NAME = re.compile(r"(\d|[市区县乡镇村屯组]$|街道|社区|小区|大队|路|号|低保|特困|救助|补贴|不知道|不清楚"
                         r"|不晓得|不记得|[吗呢？?]$|怎么|什么|为啥|咋|啥|干嘛|多少|电话|手机|没有|不用|不要|算了"
                         r"|问|说|老伴|老头|老公|老婆|孩子|小孩|那个|这个|就是)")
_FILLER = re.compile(r"^((嗯|喂|那个|这个|就是|你好|您好|哦|啊|呃|额)[，,。\s]*)+")
# Speech recognition keeps the fillers said between words: 我叫 那个 黄建国.
_INNER_FILLER = re.compile(r"(?:(?<=[\s，,。])|^)(?:嗯+|呃|额|那个|这个|就是|啊)(?=[\s，,。]|$)")


def parse_name(text: Optional[str], place_named: bool = False) -> Optional[str]:
    """The name in an answer to "您怎么称呼": 我姓刘 叫刘桂芬 -> 刘桂芬, 叫我王阿姨就行 -> 王阿姨,
    我是张大爷 -> 张大爷, 我姓刘 -> 刘. None when the answer is no name: a place (`place_named`:
    the caller found a region in it), a question, a number, 不知道."""
    text = _FILLER.sub("", (text or "").strip())
    text = re.sub(r"\s+", " ", _INNER_FILLER.sub("", text)).strip()
    text = re.sub(r"(?<=[叫是姓])\s+", "", text)  # 我叫 黄建国 -> 我叫黄建国
    if not text or place_named:
        return None
    for pattern in (_ADDRESS, _CALLED, _SURNAME_ONLY):
        m = pattern.search(text)
        if m:
            name = re.split(r"[，,。.!！~\s]|电话|手机|今年|就行|就好|吧$", m.group(1))[0]
            if pattern is _SURNAME_ONLY:  # 我姓王，王秀英: the whole name if it follows
                whole = re.search(rf"{name}[\u4e00-\u9fa5]{{1,3}}", text[m.end():])
                name = whole.group(0) if whole and not _NOT_A_NAME.search(whole.group(0)) else name
            return None if _NOT_A_NAME.search(name) else name
    name = _NAME_LEAD.sub("", text)
    name = re.split(r"[，,。.!！~\s]|电话|手机|今年", name)[0]
    if not name or len(name) > 4 or _NOT_A_NAME.search(name):
        return None
    return name
