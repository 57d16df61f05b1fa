"""Messages NLU could not place (a bare answer, out of scope, not understood), read in the
conversation's context before the bot says it did not understand:
- a follow-up about the program just discussed (去哪办, 要带些啥子, 多久能批下来) is answered for
  that program and region;
- a hardship told ("我娃儿考上大学了 学费凑不齐") is a request for help: the bot names the
  program and offers to file it; 好 right after the offer starts the help form with the
  description kept (ActionAffirm);
- a hardship that tells several needs ("老伴住院了 孙子的学费也没着落") is offered as one request
  with a referral per need (一门受理): the bot names each with its department, and the form
  asks at its end which to file."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.interruptions import latest_intent
from actions.policy import ActionAnswerPolicy, aspect_in_text
from actions.vocabulary import OFFER_MIN_CHARS, cjk, department_name, offerable_department, offerable_need, program_name

MAX_DESCRIPTION = 2000
OFFERING_ACTIONS = ("action_offer_help", "action_fallback")  # they offer a request for a need told
FOLLOW_UP_MAX_CHARS = 12  # 那我去哪里办呢 is a follow-up; a longer message tells something new




async def read_in_context(dispatcher: CollectingDispatcher, tracker: Tracker,
                         domain: Dict[Text, Any]) -> Optional[List[Dict[Text, Any]]]:
    """The reply to a message NLU could not place, when the context gives it a meaning: a
    question about the program being discussed, or a hardship to offer a request for; None
    when neither."""
    text = tracker.latest_message.get("text") or ""
    if tracker.get_slot("program") and len(cjk(text)) <= FOLLOW_UP_MAX_CHARS and aspect_in_text(text):
        return await ActionAnswerPolicy().run(dispatcher, tracker, domain) + [SlotSet("help_offered", False)]
    return await offer_help(dispatcher, tracker)


async def offer_help(dispatcher: CollectingDispatcher, tracker: Tracker) -> Optional[List[Dict[Text, Any]]]:
    """Offer to file a request for the need the citizen described, keeping the description
    (the form does not ask for it again), the program (a follow-up such as 要什么条件 is
    about it) and, when several needs were told, the referral proposed for each (the form asks
    which to file); None when the message describes no need."""
    # help_request builds on this module (the description's length, the form's start)
    from actions.help_request import proposals_text, proposed_referrals

    text = (tracker.latest_message.get("text") or "")[:MAX_DESCRIPTION]
    program = offerable_need(tracker.latest_message)
    department = None if program else offerable_department(tracker.latest_message)
    # A need of each of two departments splits the classifier's reading of the whole: the
    # proposals read the description piece by piece (POST /api/cases/proposals).
    several = await proposed_referrals(tracker, text) if len(cjk(text)) >= OFFER_MIN_CHARS else []
    if program is None and department is None and not several:
        return None
    if several:
        dispatcher.utter_message(response="utter_offer_help_several",
                                 choices=proposals_text(several, "offer_item", "、"))
    elif program:
        dispatcher.utter_message(response="utter_offer_help", program_name=program_name(program))
    else:  # several programs of one department fit: the department names it, a person routes it
        dispatcher.utter_message(response="utter_offer_help_department", department_name=department_name(department))
    return [SlotSet("help_offered", True), SlotSet("program", program), SlotSet("aspect", None),
            SlotSet("help_description", text), SlotSet("proposed_referrals", several)]


class ActionOfferHelp(Action):
    """A message NLU took for a bare answer or for something out of scope: read in context
    (above), otherwise the usual reply to that intent."""

    DEFAULT = {"inform": "utter_what_next", "out_of_scope": "utter_out_of_scope"}

    def name(self) -> Text:
        return "action_offer_help"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        understood = await read_in_context(dispatcher, tracker, domain)
        if understood is not None:
            return understood
        intent = latest_intent(tracker)[0]
        dispatcher.utter_message(response=self.DEFAULT.get(intent, "utter_what_next"))
        return [SlotSet("help_offered", False)]


class ActionAffirm(Action):
    """好 / 是 with no question of a form open: right after the bot offered to file a request
    for a need told, the help form starts; otherwise a plain acknowledgement."""

    def name(self) -> Text:
        return "action_affirm"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        if tracker.get_slot("help_offered") and _last_action(tracker) in OFFERING_ACTIONS:
            return [SlotSet("help_offered", False), FollowupAction("help_form")]
        dispatcher.utter_message(response="utter_affirm_ack")
        return []


def _last_action(tracker: Tracker) -> Optional[str]:
    """The bot's last action before the citizen's latest message."""
    seen_user = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            seen_user = True
        elif seen_user and event.get("event") == "action" and event.get("name") != "action_listen":
            return event.get("name")
    return None
