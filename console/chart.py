"""Geometry of the dashboard's backlog chart: one horizontal stacked bar per department
(breached, approaching, other open), drawn as inline SVG by the template. No JS library."""

from __future__ import annotations

from dataclasses import dataclass

SEGMENTS = ("breached", "approaching", "on_track")


@dataclass(frozen=True)
class Segment:
    kind: str
    count: int
    x: float
    width: float


@dataclass(frozen=True)
class Bar:
    label: str
    total: int
    y: float
    segments: tuple[Segment, ...]
    end_x: float


@dataclass(frozen=True)
class Chart:
    bars: tuple[Bar, ...]
    width: int
    height: int
    label_width: int
    bar_height: int
    ticks: tuple[tuple[float, int], ...]  # (x, value) of the vertical grid lines


def _nice_max(value: int) -> int:
    """The smallest 1/2/5×10ⁿ at or above value, so the grid lines fall on round numbers."""
    step = 1
    while True:
        for m in (1, 2, 5):
            if value <= m * step:
                return m * step
        step *= 10


def _tick_count(scale_max: int) -> int:
    """Grid intervals that land on whole numbers: 1→1, 2→2, 5→5, 10→5, 20→4, 50→5 …"""
    if scale_max < 10:
        return scale_max
    return 4 if str(scale_max)[0] == "2" else 5


def backlog_chart(rows: list[dict], width: int = 1200, label_width: int = 120,
                  bar_height: int = 22, gap: int = 10) -> Chart:
    """rows: dashboard() output (department_name, open, breached, approaching)."""
    plot = width - label_width - 60  # room for the total after the bar
    top = 28  # room for the axis labels
    scale_max = _nice_max(max([r["open"] for r in rows] + [1]))
    bars = []
    for i, r in enumerate(rows):
        counts = {"breached": r["breached"], "approaching": r["approaching"],
                  "on_track": max(r["open"] - r["breached"] - r["approaching"], 0)}
        x = float(label_width)
        segments = []
        for kind in SEGMENTS:
            w = plot * counts[kind] / scale_max
            if counts[kind]:
                segments.append(Segment(kind, counts[kind], round(x, 1), round(w, 1)))
            x += w
        bars.append(Bar(r["department_name"], r["open"], top + i * (bar_height + gap),
                        tuple(segments), round(x, 1)))
    n = _tick_count(scale_max)
    ticks = tuple((round(label_width + plot * k / n, 1), scale_max * k // n) for k in range(n + 1))
    height = top + len(rows) * (bar_height + gap) + 4
    return Chart(tuple(bars), width, height, label_width, bar_height, ticks)
