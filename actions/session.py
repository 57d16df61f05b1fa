"""Session start: carry what the channel knows (metadata) into the slots: the preset region,
and the number of a citizen who texts or calls (the help form need not ask for it)."""

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.parsing import parse_mobile
from actions.regions import normalise_region


class ActionSessionStart(Action):
    def name(self) -> Text:
        return "action_session_start"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        events: List[Dict[Text, Any]] = [SessionStarted()]
        # carry_over_slots_to_new_session: keep what the citizen already told us
        for key, value in tracker.current_slot_values().items():
            if value is not None:
                events.append(SlotSet(key, value))
        metadata = tracker.get_slot("session_started_metadata") or {}
        region = normalise_region(metadata.get("region"))
        if region:
            events.append(SlotSet("region", region))
        phone = parse_mobile(metadata.get("phone"))
        if phone and not tracker.get_slot("phone"):
            events.append(SlotSet("phone", phone))
        events.append(ActionExecuted("action_listen"))
        return events
