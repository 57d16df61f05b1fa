"""The crisis override: trained from the regexes in nlu_data, persisted and loaded back the way
Rasa does it, and it turns any message with words of crisis into `crisis` with certainty while
leaving other messages (打我电话, 打零工 ...) alone."""

import pytest
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.importers.importer import TrainingDataImporter
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.components.intent_override import RegexIntentOverride

from .conftest import ROOT

CONFIG = {"overrides": {"crisis": "crisis_words"}}


@pytest.fixture(scope="module")
def nlu_data():
    importer = TrainingDataImporter.load_from_dict(training_data_paths=[str(ROOT / "nlu_data")])
    return importer.get_nlu_data()


@pytest.fixture()
def trained(tmp_path, nlu_data):
    storage = LocalModelStorage(tmp_path)
    resource = Resource("override")
    context = ExecutionContext(graph_schema=None, model_id="m")
    RegexIntentOverride.create(CONFIG, storage, resource, context).train(nlu_data)
    # Loaded back from storage, as the Rasa server does.
    return RegexIntentOverride.load(CONFIG, storage, resource, context)


def classify(component, text, statistical="inform", confidence=0.97):
    message = Message(data={TEXT: text})
    message.set(INTENT, {"name": statistical, "confidence": confidence})
    message.set(
        INTENT_RANKING_KEY,
        [
            {"name": statistical, "confidence": confidence},
            {"name": "crisis", "confidence": 0.02},
            {"name": "greet", "confidence": 0.01},
        ],
    )
    component.process([message])
    return message


@pytest.mark.parametrize(
    "text",
    [
        "我不想活了",
        "俺男人天天打俺 俺想跑",
        "他喝醉了就打我和孩子",
        "我被家暴了 咋整啊",
        "申请了半年低保都没批 我活不下去了",
        "我已经喝了农药",
        "我写好遗书了",
        "我现在站在楼顶上",
        "我吞了一整瓶药",
        "控制不住想伤害自己",
        "想离开这个世界",
        "我老公喝醉了砸东西打人 我和娃躲在厕所里",
        "看不起病 我就在家等死吧",
    ],
)
def test_words_of_crisis_become_crisis_with_certainty(trained, text):
    message = classify(trained, text)
    assert message.get(INTENT) == {"name": "crisis", "confidence": 1.0}
    ranking = message.get(INTENT_RANKING_KEY)
    assert ranking[0] == {"name": "crisis", "confidence": 1.0}
    # The statistical guesses stay visible but cannot make the fallback call it ambiguous.
    assert [r["name"] for r in ranking[1:]] == ["inform", "greet"]
    assert all(r["confidence"] == 0.0 for r in ranking[1:])


@pytest.mark.parametrize(
    "text",
    ["你打我电话吧 13800001234", "我儿子在外面打工", "我天天打零工", "老伴经常打针", "别打扰我", "我想走了",
     "我吞了两片药 还是头疼", "这个世界变化太快"],
)
def test_ordinary_messages_keep_the_statistical_intent(trained, text):
    message = classify(trained, text, statistical="inform", confidence=0.97)
    assert message.get(INTENT) == {"name": "inform", "confidence": 0.97}


def test_no_training_example_of_another_intent_contains_words_of_crisis(trained, nlu_data):
    """Training data and the override must agree, or the bot would contradict its own data."""
    clashes = [
        (m.get(INTENT), m.get(TEXT))
        for m in nlu_data.intent_examples
        if m.get(INTENT) != "crisis" and trained.matching_intent(m.get(TEXT)) == "crisis"
    ]
    assert not clashes, clashes


def test_a_missing_regex_is_a_configuration_error(tmp_path):
    component = RegexIntentOverride.create(
        {"overrides": {"crisis": "no_such_regex"}},
        LocalModelStorage(tmp_path),
        Resource("override"),
        ExecutionContext(graph_schema=None, model_id="m"),
    )
    with pytest.raises(InvalidConfigException, match="no_such_regex"):
        component.train(TrainingData())
