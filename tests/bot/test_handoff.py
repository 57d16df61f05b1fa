"""Handoff to a person (actions/handoff.py): the custom JSON message and its summary."""

from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import ActionFallback, ActionHandoff, fallbacks_in_a_row, mask, summary
from tests.bot.conftest import DOMAIN, json_messages, make_tracker, responses


def user(text, intent="inform"):
    return {"event": "user", "text": text, "parse_data": {"text": text, "intent": {"name": intent}}}


def action(name):
    return {"event": "action", "name": name}


async def test_crisis_gives_numbers_and_hands_over():
    d = CollectingDispatcher()
    t = make_tracker(
        {"region": "430200", "phone": "13800001234"},
        "我不想活了",
        intent="crisis",
        events=[user("我不想活了", "crisis")],
    )
    await ActionHandoff().run(d, t, DOMAIN)
    assert responses(d) == ["utter_crisis"]
    assert "110" in DOMAIN["responses"]["utter_crisis"][0]["text"]
    handoff = json_messages(d)[0]["handoff"]
    assert handoff["reason"] == "crisis"
    assert handoff["summary"].startswith("危机") and "株洲市" in handoff["summary"]
    assert "138****1234" in handoff["summary"] and "13800001234" not in handoff["summary"]
    assert "「我不想活了」" in handoff["summary"]
    assert handoff["region"] == "430200"  # for the agents' waiting queue


async def test_the_signal_carries_the_program_the_bot_detected():
    d = CollectingDispatcher()
    t = make_tracker({"region": "320200", "program": "tekun"}, "转人工", intent="request_human",
                     events=[user("转人工", "request_human")])
    await ActionHandoff().run(d, t, DOMAIN)
    assert json_messages(d)[0]["handoff"]["program"] == "tekun"


async def test_reasons_by_intent():
    for intent, reason, reply in [
        ("request_human", "request_human", "utter_human_soon"),
        ("complain", "complaint", "utter_complaint_handoff"),
    ]:
        d = CollectingDispatcher()
        await ActionHandoff().run(d, make_tracker({}, "x", intent=intent), DOMAIN)
        assert responses(d) == [reply] and json_messages(d)[0]["handoff"]["reason"] == reason


async def test_yes_to_the_emergency_offer_is_an_emergency_handoff():
    d = CollectingDispatcher()
    events = [
        user("房子塌了", "report_emergency"),
        action("utter_emergency_offer_human"),
        action("action_listen"),
        user("是", "affirm"),
    ]
    await ActionHandoff().run(d, make_tracker({}, "是", intent="affirm", events=events), DOMAIN)
    assert responses(d) == ["utter_emergency_handoff"]
    assert json_messages(d)[0]["handoff"]["reason"] == "emergency"


def test_summary_is_short_and_names_what_is_known():
    events = [user(f"第{i}句话" + "很长" * 40) for i in range(5)]
    text = summary(
        make_tracker(
            {
                "program": "dibao",
                "citizen_name": "王秀英",
                "street": "unknown",
                "reference_no": "12349-20261122-0001",
            },
            events=events,
        ),
        "request_human",
    )
    assert text.startswith("市民要求人工；项目：低保；称呼：王秀英；编号：12349-20261122-0001；市民说：")
    assert "第1句话" not in text and "第4句话" in text and "乡镇" not in text and len(text) < 300


async def test_second_misunderstanding_in_a_row_hands_over():
    first = [action("action_listen"), user("阿巴阿巴", "nlu_fallback")]
    assert fallbacks_in_a_row(make_tracker(events=first)) == 1
    d = CollectingDispatcher()
    await ActionFallback().run(d, make_tracker({}, "阿巴阿巴", intent="nlu_fallback", events=first), DOMAIN)
    assert responses(d) == ["utter_default"] and json_messages(d) == []

    second = first + [action("action_fallback"), action("action_listen"), user("巴拉巴拉", "nlu_fallback")]
    assert fallbacks_in_a_row(make_tracker(events=second)) == 2
    d = CollectingDispatcher()
    await ActionFallback().run(d, make_tracker({}, "巴拉巴拉", intent="nlu_fallback", events=second), DOMAIN)
    assert responses(d) == ["utter_fallback_handoff"]
    assert json_messages(d)[0]["handoff"]["reason"] == "fallback"

    understood_between = first + [
        action("action_fallback"),
        action("action_listen"),
        user("你好", "greet"),
        action("utter_greet"),
        action("action_listen"),
        user("巴拉", "nlu_fallback"),
    ]
    assert fallbacks_in_a_row(make_tracker(events=understood_between)) == 1


def test_numbers_the_citizen_typed_are_masked():
    assert mask("我电话13800001234 身份证110101195001011234") == "我电话138****1234 身份证110101********1234"
    assert mask("139 0000 5678") == "139****5678"


def test_the_bot_runtime_masks_its_log_records_with_the_shared_formats():
    """bot/servers.py installs the services' masker (hotline/masking.yml) for Rasa and the
    action server: a library's own handler prints no number in full."""
    import io
    import logging

    from hotline.privacy import mask_log_records

    mask_log_records()
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    tracker_store = logging.getLogger("rasa.core.tracker_store")
    tracker_store.addHandler(handler)
    try:
        tracker_store.error("could not save %s", "+86 138-1234-5678 / 341503 19500101 123X")
    finally:
        tracker_store.removeHandler(handler)
    assert "+86 138****5678 / 341503********123X" in out.getvalue()
