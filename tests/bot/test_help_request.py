"""The help form's validators and the referral action, against a fake services API."""

from rasa_sdk.executor import CollectingDispatcher

from actions.help_request import (
    UNKNOWN,
    ActionSubmitHelpRequest,
    ValidateHelpForm,
    choose_program,
    clean_name,
    extract_mobile,
    failed_tries,
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
    assert clean_name("株洲") is None and clean_name("平桥乡") is None  # a place, not a name
    assert clean_name("我姓刘 叫刘桂芬") == "刘桂芬"
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
    # The phone number sent again where the trouble was asked (seen in the soak): asked again,
    # never filed as what happened, nor an ID number kept as free text.
    for number in ("13611553352", "136 1155 3352", "43020219500101123X"):
        assert await form.validate_help_description(number, d, t, DOMAIN) == {"help_description": None}
    assert await form.validate_help_description("老伴住院1个月了", d, t, DOMAIN) == {
        "help_description": "老伴住院1个月了", "proposed_referrals": []  # no services here: one referral
    }


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
    assert choose_program(make_tracker({"suggested_program": "tekun"}, events=events), "老伴住院") == ("dibao", True)
    assert choose_program(make_tracker({"suggested_program": "tekun"}), "老伴住院") == ("tekun", True)
    # the need the classifier read in what happened (its parse of that message)
    told = [{"event": "user", "text": "老伴住院，交不起医药费",
             "parse_data": {"need": {"program": "medical", "confidence": 0.8}}}]
    assert choose_program(make_tracker({"program": "dibao"}, events=told), "老伴住院，交不起医药费") == \
        ("medical", True)
    # nobody could tell: the catch-all of civil affairs, flagged for a person to route
    unsure = [{"event": "user", "text": "说不清", "parse_data": {"need": {"program": None, "confidence": 0.2}}}]
    assert choose_program(make_tracker({}, events=unsure), "说不清") == ("temporary", False)


async def test_submit_files_a_referral_and_tells_the_reference(services):
    d = CollectingDispatcher()
    told = [{"event": "user", "text": "老伴住院，交不起医药费",
             "parse_data": {"need": {"program": "medical", "confidence": 0.8}}}]
    t = make_tracker(
        filled(household_size=2, monthly_income=0.0), metadata={"channel": "wechat", "conversation_id": 42},
        events=told,
    )
    events = await ActionSubmitHelpRequest().run(d, t, DOMAIN)
    sent = services.referrals[-1]
    assert sent["body"]["citizen"] == {"name": "王秀英", "phone": "13800001234"}
    assert sent["body"]["region"] == "341503" and sent["body"]["street"] == "苏埠镇"
    assert sent["body"]["program"] == "medical" and sent["body"]["urgency"] == "normal"
    assert sent["body"]["needs_routing"] is False
    assert sent["body"]["channel"] == "wechat" and sent["body"]["conversation_id"] == "42"
    assert sent["body"]["description"] == "老伴住院，交不起医药费（热线初筛：2口人，全家每月收入约0元）"
    assert sent["headers"]["Idempotency-Key"].startswith("bot:")
    assert texts_of(d) == [
        "已为您登记求助（医疗救助），编号12349-20261122-0001，已转给民政部门。"
        "工作人员会在11月23日前联系您，最迟12月21日前办结。请记好编号。"
    ]
    assert slots_set(events) == {
        "help_description": None, "proposed_referrals": None, "referral_choice": None,
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


def asked(slot, *answers, before=None):
    """Events of a form that asked for `slot` and got `answers` (the last one is being validated)."""
    events = list(before or [{"event": "slot", "name": "citizen_name", "value": "王秀英"}])
    for text in answers:
        events += [{"event": "slot", "name": "requested_slot", "value": slot},
                   {"event": "action", "name": "action_listen"},
                   {"event": "user", "text": text, "parse_data": {"text": text, "intent": {"name": "inform"}}},
                   {"event": "slot", "name": slot, "value": None}]
    return events[:-1]  # the latest answer is still being validated


async def test_two_tries_at_the_phone_then_a_way_on_then_a_person_files_it():
    form, d = ValidateHelpForm(), CollectingDispatcher()
    t = make_tracker(text="一三八零零", events=asked("phone", "一三八零零"), requested_slot="phone")
    assert await form.validate_phone("一三八零零", d, t, DOMAIN) == {"phone": None}
    assert responses(d) == ["utter_phone_invalid"]
    d = CollectingDispatcher()
    t = make_tracker(text="号码忘了", events=asked("phone", "一三八零零", "号码忘了"), requested_slot="phone")
    assert await form.validate_phone("号码忘了", d, t, DOMAIN) == {"phone": None}
    assert responses(d) == ["utter_phone_way_on"]  # the second try offers the way on
    d = CollectingDispatcher()
    t = make_tracker(text="我没有手机", events=asked("phone", "x", "我没有手机"), requested_slot="phone")
    assert await form.validate_phone("我没有手机", d, t, DOMAIN) == {"phone": UNKNOWN}
    assert responses(d) == ["utter_phone_later"]
    # the form goes on; at the end a person files it (nobody could call back otherwise)
    d = CollectingDispatcher()
    done = make_tracker({"citizen_name": "王秀英", "phone": UNKNOWN, "region": "341503",
                         "street": UNKNOWN, "help_description": "老伴住院"}, "老伴住院")
    await ActionSubmitHelpRequest().run(d, done, DOMAIN)
    assert responses(d) == ["utter_help_no_phone"]
    assert json_messages(d)[0]["handoff"]["reason"] == "request_human"


async def test_a_phone_said_in_chinese_digits_is_taken_at_once():
    form, d = ValidateHelpForm(), CollectingDispatcher()
    t = make_tracker(text="幺三八 零零零零 幺二三四", events=asked("phone", "幺三八 零零零零 幺二三四"),
                     requested_slot="phone")
    assert await form.validate_phone("幺三八 零零零零 幺二三四", d, t, DOMAIN) == {"phone": "13800001234"}
    assert responses(d) == []


async def test_a_question_is_no_street_and_two_misses_skip_it():
    form, d = ValidateHelpForm(), CollectingDispatcher()
    t = make_tracker(text="能给多少钱", events=asked("street", "能给多少钱"), requested_slot="street")
    assert await form.validate_street("能给多少钱", d, t, DOMAIN) == {"street": None}
    assert responses(d) == ["utter_street_again"]
    d = CollectingDispatcher()
    t = make_tracker(text="这个我真说不上来啊", events=asked("street", "能给多少钱", "这个我真说不上来啊"),
                     requested_slot="street")
    assert await form.validate_street("这个我真说不上来啊", d, t, DOMAIN) == {"street": UNKNOWN}
    assert responses(d) == ["utter_street_skipped"]
    assert await form.validate_street("平桥", CollectingDispatcher(), make_tracker(), DOMAIN) == {"street": "平桥"}


async def test_what_happened_told_at_the_street_question_is_kept_as_the_description(services):
    """A recogniser's run-on answer to 哪个乡镇 that tells the hardship: it becomes the
    description (not asked again), the place is left for the office; a short miss is still
    asked again."""
    form, d = ValidateHelpForm(), CollectingDispatcher()
    told = "嗯那个我是替我舅舅问的他是惨疾人一个人住然后他那个房子一下雨就漏"
    t = make_tracker(text=told, events=asked("street", told), requested_slot="street")
    got = await form.validate_street(told, d, t, DOMAIN)
    assert got["street"] == UNKNOWN and got["help_description"] == told and "proposed_referrals" in got
    assert responses(d) == ["utter_street_skipped"]
    assert services.proposal_requests[-1]["text"] == told
    d = CollectingDispatcher()
    t = make_tracker({"help_description": "老伴住院"}, text=told, events=asked("street", told),
                     requested_slot="street")
    assert await form.validate_street(told, d, t, DOMAIN) == {"street": None}  # told already


async def test_a_place_is_no_name_and_two_misses_go_on_without_one():
    form, d = ValidateHelpForm(), CollectingDispatcher()
    t = make_tracker(text="株洲", events=asked("citizen_name", "株洲", before=[]), requested_slot="citizen_name")
    assert await form.validate_citizen_name("株洲", d, t, DOMAIN) == {"citizen_name": None}
    d = CollectingDispatcher()
    t = make_tracker(text="问这干啥", events=asked("citizen_name", "株洲", "问这干啥", before=[]),
                     requested_slot="citizen_name")
    assert (await form.validate_citizen_name("问这干啥", d, t, DOMAIN))["citizen_name"] == "（未留姓名）"
    assert responses(d) == ["utter_name_skipped"]


def digression(slot, question, parse=None):
    """Events of a question the citizen asked while the form waited for `slot`: the form was
    rejected, the question answered, and the form runs again to ask for `slot`."""
    return [{"event": "slot", "name": "requested_slot", "value": slot},
            {"event": "action", "name": "action_listen"},
            {"event": "user", "text": question, "parse_data": parse or {"text": question,
                                                                       "intent": {"name": "ask_policy"}}},
            {"event": "action", "name": "help_form"},
            {"event": "action_execution_rejected", "name": "help_form"},
            {"event": "action", "name": "action_answer_policy"},
            {"event": "bot", "text": "低保（金额）：…"},
            {"event": "action", "name": "help_form"}]


async def test_back_from_a_digression_the_question_is_asked_again_without_a_complaint():
    form, d = ValidateHelpForm(), CollectingDispatcher()
    question = "等一下 低保一个月能给多少钱"
    t = make_tracker({"citizen_name": "杨春"}, question, intent="ask_policy", requested_slot="phone",
                     active_loop="help_form", events=digression("phone", question))
    assert await form.run(d, t, DOMAIN) == []  # no slot touched: the form asks for the phone again
    assert responses(d) == []  # no "这个号码好像不对"
    # and the digression is no try at the phone: the next miss is the first
    after = digression("phone", question) + asked("phone", "一三八", before=[])
    assert failed_tries(make_tracker(events=after, requested_slot="phone"), "phone") == 1


def test_a_program_asked_about_in_a_digression_is_not_the_request():
    opening = {"text": "俺要给俺妈登记个求助", "intent": {"name": "request_help"}, "entities": []}
    question = {"text": "低保一个月能给多少钱", "intent": {"name": "ask_policy"},
                "entities": [entity("program", "dibao")]}
    told = {"text": "俺妈八十了 一个人住 没人照看", "intent": {"name": "inform"}, "entities": [],
            "need": {"program": "elderly_care", "confidence": 0.9}}
    events = [{"event": "user", "text": opening["text"], "parse_data": opening},
              {"event": "active_loop", "name": "help_form"},
              {"event": "user", "text": question["text"], "parse_data": question},
              {"event": "user", "text": told["text"], "parse_data": told}]
    assert choose_program(make_tracker(events=events), told["text"]) == ("elderly_care", True)


async def test_a_region_answered_by_a_city_is_validated_and_set():
    # 长春 is no NLU entity: the form's own extraction reads it, and the validation must set it
    # (a required list that drops the region once extracted left it unset and the form rejected)
    form, d = ValidateHelpForm(), CollectingDispatcher()
    t = make_tracker({"citizen_name": "孙立军", "phone": "13104318899"}, "长春", requested_slot="region",
                     active_loop="help_form", form_turn="help_form")
    events = await form.run(d, t, DOMAIN)
    assert slots_set(events).get("region") == "220000"
