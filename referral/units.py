"""The directory of handling units (承办单位): every 乡镇/街道 of each seeded region, with its
statistical division code, the office that handles citizens' requests and the names people
use for it. No database or web code: referral.service adds the offices and aliases admins
edited in the console.

The directory is data (referral/units/<region>.yml, written by scripts/seed-units from the
National Bureau of Statistics' codes). A citizen's free-text street (`平桥`, `平桥乡政府`,
`裕安区平桥乡`, `鼓楼街道办`) is matched to it by the longest name or alias it contains.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

import yaml

UNITS_DIR = Path(__file__).with_name("units")
_NOTE = re.compile(r"（[^）]*）|\([^)]*\)")  # NBS notes such as "（工业园区）城南街道"
# Longest first: "街道办事处" before "街道", "民族乡" before "乡".
_SUFFIXES = ("街道办事处", "街道办", "人民政府", "办事处", "政府", "街道", "民族乡", "民族镇",
             "苏木", "镇", "乡")
_NOT_TEXT = re.compile(r"[\s\W_]+")
_TRAILING_CODE = re.compile(r"[（(](\d{9})[）)]$")
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C parser when built: 10x faster


class DirectoryError(ValueError):
    """A unit file that cannot be trusted; the message names the file and the entry."""


def normalise(text: str) -> str:
    """Full-width to half-width, no spaces or punctuation: what matching compares."""
    return _NOT_TEXT.sub("", unicodedata.normalize("NFKC", text or ""))


def short_name(name: str) -> str | None:
    """平桥乡 -> 平桥, 鼓楼街道 -> 鼓楼, 孤家子满族镇 -> 孤家子满族; None when too short to mean
    one place (固镇镇 -> 固镇 is kept: two characters)."""
    base = _NOTE.sub("", name)
    for suffix in _SUFFIXES:
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    return base if len(base) >= 2 and base != name else None


def _county_keys(county: str) -> set[str]:
    """白城市洮北区 -> {白城市洮北区, 白城市, 洮北区, 洮北}; 宜兴市 -> {宜兴市, 宜兴}."""
    keys = {county}
    m = re.match(r"^(.+?[市州盟])(.+[区县市旗])$", county)
    if m:
        keys |= {m.group(1), m.group(2)}
        county = m.group(2)
    if len(county) > 2 and county[-1] in "区县市旗":
        keys.add(county[:-1])
    return {normalise(k) for k in keys}


@dataclass(frozen=True)
class Unit:
    code: str  # 9-digit statistical division code (统计用区划代码)
    region: str
    name: str
    county: str
    office: str  # who handles the citizen's request: 平桥乡人民政府, 鼓楼街道办事处
    aliases: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.county}{self.office}"

    def keys(self) -> set[str]:
        names = {self.name, _NOTE.sub("", self.name), self.office, *self.aliases}
        names |= {s for n in list(names) if (s := short_name(n))}
        return {k for k in map(normalise, names) if len(k) >= 2}


@dataclass(frozen=True)
class Match:
    """The unit a text names, or None with the candidates it could not choose between."""

    unit: Unit | None
    candidates: tuple[Unit, ...] = ()


@dataclass
class Directory:
    units: dict[str, Unit]  # code -> unit
    _index: dict[str, dict[str, set[str]]] = field(default_factory=dict, repr=False)

    _places: dict[str, list[str]] = field(default_factory=dict, repr=False)

    def __post_init__(self):
        for unit in self.units.values():
            by_key = self._index.setdefault(unit.region, {})
            for key in unit.keys():
                by_key.setdefault(key, set()).add(unit.code)
        for region in self._index:  # county and city names, longest first
            names = {k for u in self.in_region(region) for k in _county_keys(u.county)
                     if k[-1] in "区县市旗州盟"}
            self._places[region] = sorted(names, key=len, reverse=True)

    def get(self, code: str | None) -> Unit | None:
        return self.units.get(code or "")

    def in_region(self, region: str) -> list[Unit]:
        return [u for u in self.units.values() if u.region == region]

    def with_edits(self, edits: Mapping[str, tuple[str, Iterable[str]]]) -> Directory:
        """The directory with admins' edits: code -> (office, aliases)."""
        units = dict(self.units)
        for code, (office, aliases) in edits.items():
            if code in units:
                units[code] = replace(units[code], office=office, aliases=tuple(aliases))
        return Directory(units)

    def match(self, region: str, text: str | None) -> Match:
        """The unit of `region` that `text` names by its longest key; a tie is broken by the
        county named in the text, else there is no match (a person places the ticket)."""
        t = normalise(text or "")
        # "梨树县" names a county, not 梨树镇: county and city names are not unit names.
        bare = t
        for place in self._places.get(region, ()):
            bare = bare.replace(place, " ")
        best, codes = 0, set()
        for key, key_codes in self._index.get(region, {}).items():
            if len(key) >= best and key in bare:
                if len(key) > best:
                    best, codes = len(key), set()
                codes |= key_codes
        if len(codes) > 1:
            named = {c for c in codes if any(k in t for k in _county_keys(self.units[c].county))}
            codes = named or codes
        found = sorted((self.units[c] for c in codes), key=lambda u: u.code)
        return Match(found[0]) if len(found) == 1 else Match(None, tuple(found))

    def resolve(self, entry: str) -> list[Unit]:
        """Units an admin means by `entry`: a code, or exactly a name, office or alias."""
        entry = entry.strip()
        if m := _TRAILING_CODE.search(entry):  # as the console shows it: "…平桥乡人民政府（341503204）"
            entry = m.group(1)
        if entry in self.units:
            return [self.units[entry]]
        t = normalise(entry)
        return sorted((u for u in self.units.values()
                       if t in {normalise(n) for n in (u.name, _NOTE.sub("", u.name), u.office,
                                                       u.label, *u.aliases)}),
                      key=lambda u: u.code)


