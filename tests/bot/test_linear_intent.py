"""The intent classifier trained on the real NLU data through Rasa's own tokenizer, persisted and
loaded back as the Rasa server does: it must rank intents as probabilities, agree with the data
on unseen phrasings of the main intents, and survive a round trip through model storage."""

import numpy as np
import pytest
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.importers.importer import TrainingDataImporter
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.components.linear_intent import (
    DIGIT_BINS,
    END,
    SHARES,
    START,
    Features,
    LinearIntentClassifier,
    _softmax,
    normalise,
    read_dialect,
)

from .conftest import CONTEXT, ROOT, deployed_config


def intent_config():
    """The component's settings in bot/config.yml, with the dialect table's path made absolute."""
    config = deployed_config("LinearIntentClassifier")
    return {**config, "dialect_path": str(ROOT / config["dialect_path"])}


class Front:
    """What runs before the classifier in the deployed pipeline: jieba, then the sentence encoder."""

    def __init__(self, tokenizer, encoder):
        self.tokenizer, self.encoder = tokenizer, encoder

    def process(self, messages):
        self.encoder.process(self.tokenizer.process(messages))
        return messages

    def process_training_data(self, data):
        self.encoder.process_training_data(self.tokenizer.process_training_data(data))
        return data


@pytest.fixture(scope="module")
def front(tokenizer, sentence_encoder):
    return Front(tokenizer, sentence_encoder)


@pytest.fixture(scope="module")
def storage(tmp_path_factory, front):
    data = TrainingDataImporter.load_from_dict(training_data_paths=[str(ROOT / "nlu_data")]).get_nlu_data()
    front.process_training_data(data)
    storage = LocalModelStorage(tmp_path_factory.mktemp("model"))
    LinearIntentClassifier.create(intent_config(), storage, Resource("intent"), CONTEXT).train(data)
    return storage


@pytest.fixture(scope="module")
def classifier(storage):
    return LinearIntentClassifier.load(intent_config(), storage, Resource("intent"), CONTEXT)


def classify(classifier, front, *texts):
    messages = [Message(data={TEXT: t}) for t in texts]
    front.process(messages)
    classifier.process(messages)
    return messages


@pytest.mark.parametrize("text, intent", [
    ("低保一个月能领多少钱", "ask_policy"),
    ("俺家三口人 一个月收入一千八 够不够吃低保", "check_eligibility"),
    ("我想申请临时救助 家里实在困难", "request_help"),
    ("转人工", "request_human"),
    ("我的申请到哪一步了", "ask_ticket_status"),
    ("谢谢你啊", "thank"),
    ("今天天气怎么样", "out_of_scope"),
])
def test_loaded_model_classifies_unambiguous_messages(classifier, front, text, intent):
    (message,) = classify(classifier, front, text)
    assert message.get(INTENT)["name"] == intent


def test_ranking_is_a_probability_distribution_in_order(classifier, front):
    (message,) = classify(classifier, front, "低保要什么材料")
    ranking = message.get(INTENT_RANKING_KEY)
    confidences = [r["confidence"] for r in ranking]
    assert confidences == sorted(confidences, reverse=True)
    assert ranking[0] == message.get(INTENT)
    assert len(ranking) == 10 and 0 < sum(confidences) <= 1.0 + 1e-9


def test_a_batch_gives_the_same_answers_as_one_at_a_time(classifier, front):
    texts = ["你好", "不知道", "算了不办了", "再试一次"]
    batch = [m.get(INTENT) for m in classify(classifier, front, *texts)]
    single = [classify(classifier, front, t)[0].get(INTENT) for t in texts]
    # The encoder's batched arithmetic differs from one at a time in the last float digits.
    assert [b["name"] for b in batch] == [s["name"] for s in single]
    assert [b["confidence"] for b in batch] == pytest.approx([s["confidence"] for s in single], abs=1e-4)


def test_text_the_model_never_saw_still_gets_a_ranking(classifier, front):
    for message in classify(classifier, front, "ⓧⓧⓧ", ""):
        probs = [r["confidence"] for r in message.get(INTENT_RANKING_KEY)]
        assert all(np.isfinite(probs)) and sum(probs) <= 1.0 + 1e-9


