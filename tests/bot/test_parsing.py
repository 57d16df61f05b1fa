"""Numbers and money as citizens write them (actions/parsing.py)."""

import pytest

from actions.parsing import (
    parse_age,
    parse_area,
    parse_count,
    parse_last4,
    parse_mobile,
    parse_name,
    parse_money,
    parse_person_count,
    parse_reference_no,
    parse_street,
    parse_yes_no,
)


@pytest.mark.parametrize(
    "text, value, approximate",
    [
        ("两千五", 2500, False),
        ("一千二百块", 1200, False),
        ("3k", 3000, False),
        ("1.5万", 15000, False),
        ("3千5", 3500, False),
        ("七百多", 700, True),
        ("八百来块", 800, True),
        ("两千出头", 2000, True),
        ("十几万", 150000, True),
        ("二十多万", 200000, True),
        ("三千来块", 3000, True),
        ("一万多块", 10000, True),
        ("二千一", 2100, False),
        ("1800元", 1800, False),
        ("一个月收入两千五", 2500, False),
        ("我家四口人一个月收入两千五", 2500, False),
        ("老伴退休金1800元一个月", 1800, False),
        ("大概一千出头吧", 1000, True),
        ("没有收入", 0, False),
        ("一分钱都没有", 0, False),
        ("没有", 0, False),
    ],
)
def test_money_as_people_say_it(text, value, approximate):
    q = parse_money(text)
    assert q is not None and q.value == value and q.approximate == approximate and not q.yearly


def test_yearly_money_becomes_monthly():
    q = parse_money("家里一年总共收入两万多")
    assert q.yearly and q.approximate and q.value == pytest.approx(20000 / 12, abs=0.01)


@pytest.mark.parametrize("text", ["我六十七了", "家里四口人", "你好", "一个月"])
def test_numbers_that_are_not_money(text):
    assert parse_money(text) is None


@pytest.mark.parametrize(
    "text, n",
    [
        ("四口人", 4),
        ("一家三口", 3),
        ("3个人", 3),
        ("两口子", 2),
        ("就我一个人", 1),
        ("我们家六口人 上有老下有小", 6),
        ("五口", 5),
        ("就我和我孙子 两个人", 2),
        ("不对，是四口人", 4),
    ],
)
def test_household_size(text, n):
    assert parse_person_count(text) == n


def test_bare_counts_and_ages():
    assert parse_count("4") == 4 and parse_count("四个") == 4 and parse_count("两千") is None
    assert parse_age("我今年六十七了") == 67 and parse_age("七十多岁") == 70 and parse_age("孩子8岁") == 8
    assert parse_age("两个孩子") is None


@pytest.mark.parametrize(
    "text, area",
    [
        ("城里", "urban"),
        ("住在县城", "urban"),
        ("农村", "rural"),
        ("村里种地", "rural"),
        ("不知道", None),
    ],
)
def test_area(text, area):
    assert parse_area(text) == area


@pytest.mark.parametrize(
    "text, answer",
    [
        ("有个儿子", True),
        ("有", True),
        ("没有", False),
        ("儿子不管我", False),
        ("没儿没女", False),
        ("嗯", True),
        ("说不好", None),
    ],
)
def test_yes_no(text, answer):
    assert parse_yes_no(text) is answer


@pytest.mark.parametrize(
    "text, street",
    [
        ("裕安区苏埠镇", "苏埠镇"),
        ("六安市裕安区小华山街道", "小华山街道"),
        ("我们是石婆店镇的", "石婆店镇"),
        ("株洲市荷塘区月塘街道", "月塘街道"),
        ("达州渠县三汇镇", "三汇镇"),
        ("不知道", None),
        ("我们镇上没人管", None),
        ("城乡低保怎么申请", None),
    ],
)
def test_street(text, street):
    assert parse_street(text) == street


