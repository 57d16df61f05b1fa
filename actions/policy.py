"""Policy answers: which program, which aspect, where — then GET /api/policy.

The region is asked once (or preset by the channel) and remembered; a follow-up such as
"那要带什么材料" keeps the program of the previous question; "那特困呢" keeps the aspect.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import services_client
from actions.interruptions import InterruptibleFormValidation, gave_up_on
from actions.regions import normalise_region, region_from_text
from actions.vocabulary import need_of, offerable_need, program_name, program_named, vocabulary

ASPECTS = ("条件", "标准", "金额", "材料", "流程", "时限", "部门")
OVERVIEW_ASPECT = "条件"  # what a program is and who may get it: the answer to "低保是啥"


def program_in_text(text: str, parse_data: Optional[dict] = None) -> Optional[str]:
    """A program named in free text when NLU found no entity (低保, 特困 …), else the need the
    classifier read in the message (孩子上学的钱 -> education)."""
    return program_named(text) or need_of(parse_data)


NEED_LOOKBACK = 3  # the citizen's latest messages in which a need told still names the subject


def need_told(tracker: Tracker) -> Optional[str]:
    """The need the citizen described in one of their latest messages (read surely), for a
    question that names no program: what the conversation is about."""
    said = [e.get("parse_data") or {} for e in tracker.events if e.get("event") == "user"]
    for parse in reversed(said[-NEED_LOOKBACK:]):
        need = offerable_need(parse)
        if need:
            return need
    return None


def aspect_in_text(text: Optional[str]) -> Optional[str]:
    """The aspect a question asks about, read from its words when NLU tagged none (要带些啥子 ->
    材料, 多久批得下来 -> 时限): the first aspect of actions/vocabulary.yml `aspect_cues` whose
    cue is in the text."""
    text = text or ""
    for aspect, cues in vocabulary()["aspect_cues"].items():
        if any(cue in text for cue in cues):
            return aspect
    return None


def opening_aspect(tracker: Tracker) -> Optional[str]:
    """The aspect of the question that started the policy form now answering it, when the
    citizen's latest message only answered the form (the region, the program)."""
    started, latest_seen = False, False
    for event in reversed(tracker.events):
        if event.get("event") == "user" and not latest_seen:
            latest_seen = True  # the latest message; the form ending after it is this answer's
            continue
        if event.get("event") == "active_loop" and event.get("name") == "policy_form":
            started = True
        elif event.get("event") == "active_loop" and event.get("name") is None and latest_seen:
            return None  # the form was over before this message: nothing to carry
        elif started and event.get("event") == "user":
            parse = event.get("parse_data") or {}
            tagged = [e.get("value") for e in parse.get("entities") or []
                      if e.get("entity") == "aspect" and e.get("value") in ASPECTS]
            return tagged[-1] if tagged else aspect_in_text(event.get("text"))
    return None


def aspect_for(tracker: Tracker) -> Optional[str]:
    """The aspect to answer. One named now wins (tagged by NLU, else read from the words); "那特困
    呢" (a program, no aspect, ending in 呢) keeps the previous aspect; a new program with no
    aspect gets the overview (None)."""
    named = [a for a in tracker.get_latest_entity_values("aspect") if a in ASPECTS]
    if named:
        return named[-1]
    read = aspect_in_text(tracker.latest_message.get("text"))
    if read:
        return read
    asked = opening_aspect(tracker)  # 低保一个月能领多少钱 … 长春: the amount, once the region is known
    if asked:
        return asked
    text = (tracker.latest_message.get("text") or "").strip(" ？?。")
    new_program = next(tracker.get_latest_entity_values("program"), None)
    if new_program and not text.endswith("呢"):
        return None
    aspect = tracker.get_slot("aspect")
    return aspect if aspect in ASPECTS else None


class ValidatePolicyForm(InterruptibleFormValidation):
    own_intents = frozenset({"ask_policy"})

    def name(self) -> Text:
        return "validate_policy_form"

    async def required_slots(self, domain_slots: List[Text], dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: DomainDict) -> List[Text]:
        if gave_up_on(tracker, "program"):
            return []  # no program: action_answer_policy lists them
        # Slots known before this turn are not asked; the one asked is kept, so that its answer
        # (extracted from the text, as 长春) is validated and set.
        asked = tracker.get_slot("requested_slot")
        return [s for s in domain_slots
                if (not tracker.get_slot(s) or s == asked)
                and not (s == "region" and tracker.get_slot("region_declined") and s != asked)]

    def answers(self, requested: Optional[str], tracker: Tracker) -> bool:
        text = tracker.latest_message.get("text") or ""
        if requested == "region":
            return bool(region_from_text(text) or next(tracker.get_latest_entity_values("region"), None))
        return bool(next(tracker.get_latest_entity_values("program"), None)
                    or program_in_text(text, tracker.latest_message))

    async def extract_program(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                              domain: DomainDict) -> Dict[Text, Any]:
        if tracker.get_slot("requested_slot") != "program" or tracker.get_slot("program"):
            return {}
        # None when not understood: the form asks again (the citizen may also say 不知道)
        return {"program": program_in_text(tracker.latest_message.get("text") or "", tracker.latest_message)}

    async def extract_region(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                             domain: DomainDict) -> Dict[Text, Any]:
        if tracker.get_slot("requested_slot") != "region" or next(
                tracker.get_latest_entity_values("region"), None):
            return {}
        code = region_from_text(tracker.latest_message.get("text"))
        # Not a region we have documents for, or 不知道: answer with the general policy, and do
        # not ask again in this conversation.
        return {"region": code} if code else {"region": None, "region_declined": True}

    async def validate_program(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                               domain: DomainDict) -> Dict[Text, Any]:
        if value in vocabulary()["programs"]:
            return {"program": value}
        return {"program": program_in_text(str(value or ""), tracker.latest_message)}

    async def validate_region(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                              domain: DomainDict) -> Dict[Text, Any]:
        code = normalise_region(value)
        return {"region": code} if code else {"region": None, "region_declined": True}


class ActionAnswerPolicy(Action):
    def name(self) -> Text:
        return "action_answer_policy"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        program = tracker.get_slot("program")
        if program not in vocabulary()["programs"]:
            program = need_told(tracker)  # 我崽读初中 读书有么子补助 … 要带么子材料: 教育救助
        if program not in vocabulary()["programs"]:
            dispatcher.utter_message(response="utter_policy_overview")
            return []
        aspect = aspect_for(tracker)
        region = normalise_region(tracker.get_slot("region"))
        params = {"program": program, "aspect": aspect or OVERVIEW_ASPECT}
        if region:
            params["region"] = region
        try:
            answer = await services_client.request("GET", "/api/policy", params=params)
        except services_client.ServiceUnavailable:
            dispatcher.utter_message(response="utter_service_down_policy")
            return [SlotSet("pending_retry", "policy")]
        except services_client.ServiceRejected:
            # A program the knowledge base does not cover yet: say what there is instead.
            dispatcher.utter_message(response="utter_policy_overview")
            return [SlotSet("pending_retry", None)]
        if region is None and tracker.get_slot("region_declined"):
            dispatcher.utter_message(response="utter_policy_general")
        dispatcher.utter_message(response="utter_policy_answer", program_name=program_name(program),
                                 aspect=params["aspect"], answer=answer["short"])
        if aspect is None:
            dispatcher.utter_message(response="utter_policy_more", program_name=program_name(program))
        return [SlotSet("program", program), SlotSet("aspect", params["aspect"]), SlotSet("pending_retry", None)]
