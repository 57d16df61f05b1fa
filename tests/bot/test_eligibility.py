"""Eligibility pre-screening (actions/eligibility.py): the form's reading of answers,
corrections and 不知道, the screen request, and the explanation, against the fake services."""

from rasa_sdk.executor import CollectingDispatcher

from actions.eligibility import (
    UNKNOWN,
    ActionScreenEligibility,
    ValidateEligibilityForm,
    household_facts,
    read_answer,
    screen_request,
)
from actions.parsing import Quantity
from tests.bot.conftest import DOMAIN, entity, json_messages, make_tracker, responses, texts_of

FORM_SLOTS = DOMAIN["forms"]["eligibility_form"]["required_slots"]
KNOWN = {
    "region": "430200",
    "household_size": 4,
    "area": "urban",
    "monthly_income": 1800.0,
    "financial_assets": 20000.0,
    "has_capable_supporter": True,
}


def slots_set(events):
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def test_one_message_can_answer_several_questions():
    got = read_answer("我家四口人一个月收入两千五 存款两万", "check_eligibility", [], None)
    assert got["household_size"] == 4
    assert got["monthly_income"] == Quantity(2500.0) and got["financial_assets"] == Quantity(20000.0)


def test_money_spent_is_neither_income_nor_savings():
    said = "我家收入不算低 可是孩子白血病一年花了二十多万 听说有个支出型困难 能申请吗"
    assert read_answer(said, "check_eligibility", [], None) == {}
    got = read_answer("一个月收入两千 看病每月要花一千多", "inform", [], "monthly_income")
    assert got == {"monthly_income": Quantity(2000.0)}


def test_bare_answers_go_to_the_question_asked():
    assert read_answer("4", "inform", [], "household_size") == {"household_size": 4}
    assert read_answer("两千五", "inform", [], "monthly_income") == {"monthly_income": Quantity(2500.0)}
    assert read_answer("没有", "deny", [], "financial_assets") == {"financial_assets": Quantity(0.0)}
    assert read_answer("农村", "inform", [], "area") == {"area": "rural"}
    assert read_answer("有个儿子", "inform", [], "has_capable_supporter") == {"has_capable_supporter": True}
    assert read_answer("是", "affirm", [], "has_capable_supporter") == {"has_capable_supporter": True}
    assert read_answer("干不了活", "inform", [], "can_work") == {"can_work": False}


def test_dont_know_is_an_answer_except_for_the_household_size():
    assert read_answer("不知道", "dont_know", [], "financial_assets") == {"financial_assets": UNKNOWN}
    assert read_answer("说不好", "inform", [], "area") == {"area": UNKNOWN}
    assert read_answer("不知道", "dont_know", [], "household_size") == {}


def test_a_correction_while_another_question_is_asked():
    got = read_answer("不对，是四口人", "inform", [entity("person_count", "四口人")], "monthly_income")
    assert got == {"household_size": 4}  # not 4 yuan of income


async def test_only_missing_questions_and_region_known():
    form, d = ValidateEligibilityForm(), CollectingDispatcher()
    t = make_tracker(
        {"region": "430200"},
        "我能吃低保吗",
        intent="check_eligibility",
        entities=[entity("program", "dibao")],
    )
    slots = await form.required_slots(FORM_SLOTS, d, t, DOMAIN)
    assert "region" not in slots and "can_work" not in slots and slots[0] == "household_size"


async def test_can_work_is_asked_only_of_someone_alone():
    form, d = ValidateEligibilityForm(), CollectingDispatcher()
    alone = make_tracker(
        {"household_size": 1, "has_capable_supporter": False}, active_loop="eligibility_form"
    )
    assert "can_work" in await form.required_slots(FORM_SLOTS, d, alone, DOMAIN)
    family = make_tracker(
        {"household_size": 3, "has_capable_supporter": False}, active_loop="eligibility_form"
    )
    assert "can_work" not in await form.required_slots(FORM_SLOTS, d, family, DOMAIN)


async def test_a_program_not_decided_by_income_skips_the_questions():
    form, d = ValidateEligibilityForm(), CollectingDispatcher()
    t = make_tracker(
        {},
        "孩子考上大学了能申请助学金吗",
        intent="check_eligibility",
        entities=[entity("program", "education")],
    )
    assert await form.required_slots(FORM_SLOTS, d, t, DOMAIN) == []


