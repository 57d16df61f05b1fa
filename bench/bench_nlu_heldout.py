"""NLU quality on messages written apart from the training data: bench/nlu_heldout.yml (420
messages over every intent, entities annotated, written by another author without sight of
nlu_data/ and not looked at while tuning), scored on the trained model (models/, `make model`)
with Rasa's own evaluator. Takes about a minute; the cross-validation in bench_nlu measures fit.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from bench.bench_nlu import summarise
from bench.results import write
from hotline.settings import ROOT

HELDOUT = ROOT / "bench" / "nlu_heldout.yml"
MODEL = ROOT / "models" / "hotline.tar.gz"


def main() -> None:
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2",
           "TQDM_DISABLE": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "heldout"
        subprocess.run(
            [str(ROOT / ".venv-bot/bin/rasa"), "test", "nlu", "--nlu", str(HELDOUT),
             "--model", str(MODEL), "--out", str(out), "--no-plot"],
            cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        write("bench_nlu_heldout", {"set": HELDOUT.name,
                                    "targets": {"intent_macro_f1": 0.95, "entity_f1": 0.90},
                                    **summarise(out)})


if __name__ == "__main__":
    main()