def test_reference_numbers_phones_and_last_digits():
    assert parse_reference_no("编号 12349 20261122 0001") == "12349-20261122-0001"
    assert parse_reference_no("12349202611220001") == "12349-20261122-0001"
    assert parse_reference_no("12349") is None
    assert parse_mobile("我电话 138 0000 1234 谢谢") == "13800001234"
    assert parse_mobile("138-0000-1234") == "13800001234" and parse_mobile("12345") is None
    assert parse_last4("尾号1234") == "1234" and parse_last4("13800001234") == "1234"
    assert parse_last4("一二三四") == "1234" and parse_last4("不记得") is None


@pytest.mark.parametrize("text", [
    "13800001234", "138 0000 1234", "138-0000-1234", "+86 138 0000 1234", "+8613800001234",
    "8613800001234", "１３８００００１２３４", "幺三八零零零零幺二三四", "一三八 零零零零 一二三四",
    "幺三八-洞洞洞洞-幺两三四", "我电话是幺三八零零零零幺二三四 你记一下",
])
def test_a_mobile_number_however_it_is_said(text):
    assert parse_mobile(text) == "13800001234"


@pytest.mark.parametrize("text", ["一千二百", "两千五", "三口人", "我六十七了", "一二"])
def test_amounts_and_counts_are_not_read_as_phone_digits(text):
    assert parse_mobile(text) is None


@pytest.mark.parametrize("text, ref", [
    ("12349-20261122-0001", "12349-20261122-0001"),
    ("幺二三四九 二零二六幺幺二二 零零零幺", "12349-20261122-0001"),
    ("编号是 12349 2026 1122 0001", "12349-20261122-0001"),
    ("１２３４９－２０２６１１２２－０００１", "12349-20261122-0001"),
    # with the check part (since 2026-12): typed, run together, read out by a recogniser
    ("12349-20261202-0007-386", "12349-20261202-0007-386"),
    ("编号12349 20261202 0007 386", "12349-20261202-0007-386"),
    ("1234920261202-0007386", "12349-20261202-0007-386"),
    ("12349202612020007386", "12349-20261202-0007-386"),
    ("幺二三四九，二零二六幺二零二，零零零七，三八六", "12349-20261202-0007-386"),
    ("我的编号是12349—20261202—0007—386，电话尾号1234", "12349-20261202-0007-386"),
])
def test_a_reference_number_read_out_or_spaced(text, ref):
    assert parse_reference_no(text) == ref


@pytest.mark.parametrize("text", ["1234", "尾号1234", "幺二三四", "一 二 三 四", "后四位是幺两三四"])
def test_the_last_four_digits(text):
    assert parse_last4(text) == "1234"


@pytest.mark.parametrize("text", ["一点积蓄都没得", "积蓄没得", "一分钱存款都冇", "没啥子存款", "存款一点没有",
                                  "家底早就没了", "俺们木有存款", "莫得钱"])
def test_none_in_any_word_order_and_dialect(text):
    assert parse_money(text).value == 0


@pytest.mark.parametrize("text, name", [
    ("我姓刘 叫刘桂芬", "刘桂芬"), ("我姓王，王秀英", "王秀英"), ("叫我王阿姨就行", "王阿姨"),
    ("我是张大爷", "张大爷"), ("俺叫李秀兰", "李秀兰"), ("嗯 那个 我叫陈建国", "陈建国"), ("就叫我老李吧", "老李"),
    ("我姓刘", "刘"), ("欧阳娜娜", "欧阳娜娜"), ("俺叫刘大柱，电话13800001234", "刘大柱"),
])
def test_a_name_as_people_give_it(text, name):
    assert parse_name(text) == name


@pytest.mark.parametrize("text", ["平桥乡", "13800001234", "不知道", "低保怎么申请", "我叫啥你问这干嘛", "我老伴"])
def test_no_name_when_the_answer_is_something_else(text):
    assert parse_name(text) is None