async def test_form_turn_reads_answer_and_acknowledges_money():
    form, d = ValidateEligibilityForm(), CollectingDispatcher()
    t = make_tracker(
        {"region": "430200", "household_size": 4, "area": "urban"},
        "一个月两千五",
        active_loop="eligibility_form",
        requested_slot="monthly_income",
        form_turn="eligibility_form",
    )
    events = await form.run(d, t, DOMAIN)
    assert slots_set(events)["monthly_income"] == 2500.0
    assert slots_set(events)["requested_slot"] == "financial_assets"
    assert texts_of(d) == ["记下了：全家每月收入约2500元。"]


async def test_form_turn_takes_a_correction_and_asks_again():
    form, d = ValidateEligibilityForm(), CollectingDispatcher()
    t = make_tracker(
        {"region": "430200", "household_size": 3, "area": "urban"},
        "不对，是四口人",
        entities=[entity("person_count", "四口人")],
        active_loop="eligibility_form",
        requested_slot="monthly_income",
        form_turn="eligibility_form",
    )
    events = await form.run(d, t, DOMAIN)
    assert (
        slots_set(events)["household_size"] == 4 and slots_set(events)["requested_slot"] == "monthly_income"
    )
    assert texts_of(d) == ["好的，已改为：4口人。"]


async def test_form_turn_not_understood_gives_a_hint_not_a_rejection():
    form, d = ValidateEligibilityForm(), CollectingDispatcher()
    t = make_tracker(
        {"region": "430200"},
        "啊？",
        intent="nlu_fallback",
        active_loop="eligibility_form",
        requested_slot="household_size",
        form_turn="eligibility_form",
    )
    events = await form.run(d, t, DOMAIN)
    assert responses(d) == ["utter_household_size_help"]
    assert not any(e.get("event") == "action_execution_rejected" for e in events)


async def test_form_turn_yearly_income_and_age():
    form, d = ValidateEligibilityForm(), CollectingDispatcher()
    t = make_tracker(
        {"region": "511700", "household_size": 2, "area": "rural"},
        "我六十七了 一年收入两万四",
        active_loop="eligibility_form",
        requested_slot="monthly_income",
        form_turn="eligibility_form",
    )
    events = await form.run(d, t, DOMAIN)
    assert slots_set(events)["monthly_income"] == 2000.0 and slots_set(events)["applicant_age"] == 67
    assert texts_of(d) == ["记下了：一年约24000元，按每月约2000元算。"]


def test_screen_request_follows_the_contract():
    t = make_tracker(
        {**KNOWN, "household_size": 2, "applicant_age": 67, "can_work": False, "financial_assets": UNKNOWN}
    )
    assert screen_request(t) == {
        "region": "430200",
        "area": "urban",
        "household": {
            "members": [{"age": 67, "can_work": False}, {}],
            "monthly_income": 1800.0,
            "financial_assets": None,
            "has_capable_supporter": True,
        },
    }
    assert household_facts(t) == "2口人，67岁，住在城里，全家每月收入约1800元，有能照顾的亲属，本人干不了活"


def finished_form_events(text, program=None):
    """History of a finished eligibility form started by `text`."""
    parse = {
        "text": text,
        "intent": {"name": "check_eligibility"},
        "entities": [entity("program", program)] if program else [],
    }
    return [
        {"event": "user", "text": text, "parse_data": parse},
        {"event": "active_loop", "name": "eligibility_form"},
        {"event": "user", "text": "有", "parse_data": {"intent": {"name": "affirm"}, "entities": []}},
        {"event": "active_loop", "name": None},
    ]


async def test_screen_explains_amount_department_materials_and_offers_to_file(services):
    d = CollectingDispatcher()
    t = make_tracker(KNOWN, "有", intent="affirm", events=finished_form_events("我能吃低保吗", "dibao"))
    events = await ActionScreenEligibility().run(d, t, DOMAIN)
    assert services.screens[-1]["household"]["monthly_income"] == 1800.0
    said = texts_of(d)
    assert said[0] == "按您说的情况，初步看：低保很可能符合，全家每月约1000元，找民政部门。"
    assert said[1] == "您家人均月收入约450元，低于当地低保标准700元。您家没有存款等金融资产。"
    assert said[2].startswith("去办时要带的：带户口本")
    assert responses(d)[-2:] == ["utter_eligibility_caveat_provisional", "utter_offer_referral"]
    assert slots_set(events) == {"suggested_program": "dibao", "pending_retry": None,
                                 "screened_programs": [{"program": "dibao", "status": "likely_eligible"}]}
    # the screen's result travels with the conversation, for an agent who takes it over
    (result,) = [m["eligibility"] for m in json_messages(d) if "eligibility" in m]
    assert result["programs"][0]["program"] == "dibao" and result["programs"][0]["status"]
    assert "4口人" in result["household"] or "口人" in result["household"]


async def test_screen_nothing_applies(services):
    services.screen_result = {
        "programs": [
            {
                "program": "dibao",
                "status": "not_eligible",
                "reasons": ["您家人均月收入约4000元，不低于当地低保标准700元。"],
                "estimated_monthly_amount": None,
                "department": "civil_affairs",
            }
        ],
        "missing": [],
        "warnings": [],
    }
    d = CollectingDispatcher()
    await ActionScreenEligibility().run(d, make_tracker(KNOWN, events=finished_form_events("我够吗")), DOMAIN)
    # nothing likely: a raised standard may change that, and the citizen may ask to be told
    assert responses(d) == ["utter_eligibility_none", "utter_eligibility_update_hint",
                            "utter_eligibility_caveat", "utter_offer_referral"]
    assert "不低于当地低保标准700元" in texts_of(d)[0]


async def test_screen_needs_more(services):
    services.screen_result = {
        "programs": [
            {
                "program": "tekun",
                "status": "need_more_info",
                "reasons": ["还需要知道家中第1位成员（67岁）有没有劳动能力。"],
                "estimated_monthly_amount": None,
                "department": "civil_affairs",
            }
        ],
        "missing": ["household.members[0].can_work"],
        "warnings": [],
    }
    d = CollectingDispatcher()
    await ActionScreenEligibility().run(
        d, make_tracker(KNOWN, events=finished_form_events("算不算特困")), DOMAIN
    )
    assert texts_of(d)[0] == "有几项还要核实：还需要知道家中第1位成员（67岁）有没有劳动能力。"


async def test_program_not_decided_by_income_gets_its_conditions(services):
    d = CollectingDispatcher()
    t = make_tracker(
        {},
        "孩子考上大学了能申请助学金吗",
        events=finished_form_events("孩子考上大学了能申请助学金吗", "education"),
    )
    events = await ActionScreenEligibility().run(d, t, DOMAIN)
    assert services.screens == [] and services.policy_queries[-1]["program"] == "education"
    assert responses(d) == ["utter_policy_answer", "utter_offer_referral"]
    assert slots_set(events)["suggested_program"] == "education"


async def test_screen_down_keeps_every_answer(services):
    services.status["screen"] = 503
    d = CollectingDispatcher()
    events = await ActionScreenEligibility().run(
        d, make_tracker(KNOWN, events=finished_form_events("我够吗")), DOMAIN
    )
    assert responses(d) == ["utter_service_down_eligibility"]
    assert events == [{"event": "slot", "name": "pending_retry", "value": "eligibility", "timestamp": None}]


def test_amounts_as_ranges_and_a_household_said_again_with_the_income():
    assert read_answer("一个月就七八百块", "inform", [], "monthly_income") == {
        "monthly_income": Quantity(750.0, approximate=True)}
    assert read_answer("三四千", "inform", [], "monthly_income")["monthly_income"].value == 3500.0
    # 老两口 is the household again (2, as before), 三百来块 the income the form asked for
    assert read_answer("每个月就老两口的养老金 三百来块", "inform", [], "monthly_income") == {
        "household_size": 2, "monthly_income": Quantity(300.0, approximate=True)}


