"""NLU quality: stratified 5-fold cross-validation of the bot's NLU pipeline (bot/config.yml) on
nlu_data/, with Rasa's own evaluator (`rasa test nlu --cross-validation`). Writes intent
macro-F1 (target 0.95), entity F1 per extractor (target 0.90), per-intent F1 and the most
frequent confusions, so a regression in the training data shows up by name.

Takes five trainings of the NLU pipeline, each embedding the whole data with the sentence
encoder: 44 minutes on 2 cores measured beside a CI run (about 30-35 alone, estimated).
BENCH_NLU_FOLDS overrides the number of folds.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.results import write
from hotline.settings import ROOT

FOLDS = int(os.environ.get("BENCH_NLU_FOLDS", "5"))
# The intent is only one of the measures; the others are the extractors' entity reports.
FALLBACK = "nlu_fallback"
ENTITY_REPORTS = ("EntityDIET_report.json", "RegexEntityExtractor_report.json")


def cross_validate(out: Path) -> float:
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2",
           "TQDM_DISABLE": "1"}
    t0 = time.monotonic()
    subprocess.run(
        [str(ROOT / ".venv-bot/bin/rasa"), "test", "nlu", "--nlu", "nlu_data", "--config", "bot/config.yml",
         "--cross-validation", "--folds", str(FOLDS), "--out", str(out), "--no-plot"],
        cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    return time.monotonic() - t0


def summarise(out: Path) -> dict:
    intents = json.loads((out / "intent_report.json").read_text(encoding="utf-8"))
    labels = {k: v for k, v in intents.items()
              if isinstance(v, dict) and " avg" not in k and k != FALLBACK}
    errors = json.loads((out / "intent_errors.json").read_text(encoding="utf-8"))
    confusions = Counter((e["intent"], e["intent_prediction"]["name"]) for e in errors)
    entities = {}
    for name in ENTITY_REPORTS:
        path = out / name
        if path.exists():
            report = json.loads(path.read_text(encoding="utf-8"))
            entities[name.removesuffix("_report.json")] = {
                "micro_f1": round(report["micro avg"]["f1-score"], 4),
                "macro_f1": round(report["macro avg"]["f1-score"], 4),
                "weighted_f1": round(report["weighted avg"]["f1-score"], 4),
            }
    return {
        "examples": sum(v["support"] for v in labels.values()),
        "intent": {
            # Over the domain's intents. Rasa's evaluator undoes the FallbackClassifier's
            # nlu_fallback (it scores the classifier's own top intent), so this is the classifier.
            "macro_f1": round(sum(v["f1-score"] for v in labels.values()) / len(labels), 4),
            "weighted_f1": round(intents["weighted avg"]["f1-score"], 4),
            "accuracy": round(intents.get("accuracy", intents.get("micro avg", {}).get("f1-score", 0.0)), 4),
            "per_intent_f1": {k: round(v["f1-score"], 3) for k, v in sorted(labels.items())},
            "top_confusions": [
                {"intent": a, "predicted": b, "count": n} for (a, b), n in confusions.most_common(15)
            ],
        },
        "entities": entities,
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cv"
        seconds = cross_validate(out)
        write("bench_nlu", {"folds": FOLDS, "seconds": round(seconds, 1),
                            "targets": {"intent_macro_f1": 0.95, "entity_f1": 0.90}, **summarise(out)})


if __name__ == "__main__":
    main()
