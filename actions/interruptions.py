"""When does a message interrupt a form instead of answering its question?

Rasa lets a form go on whenever its validation returns any slot, so a citizen who writes
"我不想活了" or "低保要带什么材料" while a form waits for a phone number would otherwise be asked
for the number again. Every form validator here derives from `InterruptibleFormValidation`: on
a fresh user turn whose intent interrupts, it rejects the form's execution (Rasa then follows
the rules for that intent, see bot/data/rules_*.yml) and keeps every slot as it was.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, Dict, FrozenSet, List, Optional, Text

from rasa_sdk import Tracker
from rasa_sdk.events import ActionExecutionRejected
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

# Danger first: these interrupt whatever is asked, at any confidence.
ALWAYS = frozenset({"crisis"})
# The citizen wants out of the form: interrupt unless NLU is unsure.
LEAVING = frozenset({"request_human", "stop"})
LEAVING_MIN_CONFIDENCE = 0.5
# Another topic: interrupts a question with a narrow answer (a number, a yes/no), when NLU is
# confident and the message does not answer the question anyway.
TOPICS = frozenset({"ask_policy", "check_eligibility", "request_help", "report_emergency",
                    "ask_ticket_status", "complain", "bot_challenge", "out_of_scope", "goodbye"})
TOPIC_MIN_CONFIDENCE = 0.7


def latest_intent(tracker: Tracker) -> tuple:
    intent = tracker.latest_message.get("intent") or {}
    return intent.get("name"), float(intent.get("confidence") or 0.0)


def gave_up_on(tracker: Tracker, slot: str) -> bool:
    """The citizen answered 不知道 to the question for `slot`: the form goes on without it."""
    return tracker.get_slot("requested_slot") == slot and latest_intent(tracker)[0] == "dont_know"


TRIES = 2  # answers to one question the bot cannot use before it offers a way on


def failed_tries(tracker: Tracker, slot: str) -> int:
    """How many of the citizen's messages have tried to answer the question for `slot` since
    the form first asked it (the latest included; a digression the bot answered instead is no
    try): the form offers a way on after TRIES instead of asking forever."""
    since_asked, users, digression = 0, 0, False
    for event in reversed(tracker.events):
        kind, name = event.get("event"), event.get("name")
        if kind == "action_execution_rejected":
            digression = True
        elif kind == "user":
            users += 0 if digression else 1
            digression = False
        elif kind == "slot" and name == "requested_slot":
            if event.get("value") == slot:
                since_asked = users  # asked here: the messages after it answered this question
            elif event.get("value") is not None:
                break
        elif kind == "active_loop" and event.get("name") is None:
            break
    return since_asked


def back_from_digression(tracker: Tracker, form: Text) -> bool:
    """The citizen's latest message interrupted the form and has been answered: the form now
    asks its question again, and that message is not an answer to it."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return False
        if event.get("event") == "action_execution_rejected" and event.get("name") == form:
            return True
    return False


def fresh_user_turn(tracker: Tracker, form: Text) -> bool:
    """True when the form runs right after the citizen spoke (not on return from a digression)."""
    for event in reversed(tracker.events):
        kind = event.get("event")
        if kind == "user":
            return True
        if kind == "action" and event.get("name") not in (form, "action_listen"):
            return False
    return False


class InterruptibleFormValidation(FormValidationAction):
    """Base of the form validators: rejects the form when the citizen changes the subject."""

    #: intents that start (or restate) this form; they never interrupt it
    own_intents: FrozenSet[str] = frozenset()
    #: requested slots that take almost any text as the answer (a name, what happened)
    free_text_slots: FrozenSet[str] = frozenset()

    @abstractmethod
    def name(self) -> Text:
        """validate_<form>; abstract, so that the action server does not register this base."""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        if fresh_user_turn(tracker, self.form_name()) and self.interrupted(tracker):
            return [ActionExecutionRejected(self.form_name())]
        if back_from_digression(tracker, self.form_name()):
            return []
        events = await super().run(dispatcher, tracker, domain)
        return events + await self.extra_events(dispatcher, tracker, domain)

    async def extra_events(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict) -> List[Dict[Text, Any]]:
        """Slots outside the form's required list that the latest message also fills."""
        return []

    def interrupted(self, tracker: Tracker) -> bool:
        name, confidence = latest_intent(tracker)
        if name in ALWAYS:
            return True
        if name in self.own_intents:
            return False
        if name in LEAVING:
            return confidence >= LEAVING_MIN_CONFIDENCE
        requested = tracker.get_slot("requested_slot")
        if name not in TOPICS or confidence < TOPIC_MIN_CONFIDENCE or requested in self.free_text_slots:
            return False
        return not self.answers(requested, tracker)

    def answers(self, requested: Optional[str], tracker: Tracker) -> bool:
        """Whether the latest message answers the requested slot (then it is no interruption)."""
        return False
