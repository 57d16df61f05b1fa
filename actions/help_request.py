"""Help requests: the help form (name, phone, region, 乡镇/街道, what happened), a guess of the
program and the urgency, then the referral ticket (POST /api/referrals, idempotent)."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any, Dict, List, Optional, Text, Tuple

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import services_client
from actions.eligibility import household_facts
from actions.handoff import emit_handoff
from actions.offers import MAX_DESCRIPTION
from actions.interruptions import TRIES, InterruptibleFormValidation, failed_tries, fresh_user_turn, latest_intent
from actions.parsing import parse_mobile, parse_name, parse_street
from actions.regions import normalise_region, region_from_text
from actions.vocabulary import department_name, department_of, need_of, program_name, program_named, sounds_urgent, vocabulary

MAX_NAME = 16
MAX_PROPOSED = 4  # needs offered at once: more is read out to a person
UNKNOWN = "unknown"
_NAME_PREFIX = re.compile(r"^(我叫|我是|叫我|俺叫|俺是|我姓名是|姓名是|姓名[:：]?|名字是|名字叫"
                          r"|称呼我|我的名字是)")
_DONT_KNOW = re.compile(r"^(不知道|不清楚|不晓得|说不好|不记得)")
_QUESTION = re.compile(r"[?？]|吗|呢$|多少|怎么|咋|啥|什么|哪|几|能不能|可不可以|要不要|是不是")
_SENTENCE = re.compile(r"[我你他她俺咱说啊吧呀了不没是有就都这那个]")  # words of a sentence, not of a place name
HARDSHIP_CHARS = 12  # an answer this long that is no place and no question tells what happened


def _tells_hardship(text: str) -> bool:
    return len(text) >= HARDSHIP_CHARS and not _QUESTION.search(text)


_NUMBER_ONLY = re.compile(r"^[\dXx\s+\-（）()]+$")  # a phone or ID number sent again, not what happened
_NO_PHONE = re.compile(r"(没有?手机|没得手机|没电话|没有电话|不用手机|不会用手机|手机坏|记不(住|得))")
ANONYMOUS = "（未留姓名）"
_APPLY = re.compile(r"(申请|想要|想办|要办|办个|办理|吃上|评上|纳入|给我办|帮我办|能不能吃)")



def extract_mobile(text: Optional[str]) -> Optional[str]:
    return parse_mobile(text)


def clean_name(text: str) -> Optional[str]:
    """"我姓刘 叫刘桂芬" -> "刘桂芬", "叫我王阿姨就行" -> "王阿姨"; None when the answer is no name
    (a place such as 株洲 or 平桥乡, a question, a number)."""
    place = region_from_text(text) is not None or parse_street(text) is not None
    name = parse_name(text, place_named=place)
    return name if name and len(name) <= MAX_NAME else None


def plain_deadline(iso: str) -> str:
    """'2026-12-21T09:30+08:00' -> '12月21日' (the citizen reads dates, not timestamps)."""
    dt = datetime.fromisoformat(iso)
    return f"{dt.month}月{dt.day}日"


def idempotency_key(sender_id: str, payload: Dict[str, Any]) -> str:
    """Same conversation + same answers = same key, so a retry never files a second ticket."""
    basis = "|".join(str(payload.get(k)) for k in ("program", "region", "street", "description")) + \
        "|" + payload["citizen"]["name"] + "|" + payload["citizen"]["phone"]
    return "bot:" + hashlib.sha256(f"{sender_id}|{basis}".encode()).hexdigest()[:40]


def user_messages_since(tracker: Tracker, form: str) -> List[dict]:
    """The citizen's messages since the form started, the message that started it included."""
    messages: List[dict] = []
    started = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            messages.append(event.get("parse_data") or {})
            if started:
                break
        elif event.get("event") == "active_loop" and event.get("name") == form:
            started = True
    return messages


def reported_emergency(tracker: Tracker) -> bool:
    """Whether the citizen reported an emergency at any point of this conversation."""
    return any(
        ev.get("event") == "user"
        and ((ev.get("parse_data") or {}).get("intent") or {}).get("name") == "report_emergency"
        for ev in tracker.events
    )


def emergency_told(tracker: Tracker) -> Optional[str]:
    """The emergency the citizen told just before declining the offer of a person (不用, 先登记:
    the message that starts the form), when it tells what happened at some length."""
    said = [e for e in tracker.events if e.get("event") == "user"][-2:]
    if len(said) < 2 or ((said[0].get("parse_data") or {}).get("intent") or {}).get("name") != "report_emergency":
        return None
    text = (said[0].get("text") or "").strip()
    return text[:MAX_DESCRIPTION] if _tells_hardship(text) else None


