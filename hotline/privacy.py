"""Masking of personal data (phone and ID numbers) for logs and list views."""

from __future__ import annotations

import re

# Numbers as the platform accepts them (channels/phones.py strips every non-digit): groups
# split by a space, a dash or a dot, full-width digits (\d is Unicode) and a +86 / 86 / 0086.
_SEP = r"[\s.\-\u2010-\u2015\uff0d]?"
# 18-digit resident IDs (6-8-4, the last may be X) and 15-digit old ones (6-6-3).
_ID_RES = (re.compile(rf"(?<!\d)(\d{{6}}){_SEP}(\d{{8}}){_SEP}(\d{{3}}[\dXx])(?![\dXx])"),
           re.compile(rf"(?<!\d)(\d{{6}}){_SEP}(\d{{6}}){_SEP}(\d{{3}})(?!\d)"))
# Mainland mobile numbers, optionally with +86 / 86 prefix, and landlines like 0551-1234567.
_MOBILE_RE = re.compile(
    rf"(?<!\d)((?:(?:\+|00)?86{_SEP})?1[3-9]\d){_SEP}(\d{{4}}){_SEP}(\d{{4}})(?!\d)")
_FULL_WIDTH = str.maketrans("０１２３４５６７８９＋", "0123456789+")
_LANDLINE_RE = re.compile(rf"(?<!\d)(0\d{{2,3}}{_SEP})(\d{{3,4}}){_SEP}(\d{{4}})(?!\d)")


def mask_phone(phone: str | None) -> str:
    """'13812345678' -> '138****5678'. Keeps the last 4 digits staff and citizens use to match."""
    if not phone:
        return ""
    digits = re.sub(r"\D", "", phone)
    if len(digits) <= 4:
        return "*" * len(digits)
    head = digits[:3] if len(digits) >= 11 else ""
    return f"{head}{'*' * (len(digits) - len(head) - 4)}{digits[-4:]}"


def mask_id_number(id_number: str | None) -> str:
    """'34150319500101123X' -> '341503********123X'."""
    if not id_number:
        return ""
    s = id_number.strip()
    if len(s) <= 8:
        return "*" * len(s)
    return f"{s[:6]}{'*' * (len(s) - 10)}{s[-4:]}"


def mask_text(text: str) -> str:
    """Mask every phone or ID number found in free text (log lines, message previews)."""
    text = text.translate(_FULL_WIDTH)
    for id_re in _ID_RES:
        text = id_re.sub(lambda m: m.group(1) + "*" * len(m.group(2)) + m.group(3), text)
    text = _MOBILE_RE.sub(lambda m: m.group(1) + "****" + m.group(3), text)
    return _LANDLINE_RE.sub(lambda m: m.group(1) + "*" * len(m.group(2)) + m.group(3), text)


def phone_last4(phone: str | None) -> str:
    digits = re.sub(r"\D", "", phone or "")
    return digits[-4:]


def mask_name(name: str | None) -> str:
    """'张三丰' -> '张**'. Enough for a clerk to recognise a caller without exposing the name."""
    if not name:
        return ""
    return name[0] + "*" * (len(name) - 1)
