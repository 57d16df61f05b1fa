"""Hours of the day as operators write them ("08:30-12:00,13:30-17:30", "08:00-24:00"): one
parser for agent hours (AGENT_HOURS) and office hours (referral/sla_policies.yml), run when the
settings are read, so a mistake stops the start with the setting's name instead of breaking a
sweep at the first deadline it computes."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import time

END_OF_DAY = time.max  # "24:00": a span that runs to midnight
Spans = tuple[tuple[time, time], ...]
_CLOCK = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


def _clock(text: str, name: str, part: str) -> time:
    m = _CLOCK.match(text.strip())
    if not m or (m.group(1) == "24" and m.group(2) != "00"):
        raise ValueError(f"{name}: {part!r} is not HH:MM-HH:MM (00:00 to 24:00)")
    hour, minute = int(m.group(1)), int(m.group(2))
    return END_OF_DAY if hour == 24 else time(hour, minute)


def parse_spans(spec: str | Iterable, name: str) -> Spans:
    """"08:30-12:00,13:30-17:30" (or pairs of "HH:MM" strings or times) -> ((08:30, 12:00),
    (13:30, 17:30)); 24:00 ends a span at midnight. Each span must end after it begins, and the
    spans must be in order without overlapping."""
    if isinstance(spec, str):
        pairs = []
        for part in filter(None, (p.strip() for p in spec.split(","))):
            begin, sep, end = part.partition("-")
            if not sep:
                raise ValueError(f"{name}: {part!r} is not HH:MM-HH:MM")
            pairs.append((begin, end))
    else:
        pairs = list(spec)
    spans = []
    for begin, end in pairs:
        b = begin if isinstance(begin, time) else _clock(begin, name, f"{begin}-{end}")
        e = end if isinstance(end, time) else _clock(end, name, f"{begin}-{end}")
        if b == END_OF_DAY or e <= b:
            raise ValueError(f"{name}: {begin}-{end} must end after it begins (a night shift is "
                             "two spans, 20:00-24:00,00:00-08:00)")
        if spans and b < spans[-1][1]:
            raise ValueError(f"{name}: {begin}-{end} begins before the span ahead of it ends; "
                             "list the spans in order, without overlaps")
        spans.append((b, e))
    if not spans:
        raise ValueError(f"{name}: no hours given")
    return tuple(spans)
