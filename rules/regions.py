"""The seeded regions directory."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml


@cache
def regions() -> dict[str, dict]:
    path = Path(__file__).with_name("regions.yml")
    return yaml.safe_load(path.read_text(encoding="utf-8"))["regions"]


def region_codes() -> frozenset[str]:
    return frozenset(regions())
