"""The NLU data itself: enough examples per intent, and every annotated program, aspect and
region maps (through synonyms) to a code the actions and the services know."""

from collections import Counter
from pathlib import Path

import pytest
import yaml

from actions.policy import ASPECTS
from actions.vocabulary import vocabulary

ROOT = Path(__file__).resolve().parents[2]
MIN_EXAMPLES = 40


@pytest.fixture(scope="module")
def nlu():
    from rasa.shared.data import get_data_files, is_nlu_file
    from rasa.shared.nlu.training_data.loading import load_data

    files = get_data_files([str(ROOT / "nlu_data")], is_nlu_file)
    data = load_data(files[0])
    return data.merge(*[load_data(f) for f in files[1:]])


def test_every_intent_has_enough_examples(nlu):
    domain = yaml.safe_load((ROOT / "bot/domain.yml").read_text(encoding="utf-8"))
    counts = Counter(m.get("intent") for m in nlu.intent_examples)
    thin = {i: counts[i] for i in domain["intents"] if counts[i] < MIN_EXAMPLES}
    assert not thin, thin


@pytest.mark.parametrize(
    "entity, allowed",
    [
        ("program", lambda: set(vocabulary()["programs"])),
        ("aspect", lambda: set(ASPECTS)),
        ("region", lambda: set(vocabulary()["regions"])),
    ],
)
def test_annotations_map_to_known_codes(nlu, entity, allowed):
    known = allowed()
    unmapped = sorted(
        {
            e["value"] if nlu.entity_synonyms.get(e["value"]) is None else nlu.entity_synonyms[e["value"]]
            for m in nlu.entity_examples
            for e in m.get("entities") or []
            if e["entity"] == entity
        }
        - known
    )
    assert not unmapped, unmapped
