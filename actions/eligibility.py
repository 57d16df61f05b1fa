"""Eligibility pre-screening: a form that asks only what is still missing, one question at a
time, takes corrections (不对，是四口人) and 不知道 at any point, then POST /api/eligibility/screen
and a plain explanation: what may apply, roughly how much, which department, what to bring.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import parsing, services_client

from actions.interruptions import TRIES, InterruptibleFormValidation, failed_tries, latest_intent
from actions.regions import normalise_region, region_from_text, region_name
from actions.vocabulary import department_name, offerable_need, program_name, vocabulary

UNKNOWN = "unknown"  # the citizen said 不知道: sent to the screen as null
MONEY_SLOTS = ("monthly_income", "financial_assets")
HOUSEHOLD_SLOTS = ("household_size", "area", "monthly_income", "financial_assets",
                   "has_capable_supporter", "can_work")
MAX_MONEY = 1e8

_CLAUSE_SPLIT = re.compile(r"[，,。；;、！!？?\s]+|(?=存款|积蓄|存了|存折)")
_ASSET_WORDS = re.compile(r"(存款|积蓄|存了|存折|理财|资产|现金|银行|存着|余额|存的钱)")
_INCOME_WORDS = re.compile(r"(收入|挣|工资|退休金|养老金|赚|打工|补贴|低保金|月入"
                           r"|每月|一个月|每个月|进账|一年)")
# Money spent or owed is neither income nor savings (一年看病花了二十多万, 欠了三万).
_EXPENSE_WORDS = re.compile(r"(花了|花掉|花费|花销|开销|支出|医药费|药费|治疗费|住院费|手术费|学费|欠了|欠债"
                            r"|借了|还贷|房贷|要交|交不起)")
_DONT_KNOW = re.compile(r"(不知道|不清楚|不晓得|晓不得|说不好|记不清|搞不清|没算过|不确定|说不上来)")
_NO_SUPPORTER = re.compile(r"(没儿没女|无儿无女|孤寡|子女都不管|儿女都不管|没有子女|没有亲人|孤老)")
_CAN_WORK_NO = re.compile(r"(干不了|干不动|不能干|做不了|不能|瘫|残疾|有病|病了|老了"
                          r"|动不了|没力气|不行|下不了床)")
_CAN_WORK_YES = re.compile(r"(能干|能做|还能|可以干|能打工|能上班|身体还行|能挣|^能$|^可以$)")
_STATUS_RANK = {"likely_eligible": 0, "possibly_eligible": 1, "need_more_info": 2, "not_eligible": 3}
_PROVISIONAL = "以上是按暂定标准估算的"


def read_answer(text: str, intent: Optional[str], entities: List[dict],
                requested: Optional[str]) -> Dict[str, Any]:
    """Every household fact one message gives: {slot: value}; parsing.Quantity for money.

    The message may answer the question asked, correct an earlier answer (不对，是四口人) or
    both; a bare number or 不知道 answers the question asked."""
    found: Dict[str, Any] = {}
    people = [e for e in entities if e.get("entity") == "person_count"]
    size = parsing.parse_person_count(people[0]["value"] if people else text) or \
        parsing.parse_person_count(text)
    if size is None and requested == "household_size":
        size = parsing.parse_count(text)
        bare = [v for v, *_ in parsing.numbers(text)]
        if size is None and len(bare) == 1 and 1 <= bare[0] <= 30 and bare[0].is_integer():
            size = int(bare[0])
    if size is not None:
        found["household_size"] = size

    for clause in filter(None, _CLAUSE_SPLIT.split(text)):
        quantity = parsing.parse_money(clause)
        if quantity is None or _EXPENSE_WORDS.search(clause):
            continue
        if _ASSET_WORDS.search(clause):
            slot = "financial_assets"
        elif _INCOME_WORDS.search(clause):
            slot = "monthly_income"
        elif requested in MONEY_SLOTS and parsing.parse_person_count(clause) is None:
            slot = requested
        else:
            continue
        found.setdefault(slot, quantity)

    age = parsing.parse_age(text)
    answered = getattr(found.get(requested), "value", None)
    if age is not None and not (requested in MONEY_SLOTS and age == answered):
        found["applicant_age"] = age

    area = parsing.parse_area(text)
    if area:
        found["area"] = area

    yes_no = {"affirm": True, "deny": False}.get(intent or "")
    if requested == "has_capable_supporter":
        answer = parsing.parse_yes_no(text)
        found["has_capable_supporter"] = answer if answer is not None else yes_no
    elif _NO_SUPPORTER.search(text):
        found["has_capable_supporter"] = False
    if requested == "can_work":
        if _CAN_WORK_NO.search(text):
            found["can_work"] = False
        elif _CAN_WORK_YES.search(text):
            found["can_work"] = True
        elif yes_no is not None:
            found["can_work"] = yes_no

    if requested in HOUSEHOLD_SLOTS and requested != "household_size" and found.get(requested) is None \
            and (intent == "dont_know" or _DONT_KNOW.search(text)):
        found[requested] = UNKNOWN
    return {k: v for k, v in found.items() if v is not None}


def slot_value(value: Any) -> Any:
    return value.value if isinstance(value, parsing.Quantity) else value


def describe(slot: str, value: Any) -> str:
    """"4口人", "全家每月收入约2500元" … in the citizen's words (actions/vocabulary.yml)."""
    fmt = vocabulary()["facts"][slot]
    if isinstance(fmt, dict):
        return fmt.get(value, "")
    return fmt.format(value=f"{value:g}" if isinstance(value, float) else value)


