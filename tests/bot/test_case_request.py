"""一门受理 in the help form: a description that tells several needs is offered as several
referrals, the citizen says which to file, one case is filed; the lookup tells each referral."""

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.help_request import ActionAskReferralChoice, ActionSubmitHelpRequest, ValidateHelpForm, parse_choice
from actions.ticket_status import ActionCheckTicketStatus
from tests.bot.conftest import DOMAIN, make_tracker, texts_of
from tests.bot.test_help_request import filled, slots_set

TOLD = "老伴住院花了好几万，孙子上学的学费也交不起了"


def describing(text, services_proposals=None):
    told = [{"event": "user", "text": text,
             "parse_data": {"need": {"program": "medical", "confidence": 0.8}}}]
    return make_tracker(filled(help_description=None), text, requested_slot="help_description",
                        active_loop="help_form", form_turn="help_form", events=told)


async def test_two_needs_told_are_offered_numbered_and_the_form_asks_which(services):
    services.proposals = ["medical", "education"]
    events = await ValidateHelpForm().run(CollectingDispatcher(), describing(TOLD), DOMAIN)
    slots = slots_set(events)
    assert slots["proposed_referrals"] == ["medical", "education"]
    assert slots["requested_slot"] == "referral_choice"
    assert services.proposal_requests[-1]["text"] == TOLD
    d = CollectingDispatcher()
    await ActionAskReferralChoice().run(d, make_tracker({"proposed_referrals": slots["proposed_referrals"]}),
                                        DOMAIN)
    (asked,) = texts_of(d)
    assert "1. 医疗救助（医保部门）" in asked and "2. 教育救助（教育部门）" in asked


async def test_an_emergency_is_asked_only_about_a_need_of_another_department(services):
    fire = {"event": "user", "text": "家里着火了 东西都烧没了",
            "parse_data": {"intent": {"name": "report_emergency", "confidence": 0.9}}}
    told = {"event": "user", "text": "房子烧了 今晚没地方住",
            "parse_data": {"need": {"program": "temporary", "confidence": 0.8}}}

    def emergency(text):
        return make_tracker(filled(help_description=None), text, requested_slot="help_description",
                            active_loop="help_form", form_turn="help_form", events=[fire, told])

    services.proposals = ["temporary", "vagrant"]  # civil affairs decides both: filed at once
    events = await ValidateHelpForm().run(CollectingDispatcher(), emergency("房子烧了 今晚没地方住"), DOMAIN)
    assert slots_set(events)["proposed_referrals"] == [] and slots_set(events)["requested_slot"] is None
    services.proposals = ["temporary", "vagrant", "housing"]  # another department's need: asked
    events = await ValidateHelpForm().run(CollectingDispatcher(), emergency("房子烧了 今晚没地方住"), DOMAIN)
    assert slots_set(events)["proposed_referrals"] == ["temporary", "housing"]


async def test_one_need_or_the_service_unreachable_files_one_referral_as_before(services):
    services.proposals = ["medical"]
    events = await ValidateHelpForm().run(CollectingDispatcher(), describing("老伴住院交不起钱"), DOMAIN)
    assert slots_set(events)["proposed_referrals"] == [] and slots_set(events)["requested_slot"] is None
    services.status["proposals"] = 503
    services.proposals = ["medical", "education"]
    events = await ValidateHelpForm().run(CollectingDispatcher(), describing(TOLD), DOMAIN)
    assert slots_set(events)["proposed_referrals"] == [] and slots_set(events)["requested_slot"] is None


@pytest.mark.parametrize(("answer", "intent", "chosen"), [
    ("是", "affirm", [1, 2, 3]), ("都要", "inform", [1, 2, 3]), ("嗯都登记吧", "affirm", [1, 2, 3]),
    ("1和3", "inform", [1, 3]), ("第二个", "inform", [2]), ("一 三", "inform", [1, 3]),
    ("不用，只要第一个", "deny", [1]), ("不用了", "deny", [1]), ("9", "inform", None), ("1和4", "inform", None),
    ("你们几点下班", "ask_policy", None)])
def test_the_answer_to_which_to_file_as_citizens_give_it(answer, intent, chosen):
    assert parse_choice(answer, intent, 3) == chosen


async def test_an_unclear_answer_is_asked_again_then_the_first_need_is_filed():
    form = ValidateHelpForm()
    slots = filled(proposed_referrals=["medical", "education"])
    d = CollectingDispatcher()
    t = make_tracker(slots, "啥意思", intent="inform", requested_slot="referral_choice",
                     active_loop="help_form", form_turn="help_form")
    assert slots_set(await form.run(d, t, DOMAIN))["referral_choice"] is None
    assert "请回复“是”全部登记" in texts_of(d)[0]
    t = make_tracker(slots, "1和2", requested_slot="referral_choice", active_loop="help_form",
                     form_turn="help_form")
    assert slots_set(await form.run(CollectingDispatcher(), t, DOMAIN))["referral_choice"] == [
        "medical", "education"]


