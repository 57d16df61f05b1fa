"""An intent classifier that overrides the statistical one when a named regex matches.

Words of crisis (轻生, 不想活了, 家暴 ...) must hand the conversation to a person every time,
whatever DIET makes of a long, mixed or misspelt message. The component takes the patterns
from the NLU data (``nlu_data/regex.yml``), so the crisis lexicon is kept in one place and is
also used by the RegexFeaturizer. Configured in bot/config.yml::

    - name: bot.components.intent_override.RegexIntentOverride
      overrides:
        crisis: crisis_words          # intent: name of a regex in the NLU data

It must come after the statistical intent classifier and before the FallbackClassifier.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import rasa.shared.utils.io
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

logger = logging.getLogger(__name__)

PATTERNS_FILE = "patterns.json"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class RegexIntentOverride(GraphComponent, IntentClassifier):
    """Sets the intent with confidence 1.0 when one of its regexes matches the text."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"overrides": {}}

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        patterns: dict[str, list[str]] | None = None,
    ) -> None:
        self.component_config = config
        self._model_storage = model_storage
        self._resource = resource
        self._set_patterns(patterns or {})

    def _set_patterns(self, patterns: dict[str, list[str]]) -> None:
        self.patterns = patterns
        self._compiled = {
            intent: re.compile("|".join(f"(?:{p})" for p in pats), re.IGNORECASE)
            for intent, pats in patterns.items()
            if pats
        }

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> RegexIntentOverride:
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        """Takes the patterns of the configured regexes from the training data."""
        patterns: dict[str, list[str]] = {}
        for intent, regex_name in (self.component_config.get("overrides") or {}).items():
            found = [r["pattern"] for r in training_data.regex_features if r["name"] == regex_name]
            if not found:
                raise InvalidConfigException(
                    f"RegexIntentOverride: no regex named '{regex_name}' in the NLU data "
                    f"(configured for intent '{intent}')."
                )
            patterns[intent] = found
        self._set_patterns(patterns)
        with self._model_storage.write_to(self._resource) as model_dir:
            rasa.shared.utils.io.dump_obj_as_json_to_file(model_dir / PATTERNS_FILE, patterns)
        return self._resource

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> RegexIntentOverride:
        with model_storage.read_from(resource) as model_dir:
            patterns = rasa.shared.utils.io.read_json_file(model_dir / PATTERNS_FILE)
        return cls(config, model_storage, resource, patterns)

    def matching_intent(self, text: str) -> str | None:
        for intent, regex in self._compiled.items():
            if regex.search(text or ""):
                return intent
        return None

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            intent = self.matching_intent(message.get(TEXT))
            if intent is None:
                continue
            previous = message.get(INTENT) or {}
            logger.debug("Regex override: %s (statistical: %s)", intent, previous.get(INTENT_NAME_KEY))
            top = {INTENT_NAME_KEY: intent, PREDICTED_CONFIDENCE_KEY: 1.0}
            # The override is certain: the rest of the ranking keeps its order at confidence 0,
            # so the FallbackClassifier's ambiguity check cannot undo it.
            ranking = [top] + [
                {**r, PREDICTED_CONFIDENCE_KEY: 0.0}
                for r in message.get(INTENT_RANKING_KEY) or []
                if r.get(INTENT_NAME_KEY) != intent
            ]
            message.set(INTENT, top, add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages
