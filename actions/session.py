"""Session start: carry the channel's preset region (metadata) into the `region` slot."""

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

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
        events.append(ActionExecuted("action_listen"))
        return events