GREET_GOODBYE = [("你好", "greet"), ("您好啊", "greet"), ("早上好", "greet"),
                 ("再见", "goodbye"), ("拜拜", "goodbye"), ("下次再聊", "goodbye")]


def train_small(tmp_path, tokenizer, examples, config):
    """The classifier trained on a few (text, intent) pairs and loaded back from storage."""
    data = TrainingData(training_examples=[Message(data={TEXT: t, INTENT: i}) for t, i in examples])
    tokenizer.process_training_data(data)
    storage = LocalModelStorage(tmp_path)
    LinearIntentClassifier.create(config, storage, Resource("i"), CONTEXT).train(data)
    return LinearIntentClassifier.load(config, storage, Resource("i"), CONTEXT)


def test_two_intents_give_binary_probabilities(tmp_path, tokenizer, front):
    loaded = train_small(tmp_path, tokenizer, GREET_GOODBYE, {})
    (message,) = classify(loaded, front, "你好呀")
    ranking = message.get(INTENT_RANKING_KEY)
    assert [r["name"] for r in ranking] == ["greet", "goodbye"]
    assert sum(r["confidence"] for r in ranking) == pytest.approx(1.0)


def test_an_untrained_component_leaves_messages_alone(tmp_path, front):
    loaded = LinearIntentClassifier.load({}, LocalModelStorage(tmp_path), Resource("none"), CONTEXT)
    (message,) = classify(loaded, front, "你好")
    assert message.get(INTENT) is None


def test_dialect_words_punctuation_and_the_ends_are_normalised_before_the_character_ngrams():
    dialect = read_dialect(ROOT / "nlu_data/normalise/dialect.tsv")
    assert normalise("俺家娃  咋办？？", dialect) == START + "我家孩子 怎么办？" + END
    assert normalise("啥子，低保!!", dialect) == START + "什么 低保" + END
    assert normalise("ＯＫ".lower(), dialect) == START + "ok" + END  # the classifier lower-cases first


def test_the_dialect_table_travels_with_the_model(classifier):
    # Loaded from the model alone: the server needs no dialect file at run time.
    assert ["俺", "我"] in classifier.features.dialect
    assert ["咋", "怎么"] in classifier.features.dialect


def test_a_malformed_dialect_line_is_an_error(tmp_path):
    path = tmp_path / "dialect.tsv"
    path.write_text("# comment\n咋\t怎么\n俺 我\n", encoding="utf-8")
    with pytest.raises(ValueError):
        read_dialect(path)


def test_lookup_tables_and_regexes_become_features(classifier, front):
    features = classifier.features
    (program,) = [i for i, p in enumerate(features.patterns) if "最低生活保障" in p]  # one alternation
    assert any(p.startswith("1[3-9]") for p in features.patterns)  # the phone regex
    column = len(features.words.vocabulary) + len(features.chars.vocabulary) + program
    named, unnamed = classify(classifier, front, "我想问一下城市低保", "我想问一下")
    assert features.counts([named])[0, column] == 1
    assert features.counts([unnamed])[0, column] == 0


def test_both_deployed_models_are_stored_and_agree_on_clear_messages(classifier, front):
    weights = classifier.weights
    assert "lr_coef" not in weights  # C: null, the SVM alone over the sparse features
    assert weights["svm_coef"].shape == (len(classifier.classes), weights["idf"].shape[0])
    (message,) = classify(classifier, front, "低保一个月能领多少钱")
    matrix = classifier.features.transform([message])
    svm = np.asarray(matrix @ weights["svm_coef"].T + weights["svm_intercept"]).argmax()
    dense = classifier.dense_features([message]) @ weights["dense_coef"].T + weights["dense_intercept"]
    assert classifier.classes[svm] == classifier.classes[int(dense.argmax())] == "ask_policy"


def test_a_logistic_regression_over_the_sparse_features_is_averaged_in_when_configured(tmp_path, tokenizer):
    loaded = train_small(tmp_path, tokenizer, GREET_GOODBYE + [("谢谢", "thank"), ("多谢了", "thank")],
                         {"C": 10.0, "svm_temperature": 5.0})
    (message,) = classify(loaded, tokenizer, "你好呀")
    w, matrix = loaded.weights, loaded.features.transform([message])
    svm = _softmax(5.0 * np.asarray(matrix @ w["svm_coef"].T + w["svm_intercept"]))
    lr = _softmax(np.asarray(matrix @ w["lr_coef"].T + w["lr_intercept"]))
    assert message.get(INTENT)["confidence"] == pytest.approx(((svm + lr) / 2).max())


