"""DIET for entities only, trained on the examples that teach it something about entities.

The intents come from LinearIntentClassifier, so DIET here only tags entities (programs,
aspects, regions, amounts, household sizes ...). Three quarters of the NLU examples have no
entity at all, and training on every one of them made DIET the slowest part of a cold training
(4.5 s an epoch, 72% of the whole on 2 cores). This component trains DIET on:

- every example with an entity;
- every example without one that could tempt the tagger: it has a digit (nonsense digit strings
  against phone and reference numbers) or a word that is part of an entity elsewhere (转个人
  against 一个人, 多少钱 outside a question about amounts), leaving out words common to more than
  `common_word_share` of the examples (的, 人);
- a seeded random share (`examples_without_entities`) of the rest.

It predicts exactly as DIETClassifier; only the training set is smaller (entity F1 in 5-fold
cross-validation: bench/bench_nlu.py).
"""

from __future__ import annotations

import random
import re
from collections import Counter
from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.nlu.classifiers.diet_classifier import DIETClassifier
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.components.fingerprint import files_fingerprint

DIGIT = re.compile(r"\d")


def _entity_words(examples: list[Message], common: set[str]) -> set[str]:
    """The tokens that lie inside an annotated entity somewhere, but for the common ones."""
    words = set()
    for message in examples:
        for entity in message.get(ENTITIES) or []:
            words.update(t.text for t in message.get(TOKENS_NAMES[TEXT]) or []
                         if t.start < entity["end"] and t.end > entity["start"])
    return words - common


def entity_training_data(training_data: TrainingData, share_without: float, seed: int | None,
                         common_word_share: float = 0.02) -> TrainingData:
    """Every example with an entity, every tempting one without, and `share_without` of the
    others (seeded); in file order."""
    examples = training_data.nlu_examples
    words = [{t.text for t in m.get(TOKENS_NAMES[TEXT]) or []} for m in examples]
    frequency = Counter(word for w in words for word in w)
    entity_words = _entity_words(
        examples, {word for word, n in frequency.items() if n > common_word_share * len(examples)})
    keep = {i for i, m in enumerate(examples)
            if m.get(ENTITIES) or DIGIT.search(m.get(TEXT) or "") or words[i] & entity_words}
    rest = [i for i in range(len(examples)) if i not in keep]
    keep.update(random.Random(seed).sample(rest, round(share_without * len(rest))))
    return TrainingData(
        training_examples=[examples[i] for i in sorted(keep)],
        entity_synonyms=training_data.entity_synonyms,
        regex_features=training_data.regex_features,
        lookup_tables=training_data.lookup_tables,
    )


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=True)
class EntityDIET(DIETClassifier):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            **DIETClassifier.get_default_config(),
            "intent_classification": False,
            "examples_without_entities": 0.05,  # share of the other examples without entities
            "common_word_share": 0.02,  # words in more examples than this never make one tempting
        }

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str:
        """This code (which examples DIET trains on): a change retrains the component."""
        return files_fingerprint(__file__)

    def train(self, training_data: TrainingData) -> Resource:
        return super().train(entity_training_data(
            training_data, self.component_config["examples_without_entities"],
            self.component_config["random_seed"], self.component_config["common_word_share"]))
