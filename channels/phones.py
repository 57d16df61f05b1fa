"""Phone numbers as providers want them (E.164), from the ways citizens and clerks write them."""

from __future__ import annotations

import re


def e164(phone: str | None) -> str | None:
    """'138 0000 1234', '+86-138-0000-1234', '8613800001234' -> '+8613800001234'; a number
    already in E.164 (another country's, a test number) is kept; None when it is no number."""
    if not phone:
        return None
    raw = phone.strip()
    digits = re.sub(r"\D", "", raw)
    if raw.startswith("+"):  # already international: +86 … or another country's
        return "+" + digits if 8 <= len(digits) <= 15 else None
    if re.fullmatch(r"1[3-9]\d{9}", digits):
        return "+86" + digits
    if re.fullmatch(r"861[3-9]\d{9}", digits):
        return "+" + digits
    return None


def national(phone: str | None) -> str | None:
    """'+8613800001234' -> '13800001234' (as the bot and the tickets write a mainland mobile)."""
    number = e164(phone)
    return number[3:] if number and number.startswith("+861") else None


def known_to_bot(phone: str | None) -> dict:
    """Metadata for the bot: the number a citizen texts or calls from (the help form then does
    not ask for it)."""
    number = national(phone)
    return {"phone": number} if number else {}


def citizen_number(conv) -> str | None:
    """The number of a conversation's citizen as stored: the texter's or caller's own, else the
    one they gave (a WeChat or web citizen's, if any)."""
    return conv.contact_id if conv.channel in ("sms", "voice") else conv.phone


def phone_of(conv, msg) -> str | None:
    """The number that reaches the citizen of a conversation by SMS, for a message to them: the
    caller's or texter's own, else the one on the message (a ticket's), else one they gave."""
    if conv.channel in ("sms", "voice") and e164(conv.contact_id):
        return conv.contact_id
    return e164((msg.payload or {}).get("phone")) or e164(conv.phone)
