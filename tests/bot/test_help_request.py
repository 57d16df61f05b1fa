"""The help form's validators and the referral action, against a fake services API."""

from rasa_sdk.executor import CollectingDispatcher

from actions.help_request import (
    ActionSubmitHelpRequest,
    ValidateHelpForm,
    choose_program,
    clean_name,
    extract_mobile,
    plain_deadline,
)
from tests.bot.conftest import DOMAIN, entity, json_messages, make_tracker, responses, texts_of

FORM_SLOTS = DOMAIN["forms"]["help_form"]["required_slots"]


def filled(**over):
    slots = {
        "citizen_name": "王秀英",
        "phone": "13800001234",
        "region": "341503",
        "street": "苏埠镇",
        "help_description": "老伴住院，交不起医药费",
        "program": None,
    }
    slots.update(over)
    return slots


def slots_set(events):
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def test_mobile_numbers_names_and_dates_as_people_type_them():
    assert extract_mobile("我电话 138 0000 1234 谢谢") == "13800001234"
    assert extract_mobile("12345") is None
    assert clean_name("我叫王秀英。") == "王秀英" and clean_name("俺叫刘大柱，电话13800001234") == "刘大柱"
    assert clean_name("13800001234") is None and clean_name("不知道") is None
    assert plain_deadline("2026-12-21T10:00+08:00") == "12月21日"


async def test_validators_clean_and_reject():
    form, d = ValidateHelpForm(), CollectingDispatcher()
    t = make_tracker()
    assert await form.validate_citizen_name("我叫王秀英。", d, t, DOMAIN) == {"citizen_name": "王秀英"}
    assert await form.validate_phone("1380000", d, t, DOMAIN) == {"phone": None}
    assert responses(d)[-1] == "utter_phone_invalid"
    assert await form.validate_region("999999", d, t, DOMAIN) == {"region": None}
    assert await form.validate_region("430200", d, t, DOMAIN) == {"region": "430200"}
    assert await form.validate_street("我在小华山街道", d, t, DOMAIN) == {"street": "小华山街道"}
    assert await form.validate_street("不知道", d, make_tracker(intent="dont_know"), DOMAIN) == {
        "street": "unknown"
    }
    assert await form.validate_help_description("不知道", d, make_tracker(intent="dont_know"), DOMAIN) == {
        "help_description": None
    }
    assert responses(d)[-1] == "utter_description_help"


async def test_region_known_from_channel_is_not_asked_again():
    slots = await ValidateHelpForm().required_slots(
        FORM_SLOTS, CollectingDispatcher(), make_tracker({"region": "430200"}), DOMAIN
    )
    assert "region" not in slots and "street" in slots


async def test_form_turn_takes_the_requested_answer_only():
    form, d = ValidateHelpForm(), CollectingDispatcher()
    t = make_tracker(
        {"region": "341503"},
        "王秀英",
        requested_slot="citizen_name",
        active_loop="help_form",
        form_turn="help_form",
    )
    events = await form.run(d, t, DOMAIN)
    assert slots_set(events)["citizen_name"] == "王秀英" and slots_set(events)["requested_slot"] == "phone"
    # the street named in passing is kept and not asked later
    t = make_tracker(
        filled(street=None, help_description=None),
        "我家在苏埠镇，老伴瘫在床上",
        requested_slot="help_description",
        active_loop="help_form",
        form_turn="help_form",
    )
    events = await form.run(CollectingDispatcher(), t, DOMAIN)
    assert slots_set(events)["street"] == "苏埠镇" and slots_set(events)["requested_slot"] is None


async def test_crisis_words_reject_the_form_and_keep_the_answers():
    form, d = ValidateHelpForm(), CollectingDispatcher()
    t = make_tracker(
        {"citizen_name": "王秀英"},
        "我不想活了",
        intent="crisis",
        confidence=0.4,
        requested_slot="help_description",
        active_loop="help_form",
        form_turn="help_form",
    )
    assert await form.run(d, t, DOMAIN) == [
        {
            "event": "action_execution_rejected",
            "name": "help_form",
            "policy": None,
            "confidence": None,
            "timestamp": None,
        }
    ]


