"""Policy answers (actions/policy.py) against the fake services API."""

from rasa_sdk.executor import CollectingDispatcher

from actions.policy import ActionAnswerPolicy, ValidatePolicyForm, aspect_for
from tests.bot.conftest import DOMAIN, entity, make_tracker, responses, texts_of

FORM_SLOTS = ["program", "region"]


def test_aspect_named_now_wins_else_follow_up_keeps_it():
    assert (
        aspect_for(make_tracker({"aspect": "条件"}, "那要带什么材料", entities=[entity("aspect", "材料")]))
        == "材料"
    )
    # 那特困呢: a new program, elliptical question -> same aspect as before
    assert (
        aspect_for(make_tracker({"aspect": "标准"}, "那特困呢", entities=[entity("program", "tekun")]))
        == "标准"
    )
    # 什么是特困: a new program and no aspect -> the overview
    assert (
        aspect_for(make_tracker({"aspect": "标准"}, "什么是特困", entities=[entity("program", "tekun")]))
        is None
    )
    assert aspect_for(make_tracker({"aspect": "材料"}, "详细说说")) == "材料"


async def test_region_is_asked_once_and_remembered():
    form = ValidatePolicyForm()
    d = CollectingDispatcher()
    assert await form.required_slots(FORM_SLOTS, d, make_tracker({"program": "dibao"}), DOMAIN) == ["region"]
    assert (
        await form.required_slots(
            FORM_SLOTS, d, make_tracker({"program": "dibao", "region": "430200"}), DOMAIN
        )
        == []
    )
    declined = make_tracker({"program": "dibao", "region_declined": True})
    assert await form.required_slots(FORM_SLOTS, d, declined, DOMAIN) == []


async def test_unknown_place_or_dont_know_means_general_answer():
    form, d = ValidatePolicyForm(), CollectingDispatcher()
    t = make_tracker({"program": "dibao"}, "北京", requested_slot="region")
    assert await form.extract_region(d, t, DOMAIN) == {"region": None, "region_declined": True}
    t = make_tracker({"program": "dibao"}, "株洲市荷塘区", requested_slot="region")
    assert await form.extract_region(d, t, DOMAIN) == {"region": "430200"}
    assert await form.validate_region("株洲", d, t, DOMAIN) == {"region": "430200"}


async def test_program_from_words_or_dont_know():
    form, d = ValidatePolicyForm(), CollectingDispatcher()
    t = make_tracker({}, "就是临时救助", requested_slot="program")
    assert await form.extract_program(d, t, DOMAIN) == {"program": "temporary"}
    t = make_tracker({}, "不知道", intent="dont_know", requested_slot="program")
    assert await form.required_slots(FORM_SLOTS, d, t, DOMAIN) == []  # the form ends: overview
    t = make_tracker({}, "嗯嗯", requested_slot="program")
    assert await form.extract_program(d, t, DOMAIN) == {"program": None}  # asked again
    assert await form.validate_program("低保", d, t, DOMAIN) == {"program": "dibao"}


async def test_answer_for_program_aspect_region(services):
    d = CollectingDispatcher()
    t = make_tracker(
        {"program": "dibao", "region": "430200", "aspect": "材料"},
        "低保要带什么材料",
        intent="ask_policy",
        entities=[entity("program", "dibao"), entity("aspect", "材料")],
    )
    events = await ActionAnswerPolicy().run(d, t, DOMAIN)
    assert services.policy_queries[-1] == {"program": "dibao", "aspect": "材料", "region": "430200"}
    assert texts_of(d) == ["低保（材料）：带户口本、身份证，填申请书和授权书（一证一书）。"]
    assert {"event": "slot", "name": "pending_retry", "value": None, "timestamp": None} in events


async def test_no_aspect_gives_the_overview_and_what_else_to_ask(services):
    d = CollectingDispatcher()
    t = make_tracker(
        {"program": "tekun", "region_declined": True},
        "特困是什么",
        intent="ask_policy",
        entities=[entity("program", "tekun")],
    )
    await ActionAnswerPolicy().run(d, t, DOMAIN)
    assert services.policy_queries[-1] == {"program": "tekun", "aspect": "条件"}
    assert responses(d) == ["utter_policy_general", "utter_policy_answer", "utter_policy_more"]


async def test_no_program_lists_the_programs(services):
    d = CollectingDispatcher()
    await ActionAnswerPolicy().run(d, make_tracker({}, "有啥政策", intent="ask_policy"), DOMAIN)
    assert responses(d) == ["utter_policy_overview"] and services.policy_queries == []


async def test_service_down_says_so_and_keeps_the_question(services_down):
    d = CollectingDispatcher()
    t = make_tracker(
        {"program": "dibao", "region": "430200", "aspect": "标准"}, "低保标准多少", intent="ask_policy"
    )
    events = await ActionAnswerPolicy().run(d, t, DOMAIN)
    assert responses(d) == ["utter_service_down_policy"]
    assert events == [{"event": "slot", "name": "pending_retry", "value": "policy", "timestamp": None}]


async def test_program_the_knowledge_base_lacks(services):
    d = CollectingDispatcher()
    await ActionAnswerPolicy().run(
        d, make_tracker({"program": "vagrant"}, "流浪人员", intent="ask_policy"), DOMAIN
    )
    assert responses(d) == ["utter_policy_overview"]


async def test_dont_know_the_program_ends_the_form_in_one_turn():
    form, d = ValidatePolicyForm(), CollectingDispatcher()
    t = make_tracker(
        {},
        "不知道",
        intent="dont_know",
        requested_slot="program",
        active_loop="policy_form",
        form_turn="policy_form",
    )
    events = await form.run(d, t, DOMAIN)
    assert events[-1] == {"event": "slot", "name": "requested_slot", "value": None, "timestamp": None}


async def test_the_region_question_answered_by_a_city_is_set():
    from rasa_sdk.executor import CollectingDispatcher as Dispatcher

    from actions.policy import ValidatePolicyForm
    from tests.bot.conftest import DOMAIN as D
    from tests.bot.conftest import make_tracker as mk

    t = mk({"program": "dibao"}, "长春", requested_slot="region", active_loop="policy_form", form_turn="policy_form")
    events = await ValidatePolicyForm().run(Dispatcher(), t, D)
    assert {e["name"]: e["value"] for e in events if e["event"] == "slot"}.get("region") == "220000"


def test_the_aspect_asked_before_the_region_question_is_the_one_answered():
    from actions.policy import aspect_for
    from tests.bot.conftest import make_tracker as mk

    opening = {"text": "低保一个月能领多少钱", "intent": {"name": "ask_policy"}, "entities": [
        {"entity": "program", "value": "dibao"}, {"entity": "aspect", "value": "金额"}]}
    events = [{"event": "user", "text": opening["text"], "parse_data": opening},
              {"event": "action", "name": "policy_form"}, {"event": "active_loop", "name": "policy_form"},
              {"event": "slot", "name": "requested_slot", "value": "region"},
              {"event": "user", "text": "长春", "parse_data": {"text": "长春", "entities": []}},
              {"event": "action", "name": "policy_form"}, {"event": "active_loop", "name": None},
              {"event": "action", "name": "action_answer_policy"}]
    assert aspect_for(mk({"program": "dibao"}, "长春", events=events)) == "金额"
    # a question after the form was over carries nothing from it
    later = events + [{"event": "user", "text": "好的", "parse_data": {"text": "好的", "entities": []}}]
    assert aspect_for(mk({"program": "dibao"}, "好的", events=later)) is None
