"""Bot-runtime fixtures: a fake services API on 127.0.0.1 that records what the actions send,
the real domain, a helper building the tracker an action or validator receives, and for the NLU
components the deployed settings of bot/config.yml and jieba with the project's dictionary."""

import re
import sys
from pathlib import Path

import pytest
import yaml
from aiohttp import web

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # the `actions` package

from rasa.engine.graph import ExecutionContext  # noqa: E402
from rasa.engine.storage.local_model_storage import LocalModelStorage  # noqa: E402
from rasa.engine.storage.resource import Resource  # noqa: E402
from rasa.nlu.tokenizers.jieba_tokenizer import JiebaTokenizer  # noqa: E402
from rasa_sdk import Tracker  # noqa: E402

DOMAIN = yaml.safe_load((ROOT / "bot/domain.yml").read_text(encoding="utf-8"))
CONTEXT = ExecutionContext(graph_schema=None, model_id="m")


def deployed_config(component: str) -> dict:
    """The settings of the pipeline component whose name ends with `component` in bot/config.yml."""
    pipeline = yaml.safe_load((ROOT / "bot/config.yml").read_text(encoding="utf-8"))["pipeline"]
    (config,) = [c for c in pipeline if c["name"].endswith(component)]
    return {k: v for k, v in config.items() if k != "name"}


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    """Rasa's jieba tokenizer with the project's dictionary of policy terms, as deployed."""
    config = {**JiebaTokenizer.get_default_config(), "dictionary_path": str(ROOT / "nlu_data/jieba")}
    return JiebaTokenizer.create(config, LocalModelStorage(tmp_path_factory.mktemp("tok")),
                                 Resource("tok"), CONTEXT)


@pytest.fixture(scope="session")
def sentence_encoder(tmp_path_factory):
    """The sentence encoder featurizer with its deployed settings (alias sentence_encoder)."""
    from bot.components.sentence_encoder import SentenceEncoderFeaturizer

    config = {**SentenceEncoderFeaturizer.get_default_config(), **deployed_config("SentenceEncoderFeaturizer")}
    return SentenceEncoderFeaturizer.create(config, LocalModelStorage(tmp_path_factory.mktemp("enc")),
                                            Resource("enc"), CONTEXT)

POLICY_SHORT = {
    "条件": "家庭人均收入低于当地低保标准、财产符合规定的，可以申请低保。",
    "材料": "带户口本、身份证，填申请书和授权书（一证一书）。",
    "标准": "株洲城市低保每人每月700元。",
}
SCREEN_LIKELY = {
    "region": "430200",
    "as_of": "2026-11-22",
    "programs": [
        {
            "program": "tekun",
            "status": "not_eligible",
            "reasons": ["您家有能够履行赡养义务的亲属。"],
            "estimated_monthly_amount": None,
            "department": "civil_affairs",
            "citations": [],
        },
        {
            "program": "dibao",
            "status": "likely_eligible",
            "reasons": [
                "您家人均月收入约450元，低于当地低保标准700元。",
                "您家没有存款等金融资产。",
                "以上是按暂定标准估算的（见提示），是否符合以当地审核认定为准。",
            ],
            "estimated_monthly_amount": 1000.0,
            "department": "civil_affairs",
            "citations": [],
        },
    ],
    "missing": [],
    "warnings": ["株洲市的金融资产上限政策文件中没有写明。"],
}


