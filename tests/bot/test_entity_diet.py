"""EntityDIET trains DIET on every example with an entity, every example without one that could
tempt the tagger (a digit, a word that is part of an entity elsewhere) and a seeded share of the
rest, with the regexes, lookup tables and synonyms of the NLU data; the deployed pipeline uses it."""

import pytest
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.classifiers.diet_classifier import DIETClassifier
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.importers.importer import TrainingDataImporter
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.components.entity_diet import EntityDIET, entity_training_data

from .conftest import CONTEXT, ROOT, deployed_config


@pytest.fixture(scope="module")
def nlu_data(tokenizer):
    data = TrainingDataImporter.load_from_dict(training_data_paths=[str(ROOT / "nlu_data")]).get_nlu_data()
    tokenizer.process_training_data(data)
    return data


def texts(data):
    return [m.get(TEXT) for m in data.nlu_examples]


def message(words, entity=None):
    """A tokenized message of space-free words; `entity` is (entity name, the word it covers)."""
    tokens, start = [], 0
    for word in words:
        tokens.append(Token(word, start))
        start += len(word)
    text = "".join(words)
    data = {TEXT: text, "intent": "inform"}
    if entity:
        name, word = entity
        data[ENTITIES] = [{"entity": name, "value": word, "start": text.index(word),
                           "end": text.index(word) + len(word)}]
    m = Message(data=data)
    m.set(TOKENS_NAMES[TEXT], tokens)
    return m


def test_tempting_examples_without_entities_are_kept_and_common_words_tempt_nothing():
    fillers = [message(["你好", chr(0x4E00 + i)]) for i in range(120)]  # "你好" is in most examples
    data = TrainingData(training_examples=[
        message(["俺", "一个人", "过"], entity=("person_count", "一个人")),
        message(["转", "一个人", "吧"]),          # the entity's word, no entity: tempting
        message(["号码", "是", "147258"]),        # a digit: tempting
        message(["谢谢", "你好"]),                 # neither: "你好" is common
        *fillers,
    ])
    kept = texts(entity_training_data(data, 0.0, seed=1))
    assert kept == ["俺一个人过", "转一个人吧", "号码是147258"]
    assert len(texts(entity_training_data(data, 0.5, seed=1))) == 3 + round(0.5 * 121)


def test_on_the_nlu_data_every_entity_is_kept_and_the_training_set_is_smaller(nlu_data):
    with_entities = [m.get(TEXT) for m in nlu_data.nlu_examples if m.get(ENTITIES)]
    digits = [m.get(TEXT) for m in nlu_data.nlu_examples if any(c.isdigit() for c in m.get(TEXT))]
    kept = texts(entity_training_data(nlu_data, 0.15, seed=1))
    assert set(with_entities) <= set(kept) and set(digits) <= set(kept)
    assert [t for t in texts(nlu_data) if t in set(kept)] == kept  # file order, no copies
    assert len(with_entities) > 500 and len(kept) < 0.6 * len(texts(nlu_data))


def test_the_share_is_seeded(nlu_data):
    def kept(seed):
        return texts(entity_training_data(nlu_data, 0.15, seed=seed))

    assert kept(1) == kept(1)
    assert kept(1) != kept(2)


def test_regexes_lookup_tables_and_synonyms_travel_with_the_subset(nlu_data):
    subset = entity_training_data(nlu_data, 0.15, seed=1)
    assert subset.regex_features == nlu_data.regex_features and subset.regex_features
    assert subset.lookup_tables == nlu_data.lookup_tables and subset.lookup_tables
    assert subset.entity_synonyms == nlu_data.entity_synonyms and subset.entity_synonyms


def test_diet_is_trained_on_the_subset_with_the_deployed_settings(nlu_data, tmp_path, monkeypatch):
    config = {**EntityDIET.get_default_config(), **deployed_config("EntityDIET")}
    seen = []
    monkeypatch.setattr(DIETClassifier, "train", lambda self, data: seen.append(data))
    component = EntityDIET.create(config, LocalModelStorage(tmp_path), Resource("diet"), CONTEXT)
    component.train(nlu_data)
    assert component.component_config["intent_classification"] is False  # the intents are linear
    (trained_on,) = seen
    expected = entity_training_data(nlu_data, config["examples_without_entities"], config["random_seed"],
                                    config["common_word_share"])
    assert texts(trained_on) == texts(expected)
    assert len(texts(trained_on)) < len(texts(nlu_data))
