"""Handing a conversation to a person: crisis words, an emergency, 转人工, a complaint, or the
bot failing to understand twice in a row.

The bot tells the citizen, then sends the gateway a custom JSON message
    {"handoff": {"reason": "crisis" | "emergency" | "request_human" | "complaint" | "fallback",
                 "summary": "<a few lines for the agent>"}}
and the gateway (channels/) routes the conversation to a hotline agent.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.offers import read_in_context
from actions.regions import normalise_region, region_name
from actions.vocabulary import program_name, vocabulary
from hotline.privacy import mask_phone
from hotline.privacy import mask_text as mask  # one masker for both runtimes (masking.yml)

REPLY = {"crisis": "utter_crisis", "emergency": "utter_emergency_handoff",
         "request_human": "utter_human_soon", "complaint": "utter_complaint_handoff",
         "fallback": "utter_fallback_handoff"}
REASON_BY_INTENT = {"crisis": "crisis", "complain": "complaint", "request_human": "request_human",
                    "report_emergency": "emergency", "nlu_fallback": "fallback",
                    "nonsense": "fallback"}
FALLBACKS_BEFORE_HANDOFF = 2
SUMMARY_MESSAGES = 3
SUMMARY_MESSAGE_CHARS = 60


def summary(tracker: Tracker, reason: str) -> str:
    """What an agent reads first: why, who, where, and the citizen's last words."""
    v = vocabulary()["handoff"]
    labels = v["labels"]
    street, program = tracker.get_slot("street"), tracker.get_slot("program")
    facts = [
        (labels["region"], region_name(normalise_region(tracker.get_slot("region")))),
        (labels["street"], None if street == "unknown" else street),
        (labels["program"], program_name(program) if program else None),
        (labels["name"], tracker.get_slot("citizen_name")),
        (labels["phone"], mask_phone(tracker.get_slot("phone"))),
        (labels["reference_no"], tracker.get_slot("reference_no")),
    ]
    said = [e.get("text") or "" for e in tracker.events if e.get("event") == "user" and e.get("text")]
    said = [mask(s)[:SUMMARY_MESSAGE_CHARS] for s in said[-SUMMARY_MESSAGES:]]
    parts = [v["reasons"][reason]] + [f"{k}：{val}" for k, val in facts if val]
    if said:
        parts.append(f"{labels['said']}：" + " / ".join(f"「{s}」" for s in said))
    return "；".join(parts)


def emit_handoff(dispatcher: CollectingDispatcher, tracker: Tracker, reason: str) -> None:
    """The signal the gateway acts on; program and region feed the agents' waiting queue."""
    signal = {"handoff": {"reason": reason, "summary": summary(tracker, reason),
                          "program": tracker.get_slot("program") or tracker.get_slot("suggested_program"),
                          "region": normalise_region(tracker.get_slot("region"))}}
    dispatcher.utter_message(json_message=signal)


def handoff_reason(tracker: Tracker) -> str:
    intent = (tracker.latest_message.get("intent") or {}).get("name")
    if intent in REASON_BY_INTENT:
        return REASON_BY_INTENT[intent]
    # 是 to "要我马上为您转接人工吗？" after an emergency
    return "emergency" if _last_bot_response(tracker) == "utter_emergency_offer_human" else "request_human"


def _last_bot_response(tracker: Tracker) -> Optional[str]:
    for event in reversed(tracker.events):
        if event.get("event") == "action" and event.get("name") not in ("action_listen", None):
            return event.get("name")
    return None


class ActionHandoff(Action):
    def name(self) -> Text:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        reason = handoff_reason(tracker)
        dispatcher.utter_message(response=REPLY[reason])
        emit_handoff(dispatcher, tracker, reason)
        return []


def fallbacks_in_a_row(tracker: Tracker) -> int:
    """How many of the citizen's latest turns, this one included, the bot did not understand."""
    count, answered_by = 0, None
    for event in reversed(tracker.events):
        kind = event.get("event")
        if kind == "action" and event.get("name") not in ("action_listen", None):
            answered_by = event.get("name")
        elif kind == "user":
            if count == 0 or answered_by == "action_fallback":
                count += 1
                answered_by = None
            else:
                break
    return count


class ActionFallback(Action):
    """Not understood: read in context first (actions/offers.py); else ask to rephrase, and the
    second time in a row hand over to a person."""

    def name(self) -> Text:
        return "action_fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        understood = await read_in_context(dispatcher, tracker, domain)
        if understood is not None:
            return understood
        if fallbacks_in_a_row(tracker) >= FALLBACKS_BEFORE_HANDOFF:
            dispatcher.utter_message(response=REPLY["fallback"])
            emit_handoff(dispatcher, tracker, "fallback")
        else:
            dispatcher.utter_message(response="utter_default")
        return [SlotSet("help_offered", False)]