class FakeServices:
    """Answers like the services app; `status[path_kind]` forces an error status."""

    def __init__(self):
        self.referrals, self.screens, self.policy_queries, self.lookups = [], [], [], []
        self.keys = {}
        self.status = {}  # "referral" | "screen" | "policy" | "lookup" -> HTTP status
        self.screen_result = SCREEN_LIKELY
        self.tickets = {}  # reference_no -> (last4, citizen view)
        self.proposals, self.proposal_requests, self.cases = [], [], []  # 一门受理
        self.url = ""

    def _error(self, kind):
        status = self.status.get(kind)
        if status:
            return web.json_response({"error": {"code": "x", "message": "forced"}}, status=status)
        return None

    async def create_referral(self, request):
        body = await request.json()
        self.referrals.append({"body": body, "headers": dict(request.headers)})
        error = self._error("referral")
        if error is not None:
            return error
        key = request.headers.get("Idempotency-Key")
        if key in self.keys:
            return web.json_response(self.keys[key], status=200)
        ticket = {
            "reference_no": f"12349-20261122-{len(self.keys) + 1:04d}",
            "department": "civil_affairs",
            "department_name": "民政",
            "status": "new",
            "sla": {
                "first_response_due": "2026-11-23T10:00+08:00",
                "resolution_due": "2026-12-21T10:00+08:00",
            },
        }
        self.keys[key] = ticket
        self.tickets[ticket["reference_no"]] = (
            body["citizen"]["phone"][-4:],
            {**ticket, "program": body["program"]},
        )
        return web.json_response(ticket, status=201)

    async def propose(self, request):
        self.proposal_requests.append(await request.json())
        error = self._error("proposals")
        return error if error is not None else web.json_response(
            {"proposals": [{"program": p} for p in self.proposals], "clauses": []})

    async def create_case(self, request):
        body = await request.json()
        self.cases.append({"body": body, "headers": dict(request.headers)})
        error = self._error("case")
        if error is not None:
            return error
        departments = {"medical": ("medical", "医保部门"), "education": ("education", "教育部门")}
        case = {"reference_no": f"12349-20261122-{len(self.cases):04d}", "status": "open",
                "referrals": [{"program": r["program"],
                               "department": departments.get(r["program"], ("civil_affairs",))[0],
                               "department_name": departments.get(r["program"], (0, "民政部门"))[1],
                               "status": "new", "first_response_due": "2026-11-23T10:00+08:00",
                               "resolution_due": "2026-12-21T10:00+08:00"}
                              for r in body["referrals"]]}
        return web.json_response(case, status=201)

    async def get_referral(self, request):
        ref, last4 = request.match_info["ref"], request.query.get("phone_last4", "")
        self.lookups.append((ref, last4))
        self.lookup_citizen = request.headers.get("X-Hotline-Citizen")
        error = self._error("lookup")
        if error is not None:
            return error
        known = self.tickets.get(ref)
        if known is None or known[0] != last4:
            return web.json_response({"error": {"code": "not_found", "message": "referral"}}, status=404)
        return web.json_response(known[1])

    async def screen(self, request):
        self.screens.append(await request.json())
        self.authorization = request.headers.get("Authorization")
        error = self._error("screen")
        return error if error is not None else web.json_response(self.screen_result)

    async def policy(self, request):
        q = dict(request.query)
        self.policy_queries.append(q)
        error = self._error("policy")
        if error is not None:
            return error
        if q.get("program") not in ("dibao", "tekun", "temporary", "education", "medical"):
            return web.json_response({"error": {"code": "invalid", "field": "program"}}, status=422)
        answer = {
            "program": q["program"],
            "aspect": q.get("aspect", "条件"),
            "region": q.get("region", "default"),
            "short": POLICY_SHORT.get(q.get("aspect", "条件"), "请向乡镇（街道）咨询。"),
            "long": "…",
            "citations": [],
            "verified": True,
        }
        return web.json_response(answer)


@pytest.fixture
async def services(monkeypatch):
    fake = FakeServices()
    app = web.Application()
    app.router.add_post("/api/referrals", fake.create_referral)
    app.router.add_get("/api/referrals/{ref}", fake.get_referral)
    app.router.add_post("/api/cases/proposals", fake.propose)
    app.router.add_post("/api/cases", fake.create_case)
    app.router.add_post("/api/eligibility/screen", fake.screen)
    app.router.add_get("/api/policy", fake.policy)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    monkeypatch.setenv("SERVICES_URL", fake.url)
    yield fake
    await runner.cleanup()


@pytest.fixture
async def services_down(monkeypatch):
    """Nothing listens at SERVICES_URL: connection refused, as when the services app is down."""
    monkeypatch.setenv("SERVICES_URL", "http://127.0.0.1:9")


def entity(kind, value, text=None):
    return {"entity": kind, "value": value, "text": text or value}


def make_tracker(
    slots=None,
    text="",
    intent="inform",
    confidence=0.95,
    entities=None,
    events=None,
    metadata=None,
    active_loop=None,
    requested_slot=None,
    sender="web:abc",
    form_turn=None,
):
    """The tracker an action gets. `form_turn="help_form"` ends the events like a form's
    validation call right after the citizen spoke: user message, then the form's action."""
    slots = {**(slots or {})}
    if requested_slot is not None:
        slots["requested_slot"] = requested_slot
    message = {
        "text": text,
        "intent": {"name": intent, "confidence": confidence},
        "entities": entities or [],
        "metadata": metadata or {},
    }
    events = list(events or [])
    if form_turn:
        events += [
            {"event": "action", "name": "action_listen"},
            {"event": "user", "text": text, "parse_data": message},
            {"event": "slot", "name": "requested_slot", "value": requested_slot},
            {"event": "action", "name": form_turn},
        ]
    return Tracker(
        sender,
        slots,
        message,
        events,
        False,
        None,
        {"name": active_loop} if active_loop else {},
        "action_listen",
    )


def responses(dispatcher):
    return [m.get("response") for m in dispatcher.messages if m.get("response")]


def texts_of(dispatcher):
    """Replies as the citizen reads them: domain templates filled with the action's values."""
    out = []
    for m in dispatcher.messages:
        if m.get("response"):
            template = DOMAIN["responses"][m["response"]][0]["text"]
            out.append(re.sub(r"\{(\w+)\}", lambda g: str(m.get(g.group(1), g.group(0))), template))
    return out


def json_messages(dispatcher):
    return [m["custom"] for m in dispatcher.messages if m.get("custom")]
