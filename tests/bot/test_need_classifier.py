"""智能分拨 (bot/components/need_classifier.py): trained on descriptions labelled by the need,
persisted and loaded as the Rasa server does, `need` in every parse; unsure means no program."""

from pathlib import Path

import pytest
import yaml
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.components.need_classifier import NEED, NeedClassifier, read_needs

from .conftest import CONTEXT, ROOT, deployed_config

SMALL = {"programs": {
    "medical": ["住院费交不起", "看病的钱没着落", "做手术要好几万", "医药费太贵了", "化疗的钱拿不出"],
    "education": ["学费交不起", "孩子上学没钱", "大学学费没着落", "娃的书本费交不上", "读书的生活费不够"],
    "disaster": ["洪水把房子冲了", "台风掀了屋顶", "地震房子裂了", "冰雹把庄稼打了", "发大水家被淹了"],
}}


@pytest.fixture
def small_file(tmp_path) -> Path:
    path = tmp_path / "needs.yml"
    path.write_text(yaml.safe_dump(SMALL, allow_unicode=True), encoding="utf-8")
    return path


def config(data_path, **over) -> dict:
    deployed = deployed_config("NeedClassifier")
    return {**NeedClassifier.get_default_config(), **deployed, "data_path": str(data_path),
            "dialect_path": str(ROOT / "nlu_data/normalise/dialect.tsv"), **over}


def trained(tmp_path, data_path, **over) -> NeedClassifier:
    storage, cfg = LocalModelStorage(tmp_path), config(data_path, **over)
    NeedClassifier.create(cfg, storage, Resource("need"), CONTEXT).train(TrainingData())
    return NeedClassifier.load(cfg, storage, Resource("need"), CONTEXT)


def parse(component, *texts) -> list[dict]:
    messages = [Message(data={TEXT: t}) for t in texts]
    component.process(messages)
    return [m.get(NEED) for m in messages]


def test_the_need_behind_unseen_words_after_a_round_trip_through_storage(tmp_path, small_file):
    component = trained(tmp_path, small_file)
    medical, school, storm = parse(component, "俺老伴住院了钱不够", "闺女读大专的学费没着落", "台风把俺家屋顶刮跑了")
    assert (medical["program"], school["program"], storm["program"]) == ("medical", "education", "disaster")
    assert [r["program"] for r in school["ranking"]][0] == "education"
    assert sum(r["confidence"] for r in school["ranking"]) == pytest.approx(1.0, abs=0.01)


def test_unsure_means_no_program_a_person_routes_it(tmp_path, small_file):
    component = trained(tmp_path, small_file, min_confidence=0.99)
    (need,) = parse(component, "住院费交不起")
    assert need["program"] is None and need["ranking"][0]["program"] == "medical"


def test_an_untrained_component_and_an_empty_message_are_left_alone(tmp_path, small_file):
    empty = NeedClassifier.load(config(small_file), LocalModelStorage(tmp_path), Resource("none"), CONTEXT)
    assert parse(empty, "住院费交不起") == [None]
    assert parse(trained(tmp_path, small_file), "") == [None]


def test_the_descriptions_file_is_part_of_the_fingerprint(small_file):
    before = NeedClassifier.fingerprint_addon(config(small_file))
    small_file.write_text(small_file.read_text(encoding="utf-8") + "\n# changed\n", encoding="utf-8")
    assert NeedClassifier.fingerprint_addon(config(small_file)) != before


def test_the_training_descriptions_cover_every_program():
    texts, labels = read_needs(ROOT / "bot/needs/train.yml")
    programs = yaml.safe_load((ROOT / "actions/vocabulary.yml").read_text(encoding="utf-8"))["programs"]
    counts = {p: labels.count(p) for p in programs}
    assert min(counts.values()) >= 60, counts
    assert len(set(texts)) == len(texts)  # no description twice