def money(value: Any) -> Optional[float]:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


_MONEY_TALK = re.compile(r"(收入|工资|养老金|存款|积蓄|钱|元|块)")


def asked_program(tracker: Tracker, form: str, starting: bool) -> Optional[str]:
    """The program named in the message that started the form (the latest one while it starts)."""
    message = tracker.latest_message
    if not starting:
        started = False
        for event in reversed(tracker.events):
            if event.get("event") == "active_loop" and event.get("name") == form:
                started = True
            elif started and event.get("event") == "user":
                message = event.get("parse_data") or {}
                break
    named = next((e.get("value") for e in message.get("entities") or [] if e.get("entity") == "program"), None)
    if named:
        return named
    # 俺儿子残疾了 能申请啥: a need no household means test decides (残疾, 教育 …) is answered
    # with its conditions; one told with money (没有收入) is screened.
    need = offerable_need(message)
    if need and not screened(need) and not _MONEY_TALK.search(message.get("text") or ""):
        return need
    return None


def screened(program: Optional[str]) -> bool:
    """Whether household income and assets decide this program (or no program was named)."""
    return program is None or program in vocabulary()["screened_programs"]


class ValidateEligibilityForm(InterruptibleFormValidation):
    own_intents = frozenset({"check_eligibility"})

    def name(self) -> Text:
        return "validate_eligibility_form"

    async def required_slots(self, domain_slots: List[Text], dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: DomainDict) -> List[Text]:
        starting = tracker.active_loop_name != self.form_name()
        if not screened(asked_program(tracker, self.form_name(), starting)):
            return []  # not decided by household income: action_screen_eligibility answers it
        # known before this turn (an answer to the region question itself must still be validated)
        known_region = normalise_region(tracker.get_slot("region")) and tracker.get_slot("requested_slot") != "region"
        slots = [s for s in domain_slots if not (s == "region" and known_region)]
        lone = tracker.get_slot("household_size") == 1 and \
            tracker.get_slot("has_capable_supporter") is not True
        return [s for s in slots if s != "can_work" or lone]

    def _reading(self, tracker: Tracker) -> Dict[str, Any]:
        return read_answer(tracker.latest_message.get("text") or "", latest_intent(tracker)[0],
                           tracker.latest_message.get("entities") or [], tracker.get_slot("requested_slot"))

    def answers(self, requested: Optional[str], tracker: Tracker) -> bool:
        if requested == "region":
            return bool(region_from_text(tracker.latest_message.get("text")))
        return requested in self._reading(tracker)

    async def get_extraction_events(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                    domain: DomainDict) -> List[Dict[Text, Any]]:
        requested = tracker.get_slot("requested_slot")
        if requested is None and any(tracker.get_slot(s) is None for s in await self.required_slots(
                self.domain_slots(domain), dispatcher, tracker, domain)):
            dispatcher.utter_message(response="utter_eligibility_start")
        reading = self._reading(tracker)
        region = region_from_text(tracker.latest_message.get("text")) if requested == "region" else None
        if region:
            reading["region"] = region
        events = []
        for slot, raw in reading.items():
            value = slot_value(raw)
            old = tracker.get_slot(slot)
            if slot in HOUSEHOLD_SLOTS and old is not None and old != value and value != UNKNOWN:
                dispatcher.utter_message(response="utter_corrected", what=describe(slot, value))
            elif value == UNKNOWN:
                dispatcher.utter_message(response="utter_noted_unknown")
            elif isinstance(raw, parsing.Quantity) and raw.yearly:
                dispatcher.utter_message(response="utter_noted_income_yearly", amount=f"{raw.value:g}",
                                         yearly=f"{raw.value * 12:g}")
            elif slot in MONEY_SLOTS:
                noted = "utter_noted_income" if slot == "monthly_income" else "utter_noted_assets"
                dispatcher.utter_message(response=noted, amount=f"{value:g}")
            if slot in self.domain_slots(domain):
                events.append(SlotSet(slot, value))
        if requested and requested not in reading:
            # Facts said again as before (就俺老两口 … with the income the form asks for) are no news.
            news = [e for e in events if tracker.get_slot(e["name"]) != e["value"]]
            if requested == "household_size" and latest_intent(tracker)[0] == "dont_know":
                dispatcher.utter_message(response="utter_household_size_help")
            elif not news and failed_tries(tracker, requested) >= TRIES and requested != "household_size":
                # Two answers the screen cannot use: noted as not known, the office asks later.
                dispatcher.utter_message(response="utter_noted_unknown")
                events.append(SlotSet(requested, UNKNOWN))
                return events
            elif not news:
                dispatcher.utter_message(response=self.hint(requested))
            events.append(SlotSet(requested, None))  # asked again, never a rejected form
        return events

    @staticmethod
    def hint(requested: str) -> str:
        return {"household_size": "utter_household_size_help", "area": "utter_area_help",
                "monthly_income": "utter_money_help", "financial_assets": "utter_money_help",
                "has_capable_supporter": "utter_yes_no_help", "can_work": "utter_can_work_help",
                "region": "utter_region_invalid"}.get(requested, "utter_default")

    async def extra_events(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict) -> List[Dict[Text, Any]]:
        age = self._reading(tracker).get("applicant_age")
        return [SlotSet("applicant_age", age)] if age is not None else []

    async def validate_region(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                              domain: DomainDict) -> Dict[Text, Any]:
        code = normalise_region(value)
        if code is None and value is not None:
            dispatcher.utter_message(response="utter_region_invalid")
        return {"region": code}

    async def validate_household_size(self, value: Any, dispatcher: CollectingDispatcher,
                                      tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        ok = isinstance(value, (int, float)) and 1 <= value <= 30
        return {"household_size": int(value) if ok else None}

    async def validate_area(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                            domain: DomainDict) -> Dict[Text, Any]:
        return {"area": value if value in ("urban", "rural", UNKNOWN) else None}

    async def validate_monthly_income(self, value: Any, dispatcher: CollectingDispatcher,
                                      tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        return {"monthly_income": self._money(value)}

    async def validate_financial_assets(self, value: Any, dispatcher: CollectingDispatcher,
                                        tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        return {"financial_assets": self._money(value)}

    async def validate_has_capable_supporter(self, value: Any, dispatcher: CollectingDispatcher,
                                             tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        return {"has_capable_supporter": value if value in (True, False, UNKNOWN) else None}

    async def validate_can_work(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                domain: DomainDict) -> Dict[Text, Any]:
        return {"can_work": value if value in (True, False, UNKNOWN) else None}

    @staticmethod
    def _money(value: Any) -> Any:
        if value == UNKNOWN:
            return UNKNOWN
        amount = money(value)
        return amount if amount is not None and 0 <= amount < MAX_MONEY else None


def screen_request(tracker: Tracker) -> Dict[str, Any]:
    """The POST /api/eligibility/screen body (ARCHITECTURE.md §4.2) from the form's slots."""
    def known(slot: str) -> Any:
        value = tracker.get_slot(slot)
        return None if value == UNKNOWN else value

    size = int(tracker.get_slot("household_size") or 1)
    applicant = {"age": tracker.get_slot("applicant_age"), "can_work": known("can_work")}
    members = [{k: v for k, v in applicant.items() if v is not None}] + [{} for _ in range(size - 1)]
    return {
        "region": normalise_region(tracker.get_slot("region")),
        "area": known("area"),
        "household": {
            "members": members,
            "monthly_income": money(known("monthly_income")),
            "financial_assets": money(known("financial_assets")),
            "has_capable_supporter": known("has_capable_supporter"),
        },
    }


def household_facts(tracker: Tracker) -> str:
    """"4口人，住在城里，全家每月收入约2500元" — what the citizen told the screen."""
    facts = []
    for slot in ("household_size", "applicant_age") + HOUSEHOLD_SLOTS[1:]:
        value = tracker.get_slot(slot)
        if value is not None and value != UNKNOWN:
            facts.append(describe(slot, value))
    return "，".join(f for f in facts if f)


def yuan(amount: float) -> str:
    return f"{amount:.0f}" if amount >= 100 else f"{amount:g}"


class ActionScreenEligibility(Action):
    def name(self) -> Text:
        return "action_screen_eligibility"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        asked = asked_program(tracker, "eligibility_form", starting=False)
        if not screened(asked):
            # A program not decided by income (教育, 住房, 残疾 …): answer its conditions instead.
            await answer_conditions(dispatcher, asked, tracker.get_slot("region"))
            dispatcher.utter_message(response="utter_offer_referral")
            return [SlotSet("suggested_program", asked), SlotSet("pending_retry", None)]
        try:
            result = await services_client.request("POST", "/api/eligibility/screen",
                                                   json=screen_request(tracker))
        except (services_client.ServiceUnavailable, services_client.ServiceRejected):
            # Every answer stays in its slot: "再试一次" screens the same household again.
            dispatcher.utter_message(response="utter_service_down_eligibility")
            return [SlotSet("pending_retry", "eligibility")]
        preference = vocabulary()["screen_preference"]
        programs = sorted(result.get("programs") or [], key=lambda p: (
            _STATUS_RANK.get(p["status"], 9), p["program"] != asked,
            preference.index(p["program"]) if p["program"] in preference else len(preference)))
        # For the agent who may take the conversation over: what the screen said (not shown to
        # the citizen; the gateway keeps it with the conversation).
        dispatcher.utter_message(json_message={"eligibility": {
            "as_of": result.get("as_of"), "region": result.get("region"),
            "household": household_facts(tracker),
            "programs": [{k: p.get(k) for k in ("program", "status", "estimated_monthly_amount")}
                         | {"reasons": (p.get("reasons") or [])[:2]} for p in programs]}})
        hopeful = [p for p in programs if p["status"] in ("likely_eligible", "possibly_eligible")]
        best = hopeful[0]["program"] if hopeful else None
        if hopeful:
            dispatcher.utter_message(response="utter_eligibility_result",
                                     lines="；".join(screen_line(p) for p in hopeful[:3]) + "。")
            for reasons in (plain_reasons(hopeful[0]), rule_reasons(hopeful[0])):
                if reasons:
                    dispatcher.utter_message(response="utter_eligibility_reasons", reasons=reasons)
            refused = next((p for p in programs if p["program"] == asked and p["status"] == "not_eligible"), None)
            if refused and plain_reasons(refused, limit=1):
                # asked about 特困 but able to work: why not, before what may fit instead
                dispatcher.utter_message(response="utter_eligibility_asked_not", program_name=program_name(asked),
                                         reasons=plain_reasons(refused, limit=1))
            materials = await policy_short(best, "材料", tracker.get_slot("region"))
            if materials:
                dispatcher.utter_message(response="utter_eligibility_bring", materials=materials)
        else:
            first = programs[0] if programs else None
            unsure = [p for p in programs if p["status"] == "need_more_info"]
            if unsure:
                dispatcher.utter_message(response="utter_eligibility_need_more",
                                         missing=plain_reasons(unsure[0], only_missing=True))
            else:
                dispatcher.utter_message(response="utter_eligibility_none",
                                         reasons=plain_reasons(first) if first else "")
        if not any(p["status"] == "likely_eligible" for p in programs):
            # a raised standard may change this answer: the citizen may ask to be told
            dispatcher.utter_message(response="utter_eligibility_update_hint")
        provisional = bool(result.get("warnings")) or any(
            _PROVISIONAL in r for p in programs for r in p.get("reasons") or [])
        dispatcher.utter_message(response="utter_eligibility_caveat_provisional" if provisional
                                 else "utter_eligibility_caveat")
        dispatcher.utter_message(response="utter_offer_referral")
        return [SlotSet("suggested_program", best), SlotSet("pending_retry", None),
                # 一门受理: a help request after the screen proposes each of these
                SlotSet("screened_programs", [{"program": p["program"], "status": p["status"]}
                                              for p in hopeful])]


class ActionRecordConsent(Action):
    """提醒我: the household screened in this conversation is kept, with the citizen's consent,
    for re-screening when a standard changes (the services re-run it then and offer to re-apply
    if it would now be met). The screen is sent again with the contact and the consent: nothing
    is kept of a citizen who did not ask."""

    def name(self) -> Text:
        return "action_record_consent"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        if tracker.get_slot("screened_programs") is None:
            dispatcher.utter_message(response="utter_consent_no_screen")
            return []
        body = {**screen_request(tracker), "contact": {"sender": tracker.sender_id},
                "consent_to_contact": True}
        try:
            await services_client.request("POST", "/api/eligibility/screen", json=body)
        except (services_client.ServiceUnavailable, services_client.ServiceRejected):
            dispatcher.utter_message(response="utter_consent_down")
            return []
        dispatcher.utter_message(response="utter_consent_recorded",
                                 region_name=region_name(tracker.get_slot("region")))
        return []


def screen_line(p: Dict[str, Any]) -> str:
    v = vocabulary()
    amount = p.get("estimated_monthly_amount")
    return v["screen_line"].format(
        name=program_name(p["program"]), status=v["screen_status"].get(p["status"], ""),
        amount=v["screen_amount"].format(amount=yuan(amount)) if amount else "",
        department=department_name(p.get("department")))


def plain_reasons(p: Dict[str, Any], only_missing: bool = False, limit: int = 2) -> str:
    """The first reasons of a program result, without the estimate caveat (said once, later)."""
    reasons = [r for r in p.get("reasons") or [] if _PROVISIONAL not in r]
    if only_missing:
        reasons = [r for r in reasons if "还需要" in r]
    return "".join(reasons[:limit])


def rule_reasons(p: Dict[str, Any], limit: int = 2) -> str:
    """After the first reasons, those that state a rule instead of a figure the documents do
    not give (低保实行差额发放…, …请您向乡镇（街道）或拨打12349确认), so the citizen hears how
    the amount is set and that the local standard is to be confirmed."""
    markers = vocabulary()["screen_rule_markers"]
    later = [r for r in (p.get("reasons") or [])[2:] if _PROVISIONAL not in r]
    return "".join([r for r in later if any(m in r for m in markers)][:limit])


async def policy_short(program: Optional[str], aspect: str, region: Optional[str]) -> Optional[str]:
    """The knowledge base's short answer, or None when it is not there or the service is down."""
    if not program:
        return None
    params = {"program": program, "aspect": aspect}
    if normalise_region(region):
        params["region"] = region
    try:
        return (await services_client.request("GET", "/api/policy", params=params)).get("short")
    except (services_client.ServiceUnavailable, services_client.ServiceRejected):
        return None


async def answer_conditions(dispatcher: CollectingDispatcher, program: Optional[str],
                            region: Optional[str]) -> None:
    short = await policy_short(program, "条件", region)
    if short:
        dispatcher.utter_message(response="utter_policy_answer", program_name=program_name(program),
                                 aspect="条件", answer=short)
    else:
        dispatcher.utter_message(response="utter_policy_overview")
