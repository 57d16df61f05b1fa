"""When a message interrupts a form (actions/interruptions.py)."""

from rasa_sdk.executor import CollectingDispatcher

from actions.eligibility import ValidateEligibilityForm
from actions.interruptions import fresh_user_turn
from actions.policy import ValidatePolicyForm
from actions.session import ActionSessionStart
from tests.bot.conftest import DOMAIN, make_tracker

REJECTED = {
    "event": "action_execution_rejected",
    "name": "eligibility_form",
    "policy": None,
    "confidence": None,
    "timestamp": None,
}


def turn(text, intent, confidence=0.95, requested="monthly_income", **kw):
    return make_tracker(
        {"region": "430200", "household_size": 3, "area": "urban"},
        text,
        intent=intent,
        confidence=confidence,
        requested_slot=requested,
        active_loop="eligibility_form",
        form_turn="eligibility_form",
        **kw,
    )


def test_fresh_turn_versus_return_from_a_digression():
    assert fresh_user_turn(turn("x", "inform"), "eligibility_form")
    back = make_tracker(
        events=[
            {"event": "user", "text": "低保材料"},
            {"event": "action", "name": "action_answer_policy"},
            {"event": "bot", "text": "…"},
            {"event": "action", "name": "eligibility_form"},
        ]
    )
    assert not fresh_user_turn(back, "eligibility_form")


async def test_topic_change_rejects_the_form():
    form = ValidateEligibilityForm()
    assert await form.run(CollectingDispatcher(), turn("低保要带什么材料", "ask_policy"), DOMAIN) == [
        REJECTED
    ]
    assert await form.run(CollectingDispatcher(), turn("转人工", "request_human", 0.6), DOMAIN) == [REJECTED]
    assert await form.run(CollectingDispatcher(), turn("活着没意思", "crisis", 0.3), DOMAIN) == [REJECTED]


async def test_answers_and_unsure_guesses_do_not_reject():
    form = ValidateEligibilityForm()
    for t in (
        turn("两千五", "ask_policy"),  # answers the question despite the intent
        turn("低保要什么材料", "ask_policy", 0.5),  # NLU unsure
        turn("不知道", "dont_know"),
        turn("三口人", "check_eligibility"),
    ):
        events = await form.run(CollectingDispatcher(), t, DOMAIN)
        assert REJECTED not in events


async def test_the_form_own_intent_never_interrupts():
    form = ValidatePolicyForm()
    t = make_tracker(
        {},
        "低保呢",
        intent="ask_policy",
        requested_slot="program",
        active_loop="policy_form",
        form_turn="policy_form",
    )
    assert not form.interrupted(t)


async def test_session_start_takes_the_channel_region():
    t = make_tracker({"session_started_metadata": {"region": "341503", "channel": "web"}})
    events = await ActionSessionStart().run(CollectingDispatcher(), t, DOMAIN)
    assert {"event": "slot", "name": "region", "value": "341503", "timestamp": None} in events
    t = make_tracker({"session_started_metadata": {"region": "110000"}})
    events = await ActionSessionStart().run(CollectingDispatcher(), t, DOMAIN)
    assert not any(e.get("name") == "region" for e in events)


async def test_session_start_takes_the_number_a_citizen_texts_or_calls_from():
    t = make_tracker({"session_started_metadata": {"channel": "sms", "phone": "13800001234"}})
    events = await ActionSessionStart().run(CollectingDispatcher(), t, DOMAIN)
    assert {"event": "slot", "timestamp": None, "name": "phone", "value": "13800001234"} in events
    t = make_tracker({"session_started_metadata": {"channel": "wechat", "phone": "not a number"}})
    events = await ActionSessionStart().run(CollectingDispatcher(), t, DOMAIN)
    assert not [e for e in events if e.get("name") == "phone"]
