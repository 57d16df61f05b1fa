"""The seeded regions (ARCHITECTURE.md §4.1): codes, names, and finding them in free text."""

from __future__ import annotations

from typing import Optional

from actions.vocabulary import vocabulary


def seeded() -> dict:
    return vocabulary()["regions"]


def normalise_region(value: object) -> Optional[str]:
    """A seeded region code, from a code or a region name (NLU synonyms map names to codes)."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value if value in seeded() else region_from_text(value)


def region_from_text(text: Optional[str]) -> Optional[str]:
    """The seeded region a message names (株洲市荷塘区 -> 430200), or None."""
    for code, region in seeded().items():
        if any(name in (text or "") for name in (region["name"], *region["aliases"])):
            return code
    return None


def region_name(code: Optional[str]) -> str:
    region = seeded().get(code or "")
    return region["name"] if region else ""
