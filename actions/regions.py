"""The seeded region codes (ARCHITECTURE.md §4.1); names come from the services API."""

from typing import Optional

SEEDED_REGIONS = ("320200", "430200", "511700", "220000", "341503")


def normalise_region(value: Optional[str]) -> Optional[str]:
    if isinstance(value, str) and value.strip() in SEEDED_REGIONS:
        return value.strip()
    return None
