"""Messages NLU could not place, read in context: a follow-up about the program just discussed
is answered for it; a hardship told is offered a request; anything else gets the usual reply."""

from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import ActionFallback
from actions.offers import ActionOfferHelp
from actions.vocabulary import offerable_need
from actions.policy import aspect_in_text
from tests.bot.conftest import DOMAIN, make_tracker, responses, texts_of

SCHOOL_FEES = "我娃儿考上大学了 学费凑不齐 有没有啥子补助"


def parse(text, intent, program=None, confidence=0.0):
    return {"text": text, "intent": {"name": intent, "confidence": 0.4},
            "need": {"program": program, "confidence": confidence}, "entities": []}


def tracker_for(text, intent, program=None, confidence=0.0, slots=None):
    t = make_tracker(slots or {}, text, intent=intent)
    t.latest_message = parse(text, intent, program, confidence)
    return t


def slots_set(events):
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def test_a_need_is_offered_only_when_told_at_length_and_read_with_confidence():
    assert offerable_need(parse(SCHOOL_FEES, "nlu_fallback", "education", 0.95)) == "education"
    assert offerable_need(parse(SCHOOL_FEES, "nlu_fallback", "education", 0.4)) is None  # unsure
    assert offerable_need(parse("先帮俺登记", "nlu_fallback", "legal_aid", 0.9)) is None  # no description


async def test_a_hardship_not_understood_is_offered_a_request_with_its_description_kept(services):
    services.proposals = ["education"]  # one need: offered by its program, as before
    d = CollectingDispatcher()
    events = await ActionFallback().run(d, tracker_for(SCHOOL_FEES, "nlu_fallback", "education", 0.95), DOMAIN)
    assert responses(d) == ["utter_offer_help"]
    assert "教育救助" in texts_of(d)[0] and len(texts_of(d)[0]) <= 70
    assert slots_set(events) == {"help_offered": True, "program": "education", "aspect": None,
                                 "help_description": SCHOOL_FEES, "proposed_referrals": []}
    assert services.proposal_requests[-1]["text"] == SCHOOL_FEES


TWO_NEEDS = "俺老伴腰椎做了手术躺了半年 家里借遍了亲戚 孙子的书本钱也没着落"


async def test_a_hardship_telling_two_departments_needs_is_offered_as_one_request_for_both(services):
    """The classifier reads the whole as civil affairs' (its programs added up); the proposals
    read it piece by piece and find the operation and the grandson's schooling: the offer names
    both departments, and the form, once 好 starts it, asks which to file (referral_choice)."""
    services.proposals = ["medical", "education"]
    t = make_tracker({}, TWO_NEEDS, intent="nlu_fallback")
    t.latest_message = {"text": TWO_NEEDS, "intent": {"name": "nlu_fallback"}, "entities": [], "need": {
        "program": None, "confidence": 0.4, "ranking": [
            {"program": "temporary", "confidence": 0.4}, {"program": "expenditure_hardship", "confidence": 0.3},
            {"program": "medical", "confidence": 0.2}]}}
    d = CollectingDispatcher()
    events = await ActionFallback().run(d, t, DOMAIN)
    (offer,) = texts_of(d)
    assert responses(d) == ["utter_offer_help_several"]
    assert "医疗救助（医保部门）、教育救助（教育部门）" in offer and "回复“好”" in offer and len(offer) <= 70
    slots = slots_set(events)
    assert slots["proposed_referrals"] == ["medical", "education"] and slots["help_description"] == TWO_NEEDS
    assert slots["help_offered"] is True
    from actions.help_request import ValidateHelpForm

    form_slots = {**slots, "region": "341503"}
    asked = await ValidateHelpForm().required_slots(
        ["citizen_name", "phone", "region", "street", "help_description"], CollectingDispatcher(),
        make_tracker(form_slots, "好", intent="affirm"), DOMAIN)
    assert asked[-1] == "referral_choice" and "region" not in asked