async def test_two_unusable_answers_are_noted_unknown_even_when_they_restate_the_household():
    form, d = ValidateEligibilityForm(), CollectingDispatcher()
    said = "就俺老两口 钱的事说不好讲"
    earlier = [{"event": "slot", "name": "requested_slot", "value": "monthly_income"},
               {"event": "action", "name": "action_listen"},
               {"event": "user", "text": said, "parse_data": {"text": said, "intent": {"name": "inform"}}},
               {"event": "slot", "name": "household_size", "value": 2},
               {"event": "slot", "name": "monthly_income", "value": None}]
    t = make_tracker({**KNOWN, "household_size": 2, "monthly_income": None}, said,
                     requested_slot="monthly_income", active_loop="eligibility_form",
                     form_turn="eligibility_form", events=earlier)
    events = await form.run(d, t, DOMAIN)
    assert responses(d)[-1] == "utter_noted_unknown"
    assert slots_set(events)["monthly_income"] == UNKNOWN


async def test_of_two_likely_programs_the_screen_suggests_tekun_first(services):
    services.screen_result = {**services.screen_result, "programs": [
        {**p, "status": "likely_eligible"} for p in services.screen_result["programs"]]}
    t = make_tracker({**KNOWN, "household_size": 1, "has_capable_supporter": False}, "没有", intent="deny",
                     events=finished_form_events("看看我能申请啥", None))
    events = await ActionScreenEligibility().run(CollectingDispatcher(), t, DOMAIN)
    assert slots_set(events)["suggested_program"] == "tekun"


async def test_placeholder_standard_the_rule_said_no_yuan_and_why_not_the_program_asked(services):
    rule = "低保实行差额发放：按当地低保标准与家庭人均收入的差额按月发放。"
    confirm = "无锡市的低保标准政策文件中没有写明，请您向乡镇（街道）或拨打12349确认。"
    services.screen_result = {"region": "320200", "as_of": "2026-11-22", "missing": [], "warnings": ["…"],
                              "programs": [
        {"program": "dibao", "status": "possibly_eligible", "estimated_monthly_amount": None,
         "department": "civil_affairs", "citations": [],
         "reasons": ["您家人均月收入约600元，低于当地低保标准。", "您家没有存款等金融资产。", rule, confirm,
                     "以上是按暂定标准估算的（见提示），是否符合以当地审核认定为准。"]},
        {"program": "tekun", "status": "not_eligible", "estimated_monthly_amount": None,
         "department": "civil_affairs", "citations": [], "reasons": ["家中第1位成员（45岁）有劳动能力。"]}]}
    d = CollectingDispatcher()
    t = make_tracker({**KNOWN, "region": "320200"}, "有", intent="affirm",
                     events=finished_form_events("我能领特困吗", "tekun"))
    await ActionScreenEligibility().run(d, t, DOMAIN)
    said = texts_of(d)
    assert said[0] == "按您说的情况，初步看：低保可能符合，找民政部门。"  # no amount from a placeholder
    assert rule + confirm in said
    assert "特困供养暂时看不符合：家中第1位成员（45岁）有劳动能力。" in said
    assert all(len(x) <= 140 for x in said)


async def test_asking_to_be_told_keeps_the_screen_with_the_consent(services):
    """提醒我 after a screen: the household is sent again, with the conversation and the consent,
    so that the services keep it for re-screening; before any screen nothing is sent."""
    from actions.eligibility import ActionRecordConsent

    d = CollectingDispatcher()
    before = len(services.screens)
    await ActionRecordConsent().run(d, make_tracker({"region": "430200"}, "提醒我", intent="subscribe_updates"),
                                    DOMAIN)
    assert responses(d) == ["utter_consent_no_screen"] and len(services.screens) == before

    d = CollectingDispatcher()
    screened = {**KNOWN, "screened_programs": []}
    t = make_tracker(screened, "提醒我", intent="subscribe_updates", sender="sms:+8613800001234")
    assert await ActionRecordConsent().run(d, t, DOMAIN) == []
    sent = services.screens[-1]
    assert sent["contact"] == {"sender": "sms:+8613800001234"} and sent["consent_to_contact"] is True
    assert sent["household"]["monthly_income"] == 1800.0 and sent["region"] == "430200"
    assert responses(d) == ["utter_consent_recorded"] and "株洲" in texts_of(d)[0]

    services.status["screen"] = 503
    d = CollectingDispatcher()
    await ActionRecordConsent().run(d, t, DOMAIN)
    assert responses(d) == ["utter_consent_down"]