async def test_what_happened_is_free_text_but_a_name_is_not():
    form = ValidateHelpForm()
    # a long description classified as a policy question is still the description
    t = make_tracker(
        {},
        "低保被取消了 现在没饭吃",
        intent="ask_policy",
        requested_slot="help_description",
        active_loop="help_form",
        form_turn="help_form",
    )
    assert not form.interrupted(t)
    # a question instead of a name interrupts
    t = make_tracker(
        {},
        "低保要带什么材料",
        intent="ask_policy",
        requested_slot="citizen_name",
        active_loop="help_form",
        form_turn="help_form",
    )
    assert form.interrupted(t)
    # a name that NLU took for another intent does not
    t = make_tracker(
        {},
        "张桂兰",
        intent="greet",
        requested_slot="citizen_name",
        active_loop="help_form",
        form_turn="help_form",
    )
    assert not form.interrupted(t)


def test_program_named_in_the_request_wins_then_the_screen_then_the_words():
    start = {
        "text": "帮我申请低保",
        "intent": {"name": "request_help"},
        "entities": [entity("program", "dibao")],
    }
    events = [
        {"event": "user", "text": start["text"], "parse_data": start},
        {"event": "active_loop", "name": "help_form"},
    ]
    assert choose_program(make_tracker({"suggested_program": "tekun"}, events=events), "老伴住院") == "dibao"
    assert choose_program(make_tracker({"suggested_program": "tekun"}), "老伴住院") == "tekun"
    assert choose_program(make_tracker({"program": "dibao"}), "老伴住院，交不起医药费") == "medical"
    assert choose_program(make_tracker({}), "说不清") == "temporary"
    # the most words win: 瘫痪 points to disability, but no income and no food to subsistence
    assert choose_program(make_tracker({}), "老伴瘫痪在床，家里没有收入，吃饭都成问题") == "dibao"


async def test_submit_files_a_referral_and_tells_the_reference(services):
    d = CollectingDispatcher()
    t = make_tracker(
        filled(household_size=2, monthly_income=0.0), metadata={"channel": "wechat", "conversation_id": 42}
    )
    events = await ActionSubmitHelpRequest().run(d, t, DOMAIN)
    sent = services.referrals[-1]
    assert sent["body"]["citizen"] == {"name": "王秀英", "phone": "13800001234"}
    assert sent["body"]["region"] == "341503" and sent["body"]["street"] == "苏埠镇"
    assert sent["body"]["program"] == "medical" and sent["body"]["urgency"] == "normal"
    assert sent["body"]["channel"] == "wechat" and sent["body"]["conversation_id"] == "42"
    assert sent["body"]["description"] == "老伴住院，交不起医药费（热线初筛：2口人，全家每月收入约0元）"
    assert sent["headers"]["Idempotency-Key"].startswith("bot:")
    assert texts_of(d) == [
        "已为您登记求助（医疗救助），编号12349-20261122-0001，已转给民政。"
        "工作人员会在11月23日前联系您，最迟12月21日前办结。请记好编号。"
    ]
    assert slots_set(events) == {
        "help_description": None,
        "reference_no": "12349-20261122-0001",
        "pending_retry": None,
    }


async def test_retry_uses_the_same_key(services):
    for _ in range(2):
        await ActionSubmitHelpRequest().run(CollectingDispatcher(), make_tracker(filled()), DOMAIN)
    keys = {r["headers"]["Idempotency-Key"] for r in services.referrals}
    assert len(keys) == 1 and len(services.keys) == 1


async def test_emergency_or_urgent_words_file_as_urgent(services):
    events = [{"event": "user", "parse_data": {"intent": {"name": "report_emergency"}}}]
    d = CollectingDispatcher()
    await ActionSubmitHelpRequest().run(d, make_tracker(filled(), events=events), DOMAIN)
    assert services.referrals[-1]["body"]["urgency"] == "urgent"
    assert responses(d) == ["utter_help_submitted_urgent"]
    await ActionSubmitHelpRequest().run(
        CollectingDispatcher(), make_tracker(filled(help_description="家里断粮了 今晚没吃的")), DOMAIN
    )
    assert services.referrals[-1]["body"]["urgency"] == "urgent"


async def test_service_down_keeps_the_answers(services_down):
    d = CollectingDispatcher()
    events = await ActionSubmitHelpRequest().run(d, make_tracker(filled()), DOMAIN)
    assert responses(d) == ["utter_service_down_saved"]
    # nothing reset: the citizen's answers stay for "再试一次"
    assert events == [{"event": "slot", "name": "pending_retry", "value": "help_request", "timestamp": None}]


async def test_refused_request_goes_to_a_person(services):
    services.status["referral"] = 422
    d = CollectingDispatcher()
    await ActionSubmitHelpRequest().run(d, make_tracker(filled()), DOMAIN)
    assert responses(d) == ["utter_help_rejected"]
    assert json_messages(d)[0]["handoff"]["reason"] == "request_human"
