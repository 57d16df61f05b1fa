"""Status of a request (actions/ticket_status.py) against the fake services API."""

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.ticket_status import ActionCheckTicketStatus, ValidateTicketStatusForm
from tests.bot.conftest import DOMAIN, make_tracker, responses, texts_of

FORM_SLOTS = DOMAIN["forms"]["ticket_status_form"]["required_slots"]
REF = "12349-20261122-0001"


def slots_set(events):
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


@pytest.fixture
def ticket(services):
    services.tickets[REF] = (
        "1234",
        {
            "reference_no": REF,
            "department": "civil_affairs",
            "department_name": "民政",
            "status": "in_progress",
            "program": "dibao",
            "sla": {
                "first_response_due": "2026-11-23T10:00+08:00",
                "resolution_due": "2026-12-21T10:00+08:00",
            },
        },
    )
    return services


async def test_phone_from_this_conversation_is_not_asked_again():
    form, d = ValidateTicketStatusForm(), CollectingDispatcher()
    assert await form.required_slots(FORM_SLOTS, d, make_tracker({"phone": "13800001234"}), DOMAIN) == [
        "reference_no"
    ]
    assert await form.required_slots(FORM_SLOTS, d, make_tracker({}), DOMAIN) == FORM_SLOTS


async def test_reference_and_digits_as_typed():
    form, d = ValidateTicketStatusForm(), CollectingDispatcher()
    t = make_tracker({}, "编号12349 20261122 0001", requested_slot="reference_no")
    assert await form.extract_reference_no(d, t, DOMAIN) == {"reference_no": REF}
    t = make_tracker({}, "尾号1234", requested_slot="phone_last4")
    assert await form.extract_phone_last4(d, t, DOMAIN) == {"phone_last4": "1234"}
    t = make_tracker({}, "12349", requested_slot="reference_no")
    assert await form.extract_reference_no(d, t, DOMAIN) == {"reference_no": None}
    assert responses(d) == ["utter_reference_invalid"]
    t = make_tracker({}, "不记得了", intent="dont_know", requested_slot="reference_no")
    assert await form.required_slots(FORM_SLOTS, d, t, DOMAIN) == []  # the form ends


async def test_dont_know_ends_the_form_in_one_turn():
    form, d = ValidateTicketStatusForm(), CollectingDispatcher()
    t = make_tracker(
        {},
        "不记得了",
        intent="dont_know",
        requested_slot="reference_no",
        active_loop="ticket_status_form",
        form_turn="ticket_status_form",
    )
    events = await form.run(d, t, DOMAIN)
    assert events[-1] == {"event": "slot", "name": "requested_slot", "value": None, "timestamp": None}
    # Rasa rejects a form turn that sets no slot but requested_slot (it then asked forever)
    assert any(e["event"] == "slot" and e["name"] == "reference_no" for e in events)
    assert d.messages == []


async def test_a_third_answer_without_a_number_ends_the_form():
    form = ValidateTicketStatusForm()
    said = ["好像是上个月", "我记不太清", "单子丢了"]
    earlier = []
    for text in said[:-1]:
        earlier += [{"event": "slot", "name": "requested_slot", "value": "reference_no"},
                    {"event": "action", "name": "action_listen"},
                    {"event": "user", "text": text, "parse_data": {"text": text, "intent": {"name": "inform"}}},
                    {"event": "slot", "name": "reference_no", "value": None}]
    t = make_tracker({}, said[-1], requested_slot="reference_no", active_loop="ticket_status_form",
                     form_turn="ticket_status_form", events=earlier)
    events = await form.run(CollectingDispatcher(), t, DOMAIN)
    assert {"event": "slot", "name": "reference_no", "value": None, "timestamp": None} in events
    assert events[-1]["name"] == "requested_slot" and events[-1]["value"] is None


async def test_status_in_plain_words(ticket):
    d = CollectingDispatcher()
    await ActionCheckTicketStatus().run(d, make_tracker({"reference_no": REF, "phone_last4": "1234"}), DOMAIN)
    assert ticket.lookups[-1] == (REF, "1234")
    assert texts_of(d) == [f"编号{REF}（低保）民政部门正在办理，最迟12月21日前办结。"]


async def test_the_lookup_names_the_conversation_for_its_limits(ticket):
    """The services count wrong tries per conversation, not per action server."""
    tracker = make_tracker({"reference_no": REF, "phone_last4": "1234"})
    await ActionCheckTicketStatus().run(CollectingDispatcher(), tracker, DOMAIN)
    assert ticket.lookup_citizen == tracker.sender_id and tracker.sender_id


async def test_digits_from_the_phone_given_earlier(ticket):
    d = CollectingDispatcher()
    await ActionCheckTicketStatus().run(
        d, make_tracker({"reference_no": REF, "phone": "13800001234"}), DOMAIN
    )
    assert ticket.lookups[-1] == (REF, "1234") and responses(d) == ["utter_ticket_status_in_progress"]


async def test_not_found_asks_afresh(ticket):
    d = CollectingDispatcher()
    events = await ActionCheckTicketStatus().run(
        d, make_tracker({"reference_no": REF, "phone_last4": "9999"}), DOMAIN
    )
    assert responses(d) == ["utter_ticket_not_found"]
    assert slots_set(events) == {"reference_no": None, "phone_last4": None, "pending_retry": None}


async def test_too_many_wrong_tries(ticket):
    ticket.status["lookup"] = 429
    d = CollectingDispatcher()
    await ActionCheckTicketStatus().run(d, make_tracker({"reference_no": REF, "phone_last4": "1234"}), DOMAIN)
    assert responses(d) == ["utter_ticket_locked"]


async def test_no_number_points_to_a_person(services):
    d = CollectingDispatcher()
    await ActionCheckTicketStatus().run(d, make_tracker({}), DOMAIN)
    assert responses(d) == ["utter_no_reference_no"] and services.lookups == []


async def test_service_down_keeps_the_number(services_down):
    d = CollectingDispatcher()
    events = await ActionCheckTicketStatus().run(
        d, make_tracker({"reference_no": REF, "phone_last4": "1234"}), DOMAIN
    )
    assert responses(d) == ["utter_service_down_status"]
    assert slots_set(events) == {"pending_retry": "ticket_status"}
