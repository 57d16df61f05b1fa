"""Intent classifier: linear models over TF-IDF weighted features and over sentence vectors.

Citizens' messages are short, and the training data is a few thousand written examples. On
that, regularised linear models over bags of jieba words, character 1-3-grams of the text (they
survive typos, homophones and missing word boundaries), the regex cues and lookup tables of the
NLU data, the message length and its shape generalise better than DIET (5-fold
cross-validation, bench/bench_nlu.py) and train in seconds. The shape is the length of each run of
digits (4 is the end of a phone number, 11 a mobile number, other lengths are mostly keys pressed
at random) and the share of the message's words that are rare in the training data or one
character long (word salad and keyboard mashing). Before the character n-grams the text is normalised:
dialect words become the standard word (nlu_data/normalise/dialect.tsv: 咋 -> 怎么, 俺 -> 我),
punctuation and spaces become one space, and the start and end of the message are marked, so
that "好" alone and "好" opening a sentence are different features.

Over those features a linear SVM (its margins through a softmax) and, unless `C` is None, a
logistic regression, whose probabilities are averaged with the SVM's.

Bags of words only know the training data's words. When a featurizer named in `dense_featurizers`
has added a dense sentence vector to the message (SentenceEncoderFeaturizer: a pretrained
multilingual encoder), a logistic regression over that vector knows that other words can mean
the same (求之不得 and 同意); its probabilities get `dense_weight` of the mix. As deployed
(bot/config.yml) the mix is the SVM and the sentence vectors' regression: in 5-fold
cross-validation it is as good as all three, and the logistic regression over the sparse
features was the slowest part of the component's training. The FallbackClassifier thresholds
the mix. DIET keeps the entities.

Configured in bot/config.yml after the tokenizer; the model is stored as JSON and a NumPy
archive (no pickles), and the features are computed here in one place for training and use.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import normalize
from sklearn.svm import LinearSVC

from bot.components.fingerprint import files_fingerprint

logger = logging.getLogger(__name__)

MODEL_FILE = "linear_intent.json"
WORD = r"\S+"  # the tokenizer already split the words; they are joined with spaces
WEIGHTS_FILE = "linear_intent.npz"
START, END = "\x02", "\x03"  # marks around the normalised text for the character n-grams
SEPARATORS = re.compile(r"[\s\W_]+")
QUESTION = re.compile(r"[?？]")
# Upper bounds of the message length buckets (characters of the normalised text).
LENGTH_BINS = (1, 2, 3, 5, 8, 13, 21)
DIGITS = re.compile(r"\d+")
NOT_DIGITS = re.compile(r"[^\d\s\W_]")
# Upper bounds of the digit run length buckets: 4 the end of a phone number, 11 a mobile number,
# 18 an ID number; one more feature says the message is nothing but digits.
DIGIT_BINS = (1, 2, 3, 4, 5, 6, 8, 10, 11, 12, 17, 18)
SHARES = 6  # buckets of the share of rare words and of one-character words in a message
RARE = 1  # a word in at most this many training examples is rare


def read_dialect(path: str | Path) -> list[list[str]]:
    """The dialect table: (word, standard word) pairs in file order, '#' lines are comments."""
    pairs = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            word, standard = line.split("\t")
            pairs.append([word.strip(), standard.strip()])
    return pairs


class Features:
    """Word, character n-gram, regex, length and shape counts of a message, weighted by TF-IDF."""

    def __init__(self, word_vocab: dict, char_vocab: dict, char_ngrams: tuple[int, int],
                 patterns: list[str], dialect: list[list[str]], idf: np.ndarray | None = None,
                 word_df: np.ndarray | None = None) -> None:
        self.words = CountVectorizer(token_pattern=WORD, vocabulary=word_vocab)
        self.chars = CountVectorizer(analyzer="char", ngram_range=tuple(char_ngrams), vocabulary=char_vocab)
        self.patterns = patterns
        self.dialect = dialect
        self._regexes = [re.compile(p, re.IGNORECASE) for p in patterns]
        self.idf = idf
        self.word_df = word_df  # in how many training examples each word of word_vocab occurs
        # The words in more than RARE training examples; any other word counts as rare.
        self._frequent = (set() if word_df is None else
                          {w for w, i in word_vocab.items() if word_df[i] > RARE})

    @classmethod
    def fit(cls, messages: list[Message], char_ngrams: tuple[int, int], patterns: list[str],
            dialect: list[list[str]]) -> Features:
        words = CountVectorizer(token_pattern=WORD).fit(_words(m) for m in messages)
        chars = CountVectorizer(analyzer="char", ngram_range=tuple(char_ngrams)).fit(
            normalise(_text(m), dialect) for m in messages)
        word_counts = words.transform(_words(m) for m in messages)
        features = cls(words.vocabulary_, chars.vocabulary_, char_ngrams, patterns, dialect,
                       word_df=np.bincount(word_counts.indices, minlength=word_counts.shape[1]))
        counts = features.counts(messages)
        document_frequency = np.bincount(counts.indices, minlength=counts.shape[1])
        n = counts.shape[0]
        features.idf = np.log((1 + n) / (1 + document_frequency)) + 1.0  # smoothed, as sklearn's
        return features

    def counts(self, messages: list[Message]) -> sp.csr_matrix:
        texts = [_text(m) for m in messages]
        words = [_words(m) for m in messages]
        normalised = [normalise(t, self.dialect) for t in texts]
        regex = sp.csr_matrix(
            [[1.0 if r.search(t) else 0.0 for r in self._regexes] for t in texts],
            shape=(len(messages), len(self._regexes)),
        )
        lengths = np.searchsorted(LENGTH_BINS, [len(t) - 2 for t in normalised])  # without the marks
        length = sp.csr_matrix((np.ones(len(messages)), (np.arange(len(messages)), lengths)),
                               shape=(len(messages), len(LENGTH_BINS) + 1))
        matrix = sp.hstack([self.words.transform(words), self.chars.transform(normalised), regex,
                            length, self.shape(normalised, words)]).tocsr()
        matrix.sort_indices()
        return matrix

    def shape(self, normalised: list[str], words: list[str]) -> sp.csr_matrix:
        """One-hot buckets: the length of each digit run, digits only, the share of rare words
        and the share of one-character words."""
        digit_only = len(DIGIT_BINS) + 1
        rare_at, single_at = digit_only + 1, digit_only + 1 + SHARES
        rows, columns = [], []
        for row, (text, joined) in enumerate(zip(normalised, words, strict=True)):
            text = text[1:-1]  # without the marks
            runs = DIGITS.findall(text)
            found = {int(np.searchsorted(DIGIT_BINS, len(run))) for run in runs}
            if runs and not NOT_DIGITS.search(text):
                found.add(digit_only)
            tokens = joined.split()
            if tokens:
                rare = sum(1 for t in tokens if t not in self._frequent)
                single = sum(1 for t in tokens if len(t) == 1)
                found |= {rare_at + min(SHARES * rare // len(tokens), SHARES - 1),
                          single_at + min(SHARES * single // len(tokens), SHARES - 1)}
            rows += [row] * len(found)
            columns += sorted(found)
        return sp.csr_matrix((np.ones(len(rows)), (rows, columns)),
                             shape=(len(normalised), single_at + SHARES))

    def transform(self, messages: list[Message]) -> sp.csr_matrix:
        matrix = self.counts(messages).astype(np.float64)
        matrix.data = (np.log(matrix.data) + 1.0) * self.idf[matrix.indices]  # sublinear tf × idf
        return normalize(matrix)


def normalise(text: str, dialect: list[list[str]]) -> str:
    """The text for the character n-grams: standard words, one space for any punctuation,
    a trailing ？ if the message asked a question, and start and end marks."""
    for word, standard in dialect:
        text = text.replace(word, standard)
    text = unicodedata.normalize("NFKC", text)
    question = "？" if QUESTION.search(text) else ""
    return START + SEPARATORS.sub(" ", text).strip() + question + END


def _text(message: Message) -> str:
    return (message.get(TEXT) or "").lower()


def _words(message: Message) -> str:
    return " ".join(t.text.lower() for t in message.get(TOKENS_NAMES[TEXT]) or [])


def _lookup_pattern(table: dict) -> str | None:
    """A lookup table as one alternation (longest first), or None for a table kept in a file."""
    elements = table.get("elements")
    if not isinstance(elements, list) or not elements:
        return None
    return "|".join(re.escape(e.lower()) for e in sorted(elements, key=len, reverse=True))


def _softmax(scores: np.ndarray) -> np.ndarray:
    if scores.shape[1] == 1:  # two intents: sklearn keeps one row, for the second intent
        scores = np.hstack([np.zeros_like(scores), scores])
    scores = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(scores)
    return exp / exp.sum(axis=1, keepdims=True)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class LinearIntentClassifier(GraphComponent, IntentClassifier):
    @classmethod
    def required_components(cls) -> list[type]:
        return [Tokenizer]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            "C": 100.0,                # logistic regression: inverse regularisation strength (None: no LR)
            "svm_C": 3.0,              # linear SVM: inverse regularisation strength
            "svm_temperature": 10.0,   # the SVM's margins times this, through a softmax
            "char_ngrams": [1, 3],
            "use_regexes": True,       # the regexes of the NLU data as features
            "use_lookup_tables": True,  # one feature per lookup table: the message names one
            "dialect_path": None,      # tab-separated dialect word -> standard word
            "max_iter": 5000,
            "ranking_length": 10,
            "dense_featurizers": [],   # aliases of featurizers whose dense sentence vectors to use
            "dense_C": 100.0,          # logistic regression over those vectors
            "dense_weight": 0.45,      # its share of the probabilities
        }

    def __init__(self, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
                 features: Features | None = None, classes: list[str] | None = None,
                 weights: dict[str, np.ndarray] | None = None) -> None:
        self.component_config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.features = features
        self.classes = classes or []
        self.weights = weights  # lr_, svm_, dense_ coef and intercept, idf, word_df

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str:
        """This code and the dialect table: a change to either retrains the component."""
        return files_fingerprint(__file__, config.get("dialect_path"))

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> LinearIntentClassifier:
        return cls(config, model_storage, resource)

    def _patterns(self, training_data: TrainingData) -> list[str]:
        patterns = []
        if self.component_config["use_regexes"]:
            patterns += [r["pattern"] for r in training_data.regex_features]
        if self.component_config["use_lookup_tables"]:
            patterns += [p for p in map(_lookup_pattern, training_data.lookup_tables) if p]
        return patterns

    def train(self, training_data: TrainingData) -> Resource:
        examples = [m for m in training_data.intent_examples if m.get(INTENT) and m.get(TEXT)]
        if len({m.get(INTENT) for m in examples}) < 2:
            logger.warning("LinearIntentClassifier needs at least two intents; not trained.")
            return self._resource
        path = self.component_config["dialect_path"]
        self.features = Features.fit(examples, self.component_config["char_ngrams"],
                                     self._patterns(training_data), read_dialect(path) if path else [])
        matrix, labels = self.features.transform(examples), [m.get(INTENT) for m in examples]
        max_iter = self.component_config["max_iter"]
        svm = LinearSVC(C=self.component_config["svm_C"], max_iter=max_iter).fit(matrix, labels)
        self.classes = [str(c) for c in svm.classes_]
        self.weights = {"svm_coef": svm.coef_, "svm_intercept": svm.intercept_,
                        "idf": self.features.idf, "word_df": self.features.word_df}
        if self.component_config["C"] is not None:
            lr = LogisticRegression(C=self.component_config["C"], max_iter=max_iter).fit(matrix, labels)
            self.weights |= {"lr_coef": lr.coef_, "lr_intercept": lr.intercept_}
        dense = self.dense_features(examples)
        if dense is not None:
            model = LogisticRegression(C=self.component_config["dense_C"], max_iter=max_iter)
            model.fit(dense, labels)
            self.weights |= {"dense_coef": model.coef_, "dense_intercept": model.intercept_}
        self.persist()
        return self._resource

    def dense_features(self, messages: list[Message]) -> np.ndarray | None:
        """The dense sentence vectors of `dense_featurizers`, one row a message; None when the
        pipeline configures none."""
        featurizers = self.component_config["dense_featurizers"]
        if not featurizers:
            return None
        rows = []
        for message in messages:
            _, sentence = message.get_dense_features(TEXT, featurizers)
            if sentence is None:
                raise ValueError(f"LinearIntentClassifier: no dense sentence features from "
                                 f"{featurizers} for {message.get(TEXT)!r}; put those featurizers "
                                 f"before it in the pipeline")
            rows.append(sentence.features.reshape(-1))
        return np.vstack(rows)

    def persist(self) -> None:
        with self._model_storage.write_to(self._resource) as model_dir:
            (model_dir / MODEL_FILE).write_text(json.dumps({
                "classes": self.classes,
                "word_vocab": {k: int(v) for k, v in self.features.words.vocabulary.items()},
                "char_vocab": {k: int(v) for k, v in self.features.chars.vocabulary.items()},
                "char_ngrams": list(self.features.chars.ngram_range),
                "patterns": self.features.patterns,
                "dialect": self.features.dialect,
            }, ensure_ascii=False), encoding="utf-8")
            np.savez(model_dir / WEIGHTS_FILE, **self.weights)

    @classmethod
    def load(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> LinearIntentClassifier:
        try:
            with model_storage.read_from(resource) as model_dir:
                doc = json.loads((model_dir / MODEL_FILE).read_text(encoding="utf-8"))
                with np.load(model_dir / WEIGHTS_FILE, allow_pickle=False) as archive:
                    weights = {name: archive[name] for name in archive.files}
        except (ValueError, FileNotFoundError):
            logger.warning("LinearIntentClassifier: no trained model in %s", resource.name)
            return cls(config, model_storage, resource)
        features = Features(doc["word_vocab"], doc["char_vocab"], doc["char_ngrams"], doc["patterns"],
                            doc["dialect"], weights["idf"], weights["word_df"])
        return cls(config, model_storage, resource, features, doc["classes"], weights)

    def probabilities(self, messages: list[Message]) -> np.ndarray:
        """The softmax of the SVM's margins (times svm_temperature), averaged with the logistic
        regression's probabilities if there is one; with dense sentence vectors, mixed with the
        dense model's probabilities at dense_weight."""
        matrix, w = self.features.transform(messages), self.weights
        svm = np.asarray(matrix @ w["svm_coef"].T) + w["svm_intercept"]
        probabilities = _softmax(svm * self.component_config["svm_temperature"])
        if "lr_coef" in w:
            lr = np.asarray(matrix @ w["lr_coef"].T) + w["lr_intercept"]
            probabilities = (probabilities + _softmax(lr)) / 2.0
        if "dense_coef" not in w:
            return probabilities
        dense = self.dense_features(messages)
        if dense is None:
            raise ValueError("LinearIntentClassifier was trained with dense features; "
                             "configure dense_featurizers as in training")
        share = self.component_config["dense_weight"]
        dense_probabilities = _softmax(dense @ w["dense_coef"].T + w["dense_intercept"])
        return (1.0 - share) * probabilities + share * dense_probabilities

    def process(self, messages: list[Message]) -> list[Message]:
        if self.weights is None or not messages:
            return messages
        for message, probs in zip(messages, self.probabilities(messages), strict=True):
            order = np.argsort(-probs)
            ranking = [{INTENT_NAME_KEY: self.classes[i], PREDICTED_CONFIDENCE_KEY: float(probs[i])}
                       for i in order[: self.component_config["ranking_length"]]]
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages
