"""Help requests: the help form's validators and filing the referral ticket."""

import hashlib
import re
from datetime import datetime
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import services_client
from actions.regions import normalise_region

MOBILE_RE = re.compile(r"(?<!\d)(1[3-9]\d)[\s-]?(\d{4})[\s-]?(\d{4})(?!\d)")
MAX_NAME = 32


def extract_mobile(text: Optional[str]) -> Optional[str]:
    match = MOBILE_RE.search(text or "")
    return "".join(match.groups()) if match else None


def plain_deadline(iso: str) -> str:
    """'2026-12-21T09:30+08:00' -> '12月21日' (the citizen reads dates, not timestamps)."""
    dt = datetime.fromisoformat(iso)
    return f"{dt.month}月{dt.day}日"


def idempotency_key(sender_id: str, payload: Dict[str, Any]) -> str:
    """Same conversation + same answers = same key, so a retry never files a second ticket."""
    basis = "|".join(str(payload[k]) for k in ("program", "region", "description")) + \
        "|" + payload["citizen"]["name"] + "|" + payload["citizen"]["phone"]
    return "bot:" + hashlib.sha256(f"{sender_id}|{basis}".encode()).hexdigest()[:40]


def reported_emergency(tracker: Tracker) -> bool:
    """Whether the citizen reported an emergency at any point of this conversation."""
    return any(
        ev.get("event") == "user"
        and ((ev.get("parse_data") or {}).get("intent") or {}).get("name") == "report_emergency"
        for ev in tracker.events
    )


class ValidateHelpForm(FormValidationAction):
    def name(self) -> Text:
        return "validate_help_form"

    async def required_slots(self, domain_slots: List[Text], dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: DomainDict) -> List[Text]:
        # The region may already be known from the channel (metadata) or earlier turns.
        return [s for s in domain_slots if not (s == "region" and tracker.get_slot("region"))]

    async def validate_citizen_name(self, value: Any, dispatcher: CollectingDispatcher,
                                    tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        name = re.sub(r"^(我叫|我是|叫我|姓名[:：]?)", "", str(value or "")).strip(" 。，,.!！")
        if not name or len(name) > MAX_NAME:
            dispatcher.utter_message(response="utter_ask_citizen_name")
            return {"citizen_name": None}
        return {"citizen_name": name}

    async def validate_phone(self, value: Any, dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        phone = extract_mobile(str(value or "")) or extract_mobile(tracker.latest_message.get("text"))
        if phone is None:
            dispatcher.utter_message(response="utter_phone_invalid")
            return {"phone": None}
        return {"phone": phone}

    async def validate_region(self, value: Any, dispatcher: CollectingDispatcher,
                              tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        region = normalise_region(value)
        if region is None:
            dispatcher.utter_message(response="utter_region_invalid")
        return {"region": region}

    async def validate_help_description(self, value: Any, dispatcher: CollectingDispatcher,
                                        tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        text = str(value or "").strip()
        if not text:
            return {"help_description": None}
        return {"help_description": text[:2000]}


class ActionSubmitHelpRequest(Action):
    def name(self) -> Text:
        return "action_submit_help_request"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        metadata = tracker.latest_message.get("metadata") or {}
        urgent = tracker.get_slot("urgency") == "urgent" or reported_emergency(tracker)
        payload = {
            "program": tracker.get_slot("program") or "temporary",
            "region": tracker.get_slot("region"),
            "citizen": {"name": tracker.get_slot("citizen_name"),
                        "phone": tracker.get_slot("phone")},
            "description": tracker.get_slot("help_description"),
            "urgency": "urgent" if urgent else "normal",
            "channel": metadata.get("channel", "web"),
            "conversation_id": tracker.sender_id,
        }
        try:
            ticket = await services_client.request(
                "POST", "/api/referrals", json=payload,
                headers={"Idempotency-Key": idempotency_key(tracker.sender_id, payload)},
            )
        except (services_client.ServiceUnavailable, services_client.ServiceRejected):
            # Slots stay filled: a retry sends the same answers with the same key.
            dispatcher.utter_message(response="utter_service_down_saved")
            return []
        dispatcher.utter_message(
            response="utter_help_submitted",
            reference_no=ticket["reference_no"],
            department_name=ticket.get("department_name", ticket["department"]),
            first_response_due=plain_deadline(ticket["sla"]["first_response_due"]),
            resolution_due=plain_deadline(ticket["sla"]["resolution_due"]),
        )
        return [SlotSet("help_description", None), SlotSet("urgency", None),
                SlotSet("reference_no", ticket["reference_no"])]