@pytest.mark.parametrize("text, intent", [
    ("6203918475", "nonsense"),      # 10 digits: no phone number, no last four digits
    ("13907315826", "inform"),       # a mobile number
    ("5826", "inform"),              # the last four digits of one
    ("咕噜哇啦叽里呱啦嘿", "nonsense"),  # words nobody wrote before
])
def test_the_shape_of_digits_and_of_unknown_words_decides_unseen_strings(classifier, front, text, intent):
    (message,) = classify(classifier, front, text)
    assert message.get(INTENT)["name"] == intent


def test_shape_features_bucket_digit_runs_and_the_share_of_rare_and_short_words(tokenizer):
    data = TrainingData(training_examples=[Message(data={TEXT: t, INTENT: i}) for t, i in [
        ("低保 怎么 申请", "ask_policy"), ("低保 怎么 办", "ask_policy"), ("你好", "greet")]])
    tokenizer.process_training_data(data)
    features = Features.fit(data.intent_examples, (1, 3), [], [])
    messages = [Message(data={TEXT: t}) for t in ["138 0000 1234", "13800001234", "低保 怎么", "哈哈 怎么"]]
    tokenizer.process(messages)
    words = [" ".join(t.text for t in m.get("text_tokens")) for m in messages]
    shape = features.shape([normalise(m.get(TEXT), []) for m in messages], words).toarray()
    digit_only, rare_at = len(DIGIT_BINS) + 1, len(DIGIT_BINS) + 2
    run = {n: int(np.searchsorted(DIGIT_BINS, n)) for n in (3, 4, 11)}
    assert np.flatnonzero(shape[0][:rare_at]).tolist() == sorted({run[3], run[4], digit_only})
    assert np.flatnonzero(shape[1][:rare_at]).tolist() == [run[11], digit_only]
    assert shape[2][rare_at] == 1  # 低保 and 怎么 are in two examples each: none is rare
    assert shape[3][rare_at + SHARES // 2] == 1  # 哈哈 was never seen: half the words are rare


def test_the_code_and_the_dialect_table_are_part_of_the_cache_fingerprint(tmp_path):
    table = tmp_path / "dialect.tsv"
    table.write_text("咋\t怎么\n", encoding="utf-8")
    before = LinearIntentClassifier.fingerprint_addon({"dialect_path": str(table)})
    assert LinearIntentClassifier.fingerprint_addon({"dialect_path": str(table)}) == before
    table.write_text("咋\t怎么\n俺\t我\n", encoding="utf-8")
    assert LinearIntentClassifier.fingerprint_addon({"dialect_path": str(table)}) != before
    assert LinearIntentClassifier.fingerprint_addon({}) != before


def test_the_sentence_vectors_get_their_own_model_mixed_in_at_dense_weight(classifier, front):
    weights, config = classifier.weights, classifier.component_config
    assert weights["dense_coef"].shape == (len(classifier.classes), 384)
    (message,) = classify(classifier, front, "求之不得 就这么办吧")
    _, sentence = message.get_dense_features(TEXT, config["dense_featurizers"])
    matrix = classifier.features.transform([message])
    svm = np.asarray(matrix @ weights["svm_coef"].T + weights["svm_intercept"]) * config["svm_temperature"]
    dense = sentence.features @ weights["dense_coef"].T + weights["dense_intercept"]
    expected = (1 - config["dense_weight"]) * _softmax(svm) + config["dense_weight"] * _softmax(dense)
    ranking = message.get(INTENT_RANKING_KEY)
    assert ranking[0]["confidence"] == pytest.approx(expected.max())
    assert ranking[0]["name"] == classifier.classes[int(expected.argmax())]


def test_a_message_without_the_sentence_vector_is_a_configuration_error(classifier, tokenizer):
    message = Message(data={TEXT: "低保怎么申请"})
    tokenizer.process([message])  # no sentence encoder ran
    with pytest.raises(ValueError, match="sentence_encoder"):
        classifier.process([message])