async def test_the_needs_confirmed_are_filed_as_one_case_and_each_department_is_told(services):
    d = CollectingDispatcher()
    t = make_tracker(filled(help_description=TOLD, proposed_referrals=["medical", "education"],
                            referral_choice=["medical", "education"],
                            screened_programs=[{"program": "dibao", "status": "likely_eligible"}]),
                     metadata={"channel": "sms", "conversation_id": 7})
    events = await ActionSubmitHelpRequest().run(d, t, DOMAIN)
    assert services.referrals == []  # not one referral per department: one case
    (sent,) = services.cases
    assert [r["program"] for r in sent["body"]["referrals"]] == ["medical", "education"]
    assert sent["body"]["program"] == "medical" and sent["body"]["needs_routing"] is False
    assert sent["body"]["channel"] == "sms" and sent["body"]["description"] == TOLD
    assert sent["body"]["screen"] == {"programs": [{"program": "dibao", "status": "likely_eligible"}]}
    assert sent["headers"]["Idempotency-Key"].startswith("bot:")
    (told,) = texts_of(d)
    assert "编号12349-20261122-0001" in told
    assert "医疗救助：转医保部门，11月23日前联系您" in told and "教育救助：转教育部门" in told
    assert slots_set(events)["referral_choice"] is None and slots_set(events)["proposed_referrals"] is None
    # a retry (the citizen says 再试一次 after a timeout) sends the same key
    await ActionSubmitHelpRequest().run(CollectingDispatcher(), t, DOMAIN)
    assert services.cases[1]["headers"]["Idempotency-Key"] == sent["headers"]["Idempotency-Key"]


async def test_one_need_chosen_of_two_files_a_single_referral_of_that_program(services):
    t = make_tracker(filled(help_description=TOLD, proposed_referrals=["medical", "education"],
                            referral_choice=["education"]))
    await ActionSubmitHelpRequest().run(CollectingDispatcher(), t, DOMAIN)
    assert services.cases == [] and services.referrals[-1]["body"]["program"] == "education"


async def test_the_lookup_of_a_case_tells_each_referral_in_one_sentence(services):
    summary = "医疗救助：医保部门正在办理。教育救助已转给教育部门，等待受理。"
    services.tickets["12349-20261122-0001"] = ("1234", {
        "reference_no": "12349-20261122-0001", "status": "in_progress", "program": "medical",
        "case": {"reference_no": "12349-20261122-0001", "status": "open", "summary": summary,
                 "referrals": [{"program": "medical"}, {"program": "education"}]}})
    d = CollectingDispatcher()
    await ActionCheckTicketStatus().run(d, make_tracker({"reference_no": "12349-20261122-0001",
                                                          "phone_last4": "1234"}), DOMAIN)
    assert texts_of(d) == [f"编号12349-20261122-0001：{summary}"]


async def test_an_emergency_told_then_filed_is_not_asked_again_and_each_department_is_offered(services):
    """不用 to the offer of a person starts the form: the emergency the citizen told is what
    happened (an elderly citizen in a fallen house is not asked to tell it twice), and its needs
    of other departments are proposed beside it."""
    told = "我家老头子中风了 住院钱交不起 房子也塌了半边 下雨天没地方住"
    said = [{"event": "user", "text": told,
             "parse_data": {"intent": {"name": "report_emergency", "confidence": 0.9}, "text": told}},
            {"event": "action", "name": "utter_emergency_offer_human"}]
    services.proposals = ["temporary", "medical", "housing"]
    t = make_tracker({"region": "430200"}, "不用", intent="deny", events=said, form_turn="help_form")
    slots = slots_set(await ValidateHelpForm().run(CollectingDispatcher(), t, DOMAIN))
    assert slots["help_description"] == told and services.proposal_requests[-1]["text"] == told
    assert slots["proposed_referrals"][1:] == ["medical", "housing"]
    assert slots["requested_slot"] == "citizen_name"
    # a short cry (救命) or a message that was no emergency is not taken for what happened
    short = [{"event": "user", "text": "着火了", "parse_data": {"intent": {"name": "report_emergency"}}}]
    t = make_tracker({}, "不用", intent="deny", events=short, form_turn="help_form")
    assert "help_description" not in slots_set(await ValidateHelpForm().run(CollectingDispatcher(), t, DOMAIN))
    policy = [{"event": "user", "text": told, "parse_data": {"intent": {"name": "ask_policy"}}}]
    t = make_tracker({}, "我要求助", intent="request_help", events=policy, form_turn="help_form")
    assert "help_description" not in slots_set(await ValidateHelpForm().run(CollectingDispatcher(), t, DOMAIN))