def _description_message(tracker: Tracker, description: str) -> dict:
    """The parse of the citizen's message that told what happened."""
    for event in reversed(tracker.events):
        if event.get("event") == "user" and (event.get("text") or "").strip() == description.strip():
            return event.get("parse_data") or {}
    return tracker.latest_message or {}


def _named_in(message: dict) -> Optional[str]:
    """The program a message names: by its name (the longest: 低保边缘家庭 is not 低保) or as
    NLU tagged it (吃低保, 五保)."""
    named = program_named(message.get("text"))
    if named:
        return named
    return next((e["value"] for e in message.get("entities") or []
                 if e.get("entity") == "program" and e.get("value") in vocabulary()["programs"]), None)


def choose_program(tracker: Tracker, description: str) -> Tuple[str, bool]:
    """(program, sure). The program the citizen asked for when starting the request (帮我申请低保)
    or applies for in what happened (想申请低保边缘家庭) > the one the eligibility screen
    suggested > the need read in what happened (智能分拨; labelled by the need: 吃低保的 with a
    hospital bill is 医疗救助) > a program named in passing > the one asked about earlier. A
    program named in a digression (低保一个月多少钱, asked while the form waited) is not the
    request's. When none is known, the catch-all 临时救助 of civil affairs, flagged for a person
    to route (sure = False)."""
    told = _description_message(tracker, description)
    opening = (user_messages_since(tracker, "help_form")[-1:] or [{}])[0]
    applied = _APPLY.search(told.get("text") or "")
    candidates = (_named_in(opening), _named_in(told) if applied else None,
                  tracker.get_slot("suggested_program"), need_of(told), _named_in(told),
                  tracker.get_slot("program"))
    for candidate in candidates:
        if candidate in vocabulary()["programs"]:
            return candidate, True
    return vocabulary()["default_program"], False


async def proposed_referrals(tracker: Tracker, description: str) -> List[str]:
    """一门受理: the programs to offer when the citizen told several needs (POST
    /api/cases/proposals: each need read in the description, each program the screen found
    likely or possible), the request's own program first; [] when there is only one (or the
    service cannot say: the request is filed as one referral, as before)."""
    primary, sure = choose_program(tracker, description)
    screen = {"programs": tracker.get_slot("screened_programs") or []}
    try:
        body = await services_client.request("POST", "/api/cases/proposals",
                                             json={"text": description, "screen": screen},
                                             timeout_s=8)
    except (services_client.ServiceUnavailable, services_client.ServiceRejected):
        return []
    programs = [primary] if sure else []
    for p in body.get("proposals") or []:
        if p.get("program") in vocabulary()["programs"] and p["program"] not in programs:
            programs.append(p["program"])
    if programs and (reported_emergency(tracker) or sounds_urgent(description)):
        # An emergency is not delayed by a question about what its own office decides anyway:
        # only a need of another department is offered beside it.
        first = department_of().get(programs[0])
        programs = programs[:1] + [p for p in programs[1:] if department_of().get(p) != first]
    return programs[:MAX_PROPOSED] if len(programs) >= 2 else []


def proposals_text(programs: List[str], template: str, sep: str) -> str:
    """The proposed referrals as the citizen reads them: each program with the department it
    would go to, numbered from 1 (actions/vocabulary.yml `referral_choice`: `line` in the
    form's question, `offer_item` in the offer before it)."""
    fmt = vocabulary()["referral_choice"][template]
    return sep.join(fmt.format(n=n, program_name=program_name(p),
                               department_name=department_name(department_of().get(p)))
                    for n, p in enumerate(programs, 1))


_DIGIT = re.compile(r"[1-8]")


def parse_choice(text: str, intent: Optional[str], count: int) -> Optional[List[int]]:
    """The numbers (1-based) of the referrals to file from the answer to "都帮您登记吗":
    "是"/"都要" all, "1和3"/"第二个" those, "不用"/"只要第一个" the first; None if unclear or
    if a number was not offered."""
    cues = vocabulary()["referral_choice"]
    numerals = cues["numerals"]
    plain = re.sub(r"[\s，,。.！!、和跟与及还有号个第只要就]", "", text)
    said = [int(d) for d in _DIGIT.findall(text)] + [
        numerals[m] for m in re.findall(r"第([一二两三四五六七八])", text)]
    if not said and plain and all(ch in numerals for ch in plain):
        said = [numerals[ch] for ch in plain]
    if any(w in text for w in cues["first_only"]) and not said:
        return [1]
    if said:  # a number that was not offered (1和3 of two): asked again, nothing dropped unsaid
        return sorted(set(said)) if all(1 <= n <= count for n in said) else None
    if intent == "deny":
        return [1]
    if intent == "affirm" or any(w in text for w in cues["all"]):
        return list(range(1, count + 1))
    return None