async def test_the_offer_falls_back_to_one_department_when_the_proposals_cannot_be_had(services):
    services.status["proposals"] = 503
    services.proposals = ["medical", "education"]
    t = make_tracker({}, TWO_NEEDS, intent="nlu_fallback")
    t.latest_message = {"text": TWO_NEEDS, "intent": {"name": "nlu_fallback"}, "entities": [], "need": {
        "program": None, "confidence": 0.4, "ranking": [
            {"program": "temporary", "confidence": 0.4}, {"program": "expenditure_hardship", "confidence": 0.3}]}}
    d = CollectingDispatcher()
    events = await ActionFallback().run(d, t, DOMAIN)
    assert responses(d) == ["utter_offer_help_department"] and "民政部门" in texts_of(d)[0]
    assert slots_set(events)["proposed_referrals"] == []


async def test_out_of_scope_and_bare_answers_keep_their_reply_when_nothing_is_told(services):
    d = CollectingDispatcher()
    events = await ActionOfferHelp().run(d, tracker_for("今天天气怎么样", "out_of_scope", None, 0.3), DOMAIN)
    assert responses(d) == ["utter_out_of_scope"] and slots_set(events) == {"help_offered": False}
    d = CollectingDispatcher()
    await ActionOfferHelp().run(d, tracker_for("三口人", "inform", "dibao", 0.7), DOMAIN)
    assert responses(d) == ["utter_what_next"]


async def test_a_follow_up_is_answered_for_the_program_being_discussed(services):
    d = CollectingDispatcher()
    t = tracker_for("要带些啥子", "out_of_scope", slots={"program": "dibao", "region": "511700",
                                                        "aspect": "条件"})
    events = await ActionOfferHelp().run(d, t, DOMAIN)
    assert services.policy_queries[-1] == {"program": "dibao", "aspect": "材料", "region": "511700"}
    assert responses(d) == ["utter_policy_answer"] and slots_set(events)["aspect"] == "材料"
    # with no program discussed yet, the same words are no follow-up
    d = CollectingDispatcher()
    await ActionOfferHelp().run(d, tracker_for("要带些啥子", "out_of_scope"), DOMAIN)
    assert responses(d) == ["utter_out_of_scope"]


def test_aspects_read_from_the_words_of_a_follow_up():
    assert [aspect_in_text(t) for t in ("去哪办", "要带么子材料", "多久能批下来", "找哪个", "那低保呢 要啥条件",
                                        "一个月能给多少钱", "好的")] == \
        ["流程", "材料", "时限", "部门", "条件", "金额", None]


async def test_yes_right_after_the_offer_starts_the_help_form_and_only_then():
    from actions.offers import ActionAffirm

    offered = [{"event": "action", "name": "action_offer_help"},
               {"event": "slot", "name": "help_offered", "value": True},
               {"event": "action", "name": "action_listen"},
               {"event": "user", "text": "好", "parse_data": {"intent": {"name": "affirm"}}}]
    d = CollectingDispatcher()
    events = await ActionAffirm().run(d, make_tracker({"help_offered": True}, "好", intent="affirm",
                                                      events=offered), DOMAIN)
    assert {"event": "followup", "name": "help_form", "timestamp": None} in events and responses(d) == []
    # 好 later on, after something else was said, is a plain acknowledgement
    later = offered[:2] + [{"event": "action", "name": "action_answer_policy"},
                           {"event": "action", "name": "action_listen"},
                           {"event": "user", "text": "好", "parse_data": {"intent": {"name": "affirm"}}}]
    d = CollectingDispatcher()
    assert await ActionAffirm().run(d, make_tracker({"help_offered": True}, "好", intent="affirm",
                                                    events=later), DOMAIN) == []
    assert responses(d) == ["utter_affirm_ack"]


async def test_a_hardship_between_programs_of_one_department_is_offered_by_the_department(services):
    text = "俺家老爷们儿干活把腰整折了 啥也干不了 家里揭不开锅了 咋整啊"
    t = make_tracker({}, text, intent="nlu_fallback")
    t.latest_message = {"text": text, "intent": {"name": "nlu_fallback"}, "entities": [], "need": {
        "program": None, "confidence": 0.27, "ranking": [
            {"program": "dibao", "confidence": 0.27}, {"program": "tekun", "confidence": 0.22},
            {"program": "temporary", "confidence": 0.22}, {"program": "medical", "confidence": 0.1}]}}
    d = CollectingDispatcher()
    events = await ActionFallback().run(d, t, DOMAIN)
    assert responses(d) == ["utter_offer_help_department"] and "民政部门" in texts_of(d)[0]
    assert slots_set(events)["program"] is None and slots_set(events)["help_offered"] is True
