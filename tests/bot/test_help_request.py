"""The help form's validators and the referral action, against a fake services API."""

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.help_request import (ActionSubmitHelpRequest, ValidateHelpForm, extract_mobile,
                                  plain_deadline)

DOMAIN = {"forms": {"help_form": {"required_slots": ["citizen_name", "phone", "region",
                                                     "help_description"]}}}


def tracker(slots=None, text="", intent="inform", events=None, metadata=None, sender="web:abc"):
    return Tracker(sender, slots or {}, {"text": text, "intent": {"name": intent},
                                         "entities": [], "metadata": metadata or {}},
                   events or [], False, None, {"name": "help_form"}, "action_listen")


def filled(**over):
    slots = {"citizen_name": "王秀英", "phone": "13800001234", "region": "341503",
             "help_description": "老伴住院，交不起医药费", "program": None, "urgency": None}
    slots.update(over)
    return slots


def test_mobile_numbers_as_people_type_them():
    assert extract_mobile("我电话 138 0000 1234 谢谢") == "13800001234"
    assert extract_mobile("138-0000-1234") == "13800001234"
    assert extract_mobile("12345") is None
    assert plain_deadline("2026-12-21T10:00+08:00") == "12月21日"


async def test_validators_clean_and_reject():
    form, d = ValidateHelpForm(), CollectingDispatcher()
    t = tracker()
    assert await form.validate_citizen_name("我叫王秀英。", d, t, DOMAIN) == {"citizen_name": "王秀英"}
    assert await form.validate_phone("1380000", d, t, DOMAIN) == {"phone": None}
    assert d.messages[-1]["response"] == "utter_phone_invalid"
    assert await form.validate_region("999999", d, t, DOMAIN) == {"region": None}
    assert await form.validate_region("430200", d, t, DOMAIN) == {"region": "430200"}


async def test_region_known_from_channel_is_not_asked_again():
    form = ValidateHelpForm()
    slots = await form.required_slots(["citizen_name", "phone", "region", "help_description"],
                                      CollectingDispatcher(), tracker({"region": "430200"}), DOMAIN)
    assert "region" not in slots


async def test_submit_files_a_referral_and_tells_the_reference(services):
    d = CollectingDispatcher()
    events = await ActionSubmitHelpRequest().run(d, tracker(filled(), metadata={"channel": "web"}), {})
    sent = services.referrals[-1]
    assert sent["body"]["citizen"] == {"name": "王秀英", "phone": "13800001234"}
    assert sent["body"]["region"] == "341503" and sent["body"]["urgency"] == "normal"
    assert sent["headers"]["Idempotency-Key"].startswith("bot:")
    msg = d.messages[-1]
    assert msg["response"] == "utter_help_submitted"
    assert msg["reference_no"] == "12349-20261122-0001" and msg["resolution_due"] == "12月21日"
    assert {"event": "slot", "name": "reference_no", "value": "12349-20261122-0001",
            "timestamp": None} in events


async def test_retry_uses_the_same_key(services):
    for _ in range(2):
        await ActionSubmitHelpRequest().run(CollectingDispatcher(), tracker(filled()), {})
    keys = {r["headers"]["Idempotency-Key"] for r in services.referrals}
    assert len(keys) == 1 and len(services.keys) == 1


async def test_emergency_is_filed_as_urgent(services):
    events = [{"event": "user", "parse_data": {"intent": {"name": "report_emergency"}}}]
    await ActionSubmitHelpRequest().run(CollectingDispatcher(), tracker(filled(), events=events), {})
    assert services.referrals[-1]["body"]["urgency"] == "urgent"


async def test_service_down_keeps_the_answers(services):
    services.status = 503
    d = CollectingDispatcher()
    events = await ActionSubmitHelpRequest().run(d, tracker(filled()), {})
    assert d.messages[-1]["response"] == "utter_service_down_saved"
    assert events == []  # nothing reset: the citizen's answers stay for the retry
