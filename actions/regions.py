"""The seeded regions (ARCHITECTURE.md §4.1): codes, names, and finding them in free text."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Dict, Optional

import yaml

from actions.vocabulary import vocabulary

UNITS = Path(__file__).resolve().parents[1] / "referral" / "units"  # the 乡镇/街道 directory


def seeded() -> dict:
    return vocabulary()["regions"]


def normalise_region(value: object) -> Optional[str]:
    """A seeded region code, from a code or a region name (NLU synonyms map names to codes)."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value if value in seeded() else region_from_text(value)


@lru_cache(maxsize=1)
def places() -> Dict[str, str]:
    """Place name -> seeded region: the regions' names and aliases, and the cities and counties
    of the units directory (长春, 长春市二道区, 二道区, 醴陵, 渠县 …), longest first."""
    found: Dict[str, str] = {}
    for path in sorted(UNITS.glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for unit in data.get("units") or []:
            parts = re.findall(r".+?(?:自治州|自治县|市|区|县|旗)", unit.get("county") or "")
            for i, part in enumerate(parts):
                if part.endswith("区") and (i > 0 or "开发区" in part):
                    continue  # 长春市朝阳区 is found by 长春; 朝阳区 alone could be Beijing's
                found.setdefault(part, data["region"])
                short = re.sub(r"(市|县)$", "", part)
                if len(short) >= 2 and short != part:
                    found.setdefault(short, data["region"])
    for code, region in seeded().items():  # the regions' own names win over a county's
        for name in (region["name"], *region["aliases"]):
            found[name] = code
    return dict(sorted(found.items(), key=lambda kv: -len(kv[0])))


def region_from_text(text: Optional[str]) -> Optional[str]:
    """The seeded region a message names (株洲市荷塘区 -> 430200, 长春 -> 220000), or None."""
    for name, code in places().items():
        if name in (text or ""):
            return code
    return None


def region_name(code: Optional[str]) -> str:
    region = seeded().get(code or "")
    return region["name"] if region else ""
