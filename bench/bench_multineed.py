"""一门受理 on descriptions that name several needs, written apart from the training data
(tests/services/data/multineed_heldout_*.yml, by other authors, never looked at while tuning;
multineed_reserve_*.yml, kept unseen for the next change and reported on its own):
POST /api/cases/proposals on a fresh stack with the trained model, against what one referral
per description found before (the whole text's need alone, measured in the same run).

Figures: for every need told, whether a proposal goes to its department (per referral) and is
its program; for two-need and three-need descriptions, whether every need was found; and the
proposals that match no need told (a citizen or agent is asked to confirm them).
"""

from __future__ import annotations

import httpx
import yaml

from bench.bench_bot import on_stack
from bench.results import write
from hotline.settings import ROOT
from referral import domain

HELD_OUT = sorted((ROOT / "tests/services/data").glob("multineed_heldout_*.yml"))
# Kept unseen until a change to need reading is measured: then reported on its own, first.
RESERVE = sorted((ROOT / "tests/services/data").glob("multineed_reserve_*.yml"))


async def propose_all(services: str, texts: list[str]) -> list[list[dict]]:
    async with httpx.AsyncClient(timeout=120) as http:
        out = []
        for text in texts:
            r = await http.post(f"{services}/api/cases/proposals", json={"text": text})
            r.raise_for_status()
            out.append(r.json()["proposals"])
        return out


def scores(gold: list[list[str]], found: list[list[str]]) -> dict:
    dep = domain.department_for
    needs = [(g, f) for gs, f in zip(gold, found, strict=True) for g in gs]
    by_size = {}
    for size in sorted({len(g) for g in gold}):
        items = [(gs, f) for gs, f in zip(gold, found, strict=True) if len(gs) == size]
        by_size[f"{size}_needs"] = {
            "n": len(items),
            "all_departments_found": round(sum(all(dep(g) in {dep(x) for x in f} for g in gs)
                                               for gs, f in items) / len(items), 4),
            "all_programs_found": round(sum(set(gs) <= set(f) for gs, f in items) / len(items), 4)}
    proposals = [(gs, x) for gs, f in zip(gold, found, strict=True) for x in f]
    return {
        "needs": len(needs),
        "department_found_per_referral": round(sum(dep(g) in {dep(x) for x in f} for g, f in needs)
                                               / len(needs), 4),
        "program_found_per_referral": round(sum(g in f for g, f in needs) / len(needs), 4),
        **by_size,
        "department_found_by_program": {
            code: round(sum(dep(g) in {dep(x) for x in f} for g, f in needs if g == code)
                        / sum(g == code for g, _ in needs), 3)
            for code in sorted({g for g, _ in needs})},
        "proposals_per_description": round(len(proposals) / len(gold), 3),
        "proposals_to_a_department_not_told": round(
            sum(dep(x) not in {dep(g) for g in gs} for gs, x in proposals) / max(len(proposals), 1), 4),
    }


def _items(paths) -> list[dict]:
    return [i for path in paths for i in yaml.safe_load(path.read_text(encoding="utf-8"))["items"]]


def report(items: list[dict], proposals: list[list[dict]]) -> dict:
    texts, gold = [i["text"] for i in items], [list(i["programs"]) for i in items]
    multi = [[p["program"] for p in ps] for ps in proposals]
    single = [[p["program"] for p in ps if p["clause"] is None and not p.get("by_department")]
              for ps in proposals]
    misses = [{"text": t, "told": g, "proposed": m}
              for t, g, m in zip(texts, gold, multi, strict=True) if not set(g) <= set(m)]
    return {"descriptions": len(items), "proposals": scores(gold, multi),
            "baseline_whole_text_only": scores(gold, single), "misses": misses[:30]}


def main() -> None:
    sets = {"held_out": HELD_OUT, "reserve": RESERVE}
    grouped = {name: _items(paths) for name, paths in sets.items() if paths}
    texts = [i["text"] for items in grouped.values() for i in items]
    found = on_stack(lambda ports, _token: propose_all(
        f"http://127.0.0.1:{ports['HOTLINE_PORT']}", texts))
    out, at = {}, 0
    for name, items in grouped.items():
        mine = found[at:at + len(items)]
        out[name] = {"files": [str(p.relative_to(ROOT)) for p in sets[name]], **report(items, mine)}
        # each author's set on its own too: they label differently, and a pooled figure hides it
        by_file, start = {}, 0
        for path in sets[name]:
            n = len(_items([path]))
            by_file[path.name] = scores([list(i["programs"]) for i in items[start:start + n]],
                                        [[p["program"] for p in ps] for ps in mine[start:start + n]])
            start += n
        out[name]["by_file"] = by_file
        at += len(items)
    write("multineed", out)


if __name__ == "__main__":
    main()
