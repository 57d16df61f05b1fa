"""The held-out sets measure understanding only while none of their messages was trained on:
a held-out message that is also a training example (or one that differs from it only in
spaces and punctuation, which the featurisers hardly see) measures memory. Both sides are read
as the trainers read them, annotations removed; only the held-out side is ever reported, so
that whoever rewrites a line still writes it without sight of the training data."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
# Rasa's entity annotations, [text](entity) or [text]{"entity": ...}: the text is the message.
ANNOTATION = re.compile(r"\[([^\]]*)\](?:\([^)]*\)|\{[^}]*\})+")
RASA_KEYS = ("intent", "synonym", "lookup", "regex")


def plain(text: str) -> str:
    return " ".join(ANNOTATION.sub(r"\1", text).split())


def bare(text: str) -> str:
    """The message without spaces and punctuation, full-width folded and case ignored."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", plain(text)).casefold()
                   if not ch.isspace() and not unicodedata.category(ch).startswith("P"))


def rasa_examples(*paths: Path) -> list[tuple[str, str]]:
    """(intent, synonym, lookup or regex name; example) of Rasa NLU files, every example list."""
    pairs = []
    for path in paths:
        for entry in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu") or []:
            label = next(entry[key] for key in RASA_KEYS if key in entry)
            pairs += [(label, line.strip()[2:]) for line in entry["examples"].splitlines()
                      if line.strip().startswith("- ")]
    return pairs


def need_descriptions(path: Path) -> list[tuple[str, str]]:
    """(program, description) of the need classifier's files."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))["programs"]
    return [(program, text) for program, texts in doc.items() for text in texts]


def shared(held_out: list[tuple[str, str]], training: list[tuple[str, str]]) -> list[str]:
    """The held-out examples that are training examples, exactly or but for spaces and
    punctuation; a message of punctuation only has nothing left to compare but its exact text."""
    exact = {plain(text) for _, text in training}
    near = {bare(text) for _, text in training} - {""}
    return [f"{label}: {text} ({'exact' if plain(text) in exact else 'near'})"
            for label, text in held_out if plain(text) in exact or bare(text) in near]


def multineed_items() -> list[tuple[str, str]]:
    """(programs, description) of the multi-need held-out files (bench/bench_multineed.py) and
    the reserve kept unseen for the next change (multineed_reserve_*.yml)."""
    return [("+".join(i["programs"]), i["text"])
            for path in sorted((ROOT / "tests/services/data").glob("multineed_*.yml"))
            for i in yaml.safe_load(path.read_text(encoding="utf-8"))["items"]]


def multineed_dev_items() -> list[tuple[str, str]]:
    """The development sets of need reading (looked at while tuning, but not trained on)."""
    return [("+".join(i["programs"]), i["text"])
            for path in sorted((ROOT / "bench").glob("multineed_dev*.yml"))
            for i in yaml.safe_load(path.read_text(encoding="utf-8"))["items"]]


PAIRS = {
    "nlu": (lambda: rasa_examples(ROOT / "bench/nlu_heldout.yml"),
            lambda: rasa_examples(*sorted((ROOT / "nlu_data").rglob("*.yml")))),
    "needs": (lambda: need_descriptions(ROOT / "tests/services/data/needs_heldout.yml"),
              lambda: need_descriptions(ROOT / "bot/needs/train.yml")),
    "multineed": (multineed_items,
                  lambda: need_descriptions(ROOT / "bot/needs/train.yml")
                  + rasa_examples(*sorted((ROOT / "nlu_data").rglob("*.yml")))),
    "multineed_dev": (multineed_dev_items,
                      lambda: need_descriptions(ROOT / "bot/needs/train.yml")
                      + multineed_items()),
}


def test_annotations_spaces_and_punctuation_do_not_hide_a_copy():
    held_out = [("ask_policy", "[低保](program) [要啥材料](aspect)？"), ("greet", "喂，在吗")]
    training = [("ask_policy", "低保要啥材料"), ("greet", "喂 在吗")]

    assert shared(held_out, training) == ["ask_policy: [低保](program) [要啥材料](aspect)？ (near)",
                                          "greet: 喂，在吗 (near)"]
    assert shared([("greet", "喂 在吗")], training) == ["greet: 喂 在吗 (exact)"]
    assert shared([("nonsense", "。。。")], [("nonsense", "？？")]) == []


@pytest.mark.parametrize("pair", sorted(PAIRS))
def test_no_held_out_message_is_a_training_example(pair):
    read_held_out, read_training = PAIRS[pair]
    held_out, training = read_held_out(), read_training()
    assert held_out and training

    overlap = shared(held_out, training)

    assert not overlap, f"{len(overlap)} held-out messages are training examples:\n" + "\n".join(overlap)
