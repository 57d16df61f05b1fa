"""Where does my request stand: reference number + the phone's last 4 digits -> plain words.

GET /api/referrals/{reference_no}?phone_last4= answers 404 for an unknown number and for wrong
digits alike, and 429 after too many wrong tries; the bot says which in plain words.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import services_client
from actions.help_request import plain_deadline
from actions.interruptions import TRIES, InterruptibleFormValidation, failed_tries, fresh_user_turn, gave_up_on
from actions.parsing import parse_last4, parse_reference_no
from actions.vocabulary import department_name, program_name

STATUSES = ("new", "accepted", "in_progress", "waiting_citizen", "transferred", "reopened",
            "resolved", "closed")


class ValidateTicketStatusForm(InterruptibleFormValidation):
    own_intents = frozenset({"ask_ticket_status"})

    def name(self) -> Text:
        return "validate_ticket_status_form"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        asked = tracker.get_slot("requested_slot") == "reference_no"
        no_number = not parse_reference_no(tracker.latest_message.get("text") or "")
        if asked and no_number and fresh_user_turn(tracker, self.form_name()) and (
                gave_up_on(tracker, "reference_no") or failed_tries(tracker, "reference_no") > TRIES):
            # 编号我忘了, or a third answer with no number: the form ends without one and the
            # lookup says how a person can find the request (the empty number counts as the
            # answer, so Rasa does not reject the form and ask forever).
            return [SlotSet("reference_no", None), SlotSet("requested_slot", None)]
        return await super().run(dispatcher, tracker, domain)

    async def required_slots(self, domain_slots: List[Text], dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: DomainDict) -> List[Text]:
        if gave_up_on(tracker, "reference_no"):
            return []  # no number: action_check_ticket_status says what to do
        # The phone given earlier in this conversation (a help request) is not asked again.
        return [s for s in domain_slots if not (s == "phone_last4" and tracker.get_slot("phone"))]

    def answers(self, requested: Optional[str], tracker: Tracker) -> bool:
        text = tracker.latest_message.get("text") or ""
        return bool(parse_reference_no(text) if requested == "reference_no" else parse_last4(text))

    async def extract_reference_no(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                   domain: DomainDict) -> Dict[Text, Any]:
        text = tracker.latest_message.get("text") or ""
        found = parse_reference_no(text)
        if found:
            return {"reference_no": found}
        if tracker.get_slot("requested_slot") != "reference_no" or gave_up_on(tracker, "reference_no"):
            return {}
        dispatcher.utter_message(response="utter_reference_invalid")
        return {"reference_no": None}

    async def extract_phone_last4(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                  domain: DomainDict) -> Dict[Text, Any]:
        if tracker.get_slot("requested_slot") != "phone_last4":
            return {}
        last4 = parse_last4(tracker.latest_message.get("text"))
        if last4 is None:
            dispatcher.utter_message(response="utter_last4_invalid")
        return {"phone_last4": last4}

    async def validate_reference_no(self, value: Any, dispatcher: CollectingDispatcher,
                                    tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        return {"reference_no": parse_reference_no(str(value or ""))}

    async def validate_phone_last4(self, value: Any, dispatcher: CollectingDispatcher,
                                   tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        return {"phone_last4": value}


class ActionCheckTicketStatus(Action):
    def name(self) -> Text:
        return "action_check_ticket_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        reference_no = tracker.get_slot("reference_no")
        last4 = tracker.get_slot("phone_last4") or (tracker.get_slot("phone") or "")[-4:]
        if not reference_no:
            dispatcher.utter_message(response="utter_no_reference_no")
            return [SlotSet("pending_retry", None)]
        try:
            ticket = await services_client.request(
                "GET", f"/api/referrals/{reference_no}", params={"phone_last4": last4},
                # the limits on wrong tries count this conversation, not the action server
                headers={"X-Hotline-Citizen": tracker.sender_id})
        except services_client.ServiceUnavailable:
            dispatcher.utter_message(response="utter_service_down_status")
            return [SlotSet("pending_retry", "ticket_status")]
        except services_client.ServiceRejected as exc:
            dispatcher.utter_message(response="utter_ticket_locked" if exc.status == 429
                                     else "utter_ticket_not_found")
            # Asked afresh next time: either may have been mistyped (the phone from a help
            # request too, when its digits were used).
            events = [SlotSet("reference_no", None), SlotSet("phone_last4", None),
                      SlotSet("pending_retry", None)]
            if not tracker.get_slot("phone_last4"):
                events.append(SlotSet("phone", None))
            return events
        case = ticket.get("case") or {}
        if len(case.get("referrals") or []) > 1:
            # 一门受理: one number, each department's referral in one plain sentence
            dispatcher.utter_message(response=f"utter_case_status_{case.get('status')}"
                                     if case.get("status") == "closed" else "utter_case_status_open",
                                     reference_no=case["reference_no"], summary=case["summary"])
            return [SlotSet("pending_retry", None)]
        status = ticket.get("status")
        sla = ticket.get("sla") or {}
        due = {k: plain_deadline(sla[k]) if sla.get(k) else ""
               for k in ("first_response_due", "resolution_due")}
        dispatcher.utter_message(
            response=f"utter_ticket_status_{status if status in STATUSES else 'other'}",
            reference_no=reference_no,
            program_name=program_name(ticket.get("program")),
            department_name=department_name(ticket.get("department")) or ticket.get("department_name"),
            **due,
        )
        return [SlotSet("pending_retry", None)]
