"""Replies shaped for each channel, with no I/O: plain text from the bot's replies, SMS parts
that never cut a number, WeChat's length limit, and text written to be spoken."""

from __future__ import annotations

import re

# One SMS: 70 UCS-2 characters (Chinese), 160 in the GSM 7-bit alphabet. Each part is sent as
# its own SMS, so an old phone that does not join concatenated messages still reads whole
# sentences, and a number is never split between two of them.
SMS_UCS2 = 70
SMS_GSM = 160
WECHAT_TEXT_BYTES = 2048  # a customer-service or passive text message, in UTF-8 bytes
_GSM = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
           "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
# Where a part may end: after a sentence, else after a clause. Digits, letters and the dashes of a
# reference number (12349-20261202-0001-386) are never cut.
_SENTENCE_END = "。！？!?；;\n"
_CLAUSE_END = "，,、：:）)」』"
_ATOM = re.compile(r"[0-9A-Za-z][0-9A-Za-z\-.]*[0-9A-Za-z]|[0-9A-Za-z]|.", re.S)


def plain(reply: dict, spoken: bool = False) -> str:
    """A bot reply as text: buttons become the words to answer with (said aloud on the phone)."""
    text = (reply.get("text") or "").strip()
    titles = [b.get("title", "").strip() for b in reply.get("buttons") or [] if b.get("title")]
    if titles and spoken:
        text = f"{text}您可以说：{'、'.join(titles)}。"
    elif titles:
        text = f"{text}（可回复：{' / '.join(titles)}）" if text else " / ".join(titles)
    return text


def is_gsm(text: str) -> bool:
    return all(ch in _GSM for ch in text)


def _split(text: str, fits) -> list[str]:
    """Greedy: the longest run of whole atoms that fits, ending at a sentence end if one is in
    it, else at a clause end, else wherever the atoms allow."""
    atoms = _ATOM.findall(text)
    parts, start = [], 0
    while start < len(atoms):
        end, sentence, clause = start, None, None
        while end < len(atoms) and fits("".join(atoms[start:end + 1])):
            end += 1
            last = atoms[end - 1]
            if last in _SENTENCE_END:
                sentence = end
            elif last in _CLAUSE_END:
                clause = end
        if end == start:  # one atom too long on its own (a 71-digit string): cut it
            end = start + 1
            atoms[start:start + 1] = _cut(atoms[start], fits)
        elif end < len(atoms):
            end = sentence or clause or end
        part = "".join(atoms[start:end]).strip()
        if part:
            parts.append(part)
        start = end
    return parts


def _cut(atom: str, fits) -> list[str]:
    out, cur = [], ""
    for ch in atom:
        if cur and not fits(cur + ch):
            out.append(cur)
            cur = ""
        cur += ch
    return [*out, cur]


def sms_parts(text: str) -> list[str]:
    """Each part one SMS; "(1/3)" marks the order when there are several."""
    text = re.sub(r"[ \t]+", " ", text.strip())
    limit = SMS_GSM if is_gsm(text) else SMS_UCS2
    if len(text) <= limit:
        return [text] if text else []
    digits = 1  # of the part count: "(9/9)" takes 5 characters, "(10/16)" 7, "(100/120)" 9
    while True:
        room = limit - len(f"({'9' * digits}/{'9' * digits})")
        parts = _split(text, lambda s, room=room: len(s.strip()) <= room)
        if len(str(len(parts))) <= digits:
            return [f"({i}/{len(parts)}){p}" for i, p in enumerate(parts, 1)]
        digits = len(str(len(parts)))


def wechat_parts(text: str) -> list[str]:
    return _split(text.strip(), lambda s: len(s.strip().encode()) <= WECHAT_TEXT_BYTES)


# --- spoken ----------------------------------------------------------------------------------

_EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\uFE0F\u200d]")
_URL = re.compile(r"https?://\S+|www\.\S+")
_MARKUP = re.compile(r"[*_`#>~|]+|【|】")
_DIGITS = "零幺二三四五六七八九"
# A run of three or more digits read one by one: a phone, a reference number, 110 and 12349. Not an
# amount, an age or a date (followed by 元/岁/年/月/日 …), which the voice reads as a number.
_READ_AS_DIGITS = re.compile(
    r"(?<![\d.])(\d[\d\- ]{1,}\d)(?![\d.]|\s*(?:元|块|岁|年|月|日|号|天|个|口|人|%|倍|万|千|百|分|小时))")


def _digit_by_digit(match: re.Match) -> str:
    groups = [g for g in re.split(r"[- ]+", match.group(1)) if g]
    if len(groups) == 1 and re.fullmatch(r"1[3-9]\d{9}", groups[0]):  # a mobile: 138 1234 5678
        groups = [groups[0][:3], groups[0][3:7], groups[0][7:]]
    return "，".join(" ".join(_DIGITS[int(d)] for d in g) for g in groups)


def spoken(text: str) -> str:
    """For <Say>: no emoji, links or markup; phone and reference numbers read digit by digit
    (幺 for 1, as on the phone), amounts left for the voice to read as amounts."""
    text = _URL.sub("", _EMOJI.sub("", text))
    text = _MARKUP.sub(" ", text)
    text = _READ_AS_DIGITS.sub(_digit_by_digit, text)
    return re.sub(r"\s{2,}", " ", text).strip()
