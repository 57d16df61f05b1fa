"""Masking of personal data (phone and ID numbers) for logs and list views: the formats are
data (masking.yml); this module has no dependency beyond PyYAML and runs in both runtimes."""

from __future__ import annotations

import logging
import re
from functools import cache
from pathlib import Path

import yaml

FORMATS_FILE = Path(__file__).with_name("masking.yml")


@cache
def _formats() -> tuple[dict, tuple[re.Pattern, ...]]:
    data = yaml.safe_load(FORMATS_FILE.read_text(encoding="utf-8"))
    width = str.maketrans(data["full_width"]["from"], data["full_width"]["to"])
    sep = data["separator"]
    patterns = tuple(re.compile(f["pattern"].replace("{sep}", sep)) for f in data["formats"])
    for f, pattern in zip(data["formats"], patterns, strict=True):
        if pattern.groups != 3:
            raise ValueError(f"{FORMATS_FILE.name}: {f['name']} needs 3 groups (kept, masked, kept)")
    return width, patterns


def _starred(m: re.Match) -> str:
    return m.group(1) + "*" * len(m.group(2)) + m.group(3)


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
    """Mask every phone or ID number found in free text (log lines, message previews), in
    each format of masking.yml."""
    width, patterns = _formats()
    text = text.translate(width)
    for pattern in patterns:
        text = pattern.sub(_starred, text)
    return text


def phone_last4(phone: str | None) -> str:
    digits = re.sub(r"\D", "", phone or "")
    return digits[-4:]


def mask_name(name: str | None) -> str:
    """'张三丰' -> '张**'. Enough for a clerk to recognise a caller without exposing the name."""
    if not name:
        return ""
    return name[0] + "*" * (len(name) - 1)


def mask_log_records() -> None:
    """Every log record of this process, whoever logs it and whichever handler prints it (Rasa
    and SQLAlchemy install their own), carries its message and traceback masked."""
    make = logging.getLogRecordFactory()
    if getattr(make, "masking", False):
        return

    def masked(*args, **kwargs) -> logging.LogRecord:
        record = make(*args, **kwargs)
        try:
            record.msg, record.args = mask_text(record.getMessage()), ()
        except Exception:  # a record whose arguments do not fit: leave it to the handler
            return record
        if record.exc_info and not record.exc_text:
            record.exc_text = mask_text(logging.Formatter().formatException(record.exc_info))
        return record

    masked.masking = True
    logging.setLogRecordFactory(masked)
