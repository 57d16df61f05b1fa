"""Replies shaped per channel, with no I/O: SMS parts, WeChat's byte limit, spoken text."""

from __future__ import annotations

import re

import pytest

from channels.formatting import SMS_UCS2, WECHAT_TEXT_BYTES, plain, sms_parts, spoken, wechat_parts
from channels.phones import e164, national

REPLY = ("已为您登记求助（最低生活保障），编号12349-20261202-0001，已转给民政。工作人员会在12月3日前联系您，"
         "最迟12月30日前办结。请记好编号。如有疑问请拨打12349，电话13812345678也可以。")


def test_sms_parts_fit_one_sms_each_and_keep_numbers_whole():
    parts = sms_parts(REPLY)
    assert len(parts) >= 2 and all(len(p) <= SMS_UCS2 for p in parts)
    joined = "".join(re.sub(r"^\(\d/\d\)", "", p) for p in parts)
    assert joined == REPLY.replace(" ", "")
    for number in ("12349-20261202-0001", "13812345678", "12349"):
        assert any(number in p for p in parts), number
    assert [p[:5] for p in parts] == [f"({i}/{len(parts)})" for i in range(1, len(parts) + 1)]


def test_short_and_latin_texts_are_one_part():
    assert sms_parts("您好。") == ["您好。"]
    assert sms_parts("Reply STOP to stop") == ["Reply STOP to stop"]
    assert len(sms_parts("a" * 160)) == 1 and len(sms_parts("a" * 161)) == 2
    assert sms_parts("") == []


def test_a_run_of_digits_too_long_for_one_sms_is_cut_only_then():
    parts = sms_parts("1" * 100 + "号")
    assert all(len(p) <= SMS_UCS2 for p in parts) and len(parts) == 2


def test_wechat_parts_stay_under_2048_bytes():
    text = "低保（条件）：家庭成员人均收入低于当地低保标准的，可以申请。" * 60
    parts = wechat_parts(text)
    assert len(parts) > 1 and all(len(p.encode()) <= WECHAT_TEXT_BYTES for p in parts)
    assert "".join(parts) == text


@pytest.mark.parametrize("text, said", [
    ("编号12349-20261202-0001", "编号幺 二 三 四 九，二 零 二 六 幺 二 零 二，零 零 零 幺"),
    ("电话13812345678", "电话幺 三 八，幺 二 三 四，五 六 七 八"),
    ("请拨打110或120", "请拨打幺 幺 零或幺 二 零"),
    ("每月700元，今年67岁，2026年12月3日，3口人", "每月700元，今年67岁，2026年12月3日，3口人"),
    ("**注意** 详见 https://x.gov.cn 😀【12349】", "注意 详见 幺 二 三 四 九"),
])
def test_spoken_reads_numbers_as_a_caller_needs_them(text, said):
    assert spoken(text) == said


def test_buttons_become_words_to_answer_with():
    reply = {"text": "要为您登记吗？", "buttons": [{"title": "是"}, {"title": "不用"}]}
    assert plain(reply) == "要为您登记吗？（可回复：是 / 不用）"
    assert plain(reply, spoken=True) == "要为您登记吗？您可以说：是、不用。"


@pytest.mark.parametrize("raw, number", [
    ("13800001234", "+8613800001234"), ("138 0000 1234", "+8613800001234"),
    ("+86-138-0000-1234", "+8613800001234"), ("8613800001234", "+8613800001234"),
    ("+14155550100", "+14155550100"), ("0551-1234567", None), ("不知道", None), (None, None),
])
def test_phone_numbers_as_providers_want_them(raw, number):
    assert e164(raw) == number
    assert national(raw) == (number[3:] if number and number.startswith("+86") else None)


@pytest.mark.parametrize("sentences", [30, 400], ids=["ten parts or more", "a hundred or more"])
def test_part_markers_never_push_a_part_over_one_sms(sentences):
    """From (10/16) on a marker takes 7 characters, from (100/…) 9: the parts are cut for it."""
    text = "".join(f"第{i}条：请您带好户口簿和身份证到街道办理。" for i in range(sentences))
    parts = sms_parts(text)
    assert len(parts) >= (10 if sentences == 30 else 100)
    assert max(len(p) for p in parts) <= SMS_UCS2
    markers = [re.match(r"\((\d+)/(\d+)\)", p).groups() for p in parts]
    assert markers == [(str(i), str(len(parts))) for i in range(1, len(parts) + 1)]
    assert "".join(re.sub(r"^\(\d+/\d+\)", "", p) for p in parts) == text