class ActionAskReferralChoice(Action):
    """The needs told, numbered, each with the department it would go to."""

    def name(self) -> Text:
        return "action_ask_referral_choice"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        dispatcher.utter_message(response="utter_ask_referral_choice", choices=proposals_text(
            tracker.get_slot("proposed_referrals") or [], "line", "\n"))
        return []


class ValidateHelpForm(InterruptibleFormValidation):
    own_intents = frozenset({"request_help", "report_emergency"})
    free_text_slots = frozenset({"help_description", "referral_choice"})

    def name(self) -> Text:
        return "validate_help_form"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        requested = tracker.get_slot("requested_slot")
        if requested and fresh_user_turn(tracker, self.form_name()) and \
                asks_contact_time(tracker.latest_message.get("text")):
            # 登记了多久有人联系我: told when filing (the ticket's own date); the form asks again
            dispatcher.utter_message(response="utter_contact_after_filing")
            return [SlotSet(requested, None)]
        return await super().run(dispatcher, tracker, domain)

    async def extra_events(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict) -> List[Dict[Text, Any]]:
        events = await super().extra_events(dispatcher, tracker, domain)
        told = None if tracker.get_slot("help_description") else emergency_told(tracker)
        if told:
            # 不用 to the offer of a person: the emergency as told is what happened; not asked again
            events += [SlotSet("help_description", told),
                       SlotSet("proposed_referrals", await proposed_referrals(tracker, told))]
        return events

    async def required_slots(self, domain_slots: List[Text], dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: DomainDict) -> List[Text]:
        # The region may already be known from the channel (metadata) or earlier turns.
        # known before this turn (an answer to the region question itself must still be validated)
        known_region = normalise_region(tracker.get_slot("region")) and tracker.get_slot("requested_slot") != "region"
        slots = [s for s in domain_slots if not (s == "region" and known_region)]
        if len(tracker.get_slot("proposed_referrals") or []) >= 2:
            slots.append("referral_choice")  # 一门受理: which of the needs told to file
        return slots

    def answers(self, requested: Optional[str], tracker: Tracker) -> bool:
        text = tracker.latest_message.get("text") or ""
        return {
            "citizen_name": lambda: clean_name(text) is not None and (
                len(clean_name(text)) <= 4 or bool(_NAME_PREFIX.match(text.strip()))),
            "phone": lambda: extract_mobile(text) is not None,
            "region": lambda: region_from_text(text) is not None,
            "street": lambda: parse_street(text) is not None,
        }.get(requested, lambda: False)()

    def _text_for(self, slot: str, tracker: Tracker) -> Optional[str]:
        """The latest text when it answers `slot`, the slot being asked right now."""
        if tracker.get_slot("requested_slot") != slot:
            return None
        return (tracker.latest_message.get("text") or "").strip()

    async def extract_citizen_name(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                   domain: DomainDict) -> Dict[Text, Any]:
        text = self._text_for("citizen_name", tracker)
        return {} if text is None else {"citizen_name": text}

    async def extract_phone(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                            domain: DomainDict) -> Dict[Text, Any]:
        text = self._text_for("phone", tracker)
        if text is None or next(tracker.get_latest_entity_values("phone"), None):
            return {}
        return {"phone": text}

    async def extract_region(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                             domain: DomainDict) -> Dict[Text, Any]:
        text = self._text_for("region", tracker)
        if text is None or next(tracker.get_latest_entity_values("region"), None):
            return {}
        return {"region": region_from_text(text) or text}

    async def extract_street(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                             domain: DomainDict) -> Dict[Text, Any]:
        text = self._text_for("street", tracker)
        if text is None:
            # Named in passing ("我在苏埠镇，老伴住院了"): no need to ask later.
            named = parse_street(tracker.latest_message.get("text") or "")
            return {"street": named} if named and not tracker.get_slot("street") else {}
        return {"street": text}

    async def extract_help_description(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                       domain: DomainDict) -> Dict[Text, Any]:
        text = self._text_for("help_description", tracker)
        return {} if text is None else {"help_description": text}

    async def validate_citizen_name(self, value: Any, dispatcher: CollectingDispatcher,
                                    tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        name = clean_name(str(value or ""))
        if name is None and failed_tries(tracker, "citizen_name") >= TRIES:
            dispatcher.utter_message(response="utter_name_skipped")  # a clerk asks when calling
            return {"citizen_name": ANONYMOUS}
        if name is None:
            dispatcher.utter_message(response="utter_name_invalid")
        return {"citizen_name": name}

    async def validate_phone(self, value: Any, dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        phone = extract_mobile(str(value or "")) or extract_mobile(tracker.latest_message.get("text"))
        if phone is None:
            # Two tries, then a way on: no number is taken as "none" (a person then files the
            # request, see ActionSubmitHelpRequest), and the form goes on to what happened.
            tried = failed_tries(tracker, "phone")
            no_phone = latest_intent(tracker)[0] == "dont_know" or _NO_PHONE.search(
                tracker.latest_message.get("text") or "")
            if no_phone or tried > TRIES:
                dispatcher.utter_message(response="utter_phone_later")
                return {"phone": UNKNOWN}
            dispatcher.utter_message(response="utter_phone_way_on" if tried >= TRIES
                                     else "utter_phone_invalid")
        return {"phone": phone}

    async def validate_region(self, value: Any, dispatcher: CollectingDispatcher,
                              tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        region = normalise_region(value)
        if region is None:
            dispatcher.utter_message(response="utter_region_invalid")
        return {"region": region}

    async def validate_street(self, value: Any, dispatcher: CollectingDispatcher,
                              tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        text = str(value or "").strip()
        if latest_intent(tracker)[0] == "dont_know" or _DONT_KNOW.match(text):
            return {"street": UNKNOWN}
        # A place as free text (平桥, 月塘), never a question or a sentence about something else.
        plain = 2 <= len(text) <= 10 and not _QUESTION.search(text) and not _SENTENCE.search(text)
        street = parse_street(text) or (text if plain else None)
        if street is None and not tracker.get_slot("help_description") and _tells_hardship(text):
            # What happened, told before the place (嗯那个我舅舅是残疾人…房子一下雨就漏): kept as
            # the description, not lost to a question asked again; the office asks the place.
            dispatcher.utter_message(response="utter_street_skipped")
            told = text[:MAX_DESCRIPTION]
            return {"street": UNKNOWN, "help_description": told,
                    "proposed_referrals": await proposed_referrals(tracker, told)}
        if street is None and failed_tries(tracker, "street") >= TRIES:
            dispatcher.utter_message(response="utter_street_skipped")  # optional: the office asks
            return {"street": UNKNOWN}
        if street is None:
            dispatcher.utter_message(response="utter_street_again")
            return {"street": None}
        return {"street": street}

    async def validate_help_description(self, value: Any, dispatcher: CollectingDispatcher,
                                        tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        text = str(value or "").strip()
        if (len(text) < 2 or latest_intent(tracker)[0] == "dont_know" or _DONT_KNOW.match(text)
                or _NUMBER_ONLY.match(text)):
            dispatcher.utter_message(response="utter_description_help")
            return {"help_description": None}
        text = text[:MAX_DESCRIPTION]
        return {"help_description": text,
                "proposed_referrals": await proposed_referrals(tracker, text)}

    async def extract_referral_choice(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                      domain: DomainDict) -> Dict[Text, Any]:
        text = self._text_for("referral_choice", tracker)
        return {} if text is None else {"referral_choice": text}

    async def validate_referral_choice(self, value: Any, dispatcher: CollectingDispatcher,
                                       tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        proposed = tracker.get_slot("proposed_referrals") or []
        if isinstance(value, list):  # already chosen (a retry)
            return {"referral_choice": value}
        numbers = parse_choice(str(value or ""), latest_intent(tracker)[0], len(proposed))
        if numbers is None and failed_tries(tracker, "referral_choice") >= TRIES:
            numbers = [1]  # the first need told; a person can add the others
            dispatcher.utter_message(response="utter_referral_choice_first")
        if numbers is None:
            dispatcher.utter_message(response="utter_referral_choice_again")
            return {"referral_choice": None}
        return {"referral_choice": [proposed[n - 1] for n in numbers]}


def asks_contact_time(text: Optional[str]) -> bool:
    """登记了多久有人联系我, 什么时候来人: when the office will be in touch (a time word and a
    contact word, actions/vocabulary.yml `contact_time_cues`)."""
    cues = vocabulary()["contact_time_cues"]
    return any(w in (text or "") for w in cues["when"]) and any(w in (text or "") for w in cues["contact"])


def referral_payload(tracker: Tracker) -> Dict[str, Any]:
    metadata = tracker.get_slot("session_started_metadata") or {}
    metadata = {**metadata, **(tracker.latest_message.get("metadata") or {})}
    description = tracker.get_slot("help_description") or ""
    urgent = reported_emergency(tracker) or sounds_urgent(description)
    facts = household_facts(tracker)
    if facts:
        description += vocabulary()["referral_facts"].format(facts=facts)
    street = tracker.get_slot("street")
    program, sure = choose_program(tracker, tracker.get_slot("help_description") or "")
    chosen = tracker.get_slot("referral_choice")
    if isinstance(chosen, list) and chosen:
        # 一门受理: the needs the citizen confirmed, one referral each, one case
        program, sure = chosen[0], True
    payload = {
        "program": program,
        "needs_routing": not sure,
        "region": normalise_region(tracker.get_slot("region")),  # 吉林市 said in passing -> 220000
        "street": None if street in (None, UNKNOWN) else street,
        "citizen": {"name": tracker.get_slot("citizen_name"), "phone": tracker.get_slot("phone")},
        "description": description[:4000],
        "urgency": "urgent" if urgent else "normal",
        "channel": metadata.get("channel", "web"),
        "conversation_id": str(metadata.get("conversation_id") or tracker.sender_id),
    }
    if isinstance(chosen, list) and len(chosen) > 1:
        payload["referrals"] = [{"program": p} for p in chosen]
        screened = tracker.get_slot("screened_programs")
        if screened:
            payload["screen"] = {"programs": screened}
    return payload


# What a filed request leaves behind: nothing of the form, nothing to retry.
_FILED = [SlotSet("help_description", None), SlotSet("proposed_referrals", None),
          SlotSet("referral_choice", None), SlotSet("pending_retry", None)]


class ActionSubmitHelpRequest(Action):
    def name(self) -> Text:
        return "action_submit_help_request"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        payload = referral_payload(tracker)
        if payload["citizen"]["phone"] == UNKNOWN:
            # Nobody could call back: a person takes it from here, with everything told so far.
            dispatcher.utter_message(response="utter_help_no_phone")
            emit_handoff(dispatcher, tracker, "request_human")
            return [SlotSet("help_description", None), SlotSet("pending_retry", None)]
        try:
            ticket = await services_client.request(
                "POST", "/api/cases" if "referrals" in payload else "/api/referrals", json=payload,
                headers={"Idempotency-Key": idempotency_key(tracker.sender_id, payload)},
            )
        except services_client.ServiceUnavailable:
            # Slots stay filled: "再试一次" sends the same answers with the same key.
            dispatcher.utter_message(response="utter_service_down_saved")
            return [SlotSet("pending_retry", "help_request")]
        except services_client.ServiceRejected:
            # The service refuses what we collected: a person files it instead.
            dispatcher.utter_message(response="utter_help_rejected")
            emit_handoff(dispatcher, tracker, "request_human")
            return [SlotSet("pending_retry", None)]
        urgent = payload["urgency"] == "urgent"
        if "referrals" in payload:
            filed = vocabulary()["referral_choice"]["filed_line"]
            dispatcher.utter_message(
                response="utter_case_submitted_urgent" if urgent else "utter_case_submitted",
                reference_no=ticket["reference_no"],
                lines="\n".join(filed.format(program_name=program_name(r["program"]),
                                              department_name=department_name(r.get("department")),
                                              first_response_due=plain_deadline(r["first_response_due"]))
                                 for r in ticket["referrals"]))
            return [*_FILED, SlotSet("reference_no", ticket["reference_no"])]
        dispatcher.utter_message(
            response="utter_help_submitted_urgent" if urgent else "utter_help_submitted",
            program_name=program_name(payload["program"]),
            reference_no=ticket["reference_no"],
            department_name=department_name(ticket.get("department")) or ticket.get("department_name"),
            first_response_due=plain_deadline(ticket["sla"]["first_response_due"]),
            resolution_due=plain_deadline(ticket["sla"]["resolution_due"]),
        )
        return [*_FILED, SlotSet("reference_no", ticket["reference_no"])]
