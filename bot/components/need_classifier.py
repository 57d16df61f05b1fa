"""智能分拨: the need behind a description (the assistance program, hence the department by
referral/routing.yml), one classifier for the triage API, the help form and the agents' desk.

Citizens describe what happened ("闺女读大专的学费没着落", "台风把屋顶掀了"), seldom the program.
The classifier is trained on descriptions in citizens' words labelled by the need, not by a
benefit the citizen already has (bot/needs/train.yml: a 特困 elder asking about a hospital bill
is `medical`). It is the intent classifier's recipe on other labels: a linear SVM over TF-IDF
character 1-3-grams of the normalised text (dialect words mapped, nlu_data/normalise/dialect.tsv),
mixed with a logistic regression over the sentence encoder's vectors, which know that words the
training data never used can mean the same need.

Every message with text gets `need` in the parse result: {"program", "confidence", "ranking"}.
Below `min_confidence` the program is None: the caller sends the request to civil affairs (the
一门受理 office) flagged for a person to route, never silently to a wrong department.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from bot.components.fingerprint import files_fingerprint
from bot.components.linear_intent import _softmax, normalise, read_dialect
from bot.components.sentence_encoder import embed

logger = logging.getLogger(__name__)
MODEL_FILE, WEIGHTS_FILE = "need_classifier.json", "need_classifier.npz"
NEED = "need"


def read_needs(path: str | Path) -> tuple[list[str], list[str]]:
    """(texts, programs) of a needs file: {programs: {program: [description, …]}}."""
    doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    pairs = [(text, program) for program, texts in doc["programs"].items() for text in texts]
    return [t for t, _ in pairs], [p for _, p in pairs]


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=True)
class NeedClassifier(GraphComponent):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            "data_path": "bot/needs/train.yml",
            "dialect_path": "nlu_data/normalise/dialect.tsv",
            "char_ngrams": [1, 3],
            "svm_C": 1.0,
            "svm_temperature": 5.0,
            "dense_featurizers": ["sentence_encoder"],  # the message's vector, from the pipeline
            "dense_C": 50.0,
            "dense_weight": 0.5,
            "min_confidence": 0.35,  # below: no program, a person routes it
            "ranking_length": 3,
        }

    def __init__(self, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
                 vocabulary: dict | None = None, classes: list[str] | None = None,
                 weights: dict[str, np.ndarray] | None = None) -> None:
        self.config = {**self.get_default_config(), **config}
        self._model_storage, self._resource = model_storage, resource
        self.classes = classes or []
        self.weights = weights
        self.dialect = read_dialect(self.config["dialect_path"]) if self.config["dialect_path"] else []
        self.vectorizer = None
        if vocabulary is not None:
            self.vectorizer = self._vectorizer(vocabulary)
            self.vectorizer.idf_ = weights["idf"]

    def _vectorizer(self, vocabulary: dict | None = None) -> TfidfVectorizer:
        return TfidfVectorizer(analyzer="char", ngram_range=tuple(self.config["char_ngrams"]),
                               sublinear_tf=True, vocabulary=vocabulary)

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str:
        """This code, the descriptions and the dialect table: a change retrains it."""
        merged = {**cls.get_default_config(), **config}
        return files_fingerprint(__file__, merged["data_path"], merged["dialect_path"])

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> NeedClassifier:
        return cls(config, model_storage, resource)

    def _normalised(self, texts: list[str]) -> list[str]:
        return [normalise((t or "").lower(), self.dialect) for t in texts]

    def train(self, training_data: TrainingData) -> Resource:
        texts, labels = read_needs(self.config["data_path"])
        self.vectorizer = self._vectorizer().fit(self._normalised(texts))
        sparse = self.vectorizer.transform(self._normalised(texts))
        svm = LinearSVC(C=self.config["svm_C"], max_iter=5000).fit(sparse, labels)
        dense = LogisticRegression(C=self.config["dense_C"], max_iter=5000).fit(embed(texts), labels)
        self.classes = [str(c) for c in svm.classes_]
        assert self.classes == [str(c) for c in dense.classes_]
        self.weights = {"svm_coef": svm.coef_, "svm_intercept": svm.intercept_,
                        "dense_coef": dense.coef_, "dense_intercept": dense.intercept_,
                        "idf": self.vectorizer.idf_}
        with self._model_storage.write_to(self._resource) as model_dir:
            (model_dir / MODEL_FILE).write_text(json.dumps({
                "classes": self.classes,
                "vocabulary": {k: int(v) for k, v in self.vectorizer.vocabulary_.items()}},
                ensure_ascii=False), encoding="utf-8")
            np.savez(model_dir / WEIGHTS_FILE, **self.weights)
        return self._resource

    @classmethod
    def load(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> NeedClassifier:
        try:
            with model_storage.read_from(resource) as model_dir:
                doc = json.loads((model_dir / MODEL_FILE).read_text(encoding="utf-8"))
                with np.load(model_dir / WEIGHTS_FILE, allow_pickle=False) as archive:
                    weights = {name: archive[name] for name in archive.files}
        except (ValueError, FileNotFoundError):
            logger.warning("NeedClassifier: no trained model in %s", resource.name)
            return cls(config, model_storage, resource)
        return cls(config, model_storage, resource, doc["vocabulary"], doc["classes"], weights)

    def _vectors(self, messages: list[Message]) -> np.ndarray:
        """The sentence vectors the pipeline's encoder added (computed once a message)."""
        rows = []
        for message in messages:
            _, sentence = message.get_dense_features(TEXT, self.config["dense_featurizers"])
            rows.append(sentence.features.reshape(-1) if sentence is not None else
                        embed([message.get(TEXT)])[0])
        return np.vstack(rows)

    def probabilities(self, messages: list[Message]) -> np.ndarray:
        w = self.weights
        sparse = self.vectorizer.transform(self._normalised([m.get(TEXT) for m in messages]))
        svm = _softmax((np.asarray(sparse @ w["svm_coef"].T) + w["svm_intercept"])
                       * self.config["svm_temperature"])
        dense = _softmax(self._vectors(messages) @ w["dense_coef"].T + w["dense_intercept"])
        share = self.config["dense_weight"]
        return (1.0 - share) * svm + share * dense

    def process(self, messages: list[Message]) -> list[Message]:
        described = [m for m in messages if m.get(TEXT)]
        if self.weights is None or not described:
            return messages
        for message, probs in zip(described, self.probabilities(described), strict=True):
            order = np.argsort(-probs)[: self.config["ranking_length"]]
            ranking = [{"program": self.classes[i], "confidence": round(float(probs[i]), 4)} for i in order]
            sure = ranking[0]["confidence"] >= self.config["min_confidence"]
            message.set(NEED, {"program": ranking[0]["program"] if sure else None,
                               "confidence": ranking[0]["confidence"], "ranking": ranking},
                        add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data