def _load_file(path: Path, regions: Iterable[str]) -> list[Unit]:
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)  # noqa: S506 - safe
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise DirectoryError(f"{path.name}: cannot be read: {exc}") from None
    region = str((doc or {}).get("region", ""))
    if region != path.stem or region not in regions:
        raise DirectoryError(f"{path.name}: `region` must be {path.stem}, a seeded region")
    prefix = region[:2] if region.endswith("0000") else region[:4] if region.endswith("00") else region
    out = []
    for i, entry in enumerate(doc.get("units") or []):
        where = f"{path.name}: units[{i}]"
        if not isinstance(entry, dict):
            raise DirectoryError(f"{where}: not a mapping")
        code = str(entry.get("code", ""))
        if not re.fullmatch(r"\d{9}", code) or not code.startswith(prefix):
            raise DirectoryError(f"{where}: code {code!r} is not a 9-digit code of {region}")
        values = {k: entry.get(k) for k in ("name", "county", "office")}
        if not all(isinstance(v, str) and v.strip() for v in values.values()):
            raise DirectoryError(f"{where}: name, county and office are required")
        aliases = entry.get("aliases") or []
        if not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip() for a in aliases):
            raise DirectoryError(f"{where}: aliases must be a list of names")
        out.append(Unit(code, region, *(v.strip() for v in values.values()),
                        tuple(a.strip() for a in aliases)))
    if not out:
        raise DirectoryError(f"{path.name}: no units")
    return out


def load(directory: Path | None = None, regions: Iterable[str] | None = None) -> Directory:
    from rules.regions import region_codes

    regions = set(regions or region_codes())
    units: dict[str, Unit] = {}
    for path in sorted((directory or UNITS_DIR).glob("*.yml")):
        for unit in _load_file(path, regions):
            if unit.code in units:
                raise DirectoryError(f"{path.name}: code {unit.code} is listed twice")
            units[unit.code] = unit
    return Directory(units)


@cache
def seeded() -> Directory:
    """The directory as the repository has it (before admins' edits), loaded once."""
    return load()
