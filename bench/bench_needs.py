"""智能分拨 on descriptions written apart from the classifier's training data
(tests/services/data/needs_heldout.yml, by another author, never looked at while tuning):
program and department accuracy and macro-F1 through Rasa's /model/parse with the trained
model, the share the classifier was unsure of (those go to civil affairs for a person to
route), the share it got wrong while sure ("silently wrong"), and the confusions.
"""

from __future__ import annotations

from collections import Counter

import httpx
import yaml

from bench.bench_bot import on_stack
from bench.results import write
from hotline.settings import ROOT
from referral import domain

HELD_OUT = ROOT / "tests/services/data/needs_heldout.yml"


def macro_f1(pairs: list[tuple[str, str | None]], labels: list[str]) -> float:
    f1s = []
    for label in labels:
        tp = sum(1 for gold, got in pairs if gold == label and got == label)
        fp = sum(1 for gold, got in pairs if gold != label and got == label)
        fn = sum(1 for gold, got in pairs if gold == label and got != label)
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return round(sum(f1s) / len(f1s), 4)


async def classify(rasa: str, texts: list[str], token: dict) -> list[dict]:
    async with httpx.AsyncClient(timeout=60, params=token) as http:
        out = []
        for text in texts:
            r = await http.post(f"{rasa}/model/parse", json={"text": text})
            out.append(r.json().get("need") or {})
        return out


def figures(gold: list[str], needs: list[dict]) -> dict:
    got = [n.get("program") for n in needs]
    best = [(n.get("ranking") or [{}])[0].get("program") for n in needs]  # ignoring the threshold
    dep = domain.department_for
    unsure = sum(g is None for g in got)
    programs = sorted(set(gold))
    routed = [(dep(g), dep(p) if p else domain.UNSURE_DEPARTMENT) for g, p in zip(gold, got, strict=True)]
    confusions = Counter((g, p) for g, p in zip(gold, best, strict=True) if g != p)
    return {
        "n": len(gold),
        "program_accuracy": round(sum(g == p for g, p in zip(gold, got, strict=True)) / len(gold), 4),
        "program_macro_f1": macro_f1(list(zip(gold, got, strict=True)), programs),
        "department_accuracy": round(sum(a == b for a, b in routed) / len(routed), 4),
        "department_macro_f1": macro_f1(routed, sorted({a for a, _ in routed})),
        "unsure_share": round(unsure / len(gold), 4),
        "silently_wrong_share": round(sum(p is not None and dep(p) != dep(g)
                                          for g, p in zip(gold, got, strict=True)) / len(gold), 4),
        "without_threshold": {
            "program_accuracy": round(sum(g == b for g, b in zip(gold, best, strict=True)) / len(gold), 4),
            "department_accuracy": round(sum(dep(g) == dep(b) for g, b in zip(gold, best, strict=True))
                                         / len(gold), 4)},
        "per_program_recall": {p: round(sum(g == p and x == p for g, x in zip(gold, got, strict=True))
                                        / max(gold.count(p), 1), 3) for p in programs},
        "top_confusions": [{"gold": g, "predicted": p, "count": n}
                           for (g, p), n in confusions.most_common(15)],
    }


def main() -> None:
    doc = yaml.safe_load(HELD_OUT.read_text(encoding="utf-8"))["programs"]
    texts = [t for v in doc.values() for t in v]
    gold = [k for k, v in doc.items() for _ in v]
    needs = on_stack(lambda ports, token: classify(f"http://127.0.0.1:{ports['RASA_PORT']}",
                                                   texts, token))
    write("needs", {"held_out": str(HELD_OUT.relative_to(ROOT)), **figures(gold, needs)})


if __name__ == "__main__":
    main()
