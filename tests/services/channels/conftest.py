"""Channel tests: the app served with WeChat and Twilio configured against fake providers on
127.0.0.1 (they record exactly what was sent) and a fake Rasa; requests signed and encrypted
with the providers' own libraries (twilio's RequestValidator, wechatpy's crypto)."""

from __future__ import annotations

import hashlib
import time
import uuid
import xml.etree.ElementTree as ET  # noqa: S405 - parsing our own TwiML in a test
from urllib.parse import urlencode

import httpx
import pytest
from twilio.request_validator import RequestValidator
from wechatpy.crypto import WeChatCrypto

from hotline.settings import ChannelSettings
from tests.services.conftest import serve, shutdown
from tests.services.fakes import FakeRasa, FakeTwilio, FakeWeChat

WECHAT_TOKEN = "hotline-test-token"
WECHAT_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as WeChat gives it
WECHAT_APPID = "wx0123456789abcdef"
ACCOUNT_ID = "gh_12349hotline"
TWILIO_SID = "AC" + "1" * 32
TWILIO_TOKEN = "twilio-auth-token-for-tests"
OUR_NUMBER = "+8657112349"
PUBLIC = "https://hotline.example.gov.cn"  # what Twilio and WeChat call (a proxy in front)


def provider_env(wechat_url: str, twilio_url: str) -> dict[str, str]:
    """The environment of a whole stack with WeChat (safe mode) and Twilio pointed at the fakes:
    for the end-to-end tests, the fault tests and the benchmarks."""
    return {"PUBLIC_BASE_URL": PUBLIC, "AGENT_HOURS": "always", "WECHAT_TOKEN": WECHAT_TOKEN,
            "WECHAT_APPID": WECHAT_APPID, "WECHAT_SECRET": "secret", "WECHAT_AES_KEY": WECHAT_AES_KEY,
            "WECHAT_ORIGINAL_ID": ACCOUNT_ID, "WECHAT_API_BASE": wechat_url,
            "TWILIO_ACCOUNT_SID": TWILIO_SID, "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
            "TWILIO_SMS_FROM": OUR_NUMBER, "TWILIO_API_BASE": twilio_url}


@pytest.fixture(scope="module")
async def fakes():
    rasa, wechat = await FakeRasa().start(), await FakeWeChat().start()
    twilio = await FakeTwilio(TWILIO_SID, TWILIO_TOKEN).start()
    yield {"rasa": rasa, "wechat": wechat, "twilio": twilio}
    for f in (rasa, wechat, twilio):
        await f.stop()


def channel_settings(fakes, **over) -> ChannelSettings:
    values = dict(
        public_base_url=PUBLIC, wechat_token=WECHAT_TOKEN, wechat_appid=WECHAT_APPID,
        wechat_secret="wechat-secret", wechat_aes_key=WECHAT_AES_KEY,
        wechat_api_base=fakes["wechat"].url, wechat_original_id=ACCOUNT_ID,
        wechat_passive_budget_s=1.5, twilio_account_sid=TWILIO_SID, twilio_auth_token=TWILIO_TOKEN,
        twilio_sms_from=OUR_NUMBER, twilio_api_base=fakes["twilio"].url, twilio_budget_s=1.5,
        agent_hours=(("00:00", "24:00"),))
    values.update(over)
    return ChannelSettings(**values)


@pytest.fixture(scope="module")
async def app(settings, fakes):
    """The services app with every channel configured (served on a free port)."""
    live, server = await serve(settings, rasa_url=fakes["rasa"].url,
                               channels=channel_settings(fakes), delivery_interval_s=0.5)
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
        yield {"live": live, "http": client, "ctx": live.app.ctx, **fakes}
    await shutdown(server)


@pytest.fixture(autouse=True)
def _reset(fakes):
    for f in ("rasa", "wechat", "twilio"):
        fake = fakes[f]
        if hasattr(fake, "script"):
            fake.script.clear()
    fakes["rasa"].fail, fakes["rasa"].delay_s, fakes["rasa"].reply_text = False, 0.0, None
    fakes["wechat"].down = False
    fakes["wechat"].invalid.clear()
    fakes["wechat"].delay_s = fakes["twilio"].delay_s = 0.0


# --- WeChat, as WeChat's servers call us ---------------------------------------------------------

def wechat_signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def wechat_text(openid: str, content: str, msg_id: str | None = None, to: str = ACCOUNT_ID,
                msg_type: str = "text", extra: str = "") -> str:
    body = f"<Content><![CDATA[{content}]]></Content>" if msg_type == "text" else extra
    return (f"<xml><ToUserName><![CDATA[{to}]]></ToUserName><FromUserName><![CDATA[{openid}]]>"
            f"</FromUserName><CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[{msg_type}]]>"
            f"</MsgType>{body}<MsgId>{msg_id or uuid.uuid4().int % 10**18}</MsgId></xml>")


def wechat_event(openid: str, event: str, create_time: int | None = None) -> str:
    return (f"<xml><ToUserName><![CDATA[{ACCOUNT_ID}]]></ToUserName><FromUserName><![CDATA[{openid}]]>"
            f"</FromUserName><CreateTime>{create_time or int(time.time())}</CreateTime>"
            f"<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{event}]]></Event></xml>")


def crypto() -> WeChatCrypto:
    return WeChatCrypto(WECHAT_TOKEN, WECHAT_AES_KEY, WECHAT_APPID)


def wechat_request(xml: str, safe: bool = True, timestamp: int | None = None,
                   token: str = WECHAT_TOKEN) -> tuple[str, bytes]:
    """The query string and body WeChat's servers send: in safe mode the message encrypted with
    wechatpy's crypto and signed twice (signature and msg_signature)."""
    ts, nonce = str(timestamp or int(time.time())), uuid.uuid4().hex[:10]
    query = {"signature": wechat_signature(token, ts, nonce), "timestamp": ts, "nonce": nonce,
             "openid": "x"}
    body = xml
    if safe:
        body = crypto().encrypt_message(xml, nonce, ts)
        import xmltodict

        query["encrypt_type"] = "aes"
        query["msg_signature"] = xmltodict.parse(body)["xml"]["MsgSignature"]
    return urlencode(query), body.encode()


def read_reply(text: str, safe: bool = True) -> dict:
    import xmltodict

    if safe:
        outer = xmltodict.parse(text)["xml"]
        text = crypto().decrypt_message(text, outer["MsgSignature"], outer["TimeStamp"], outer["Nonce"])
    return xmltodict.parse(text)["xml"]


def answer_for(reply: str, answers: list[tuple[str, str]]) -> str | None:
    """What a citizen says to the bot's `reply`: the answer whose cue comes last in it, the
    question asked last ("名字可以先不说" then "请留手机号" is answered with the phone); None when
    nothing in it is asked."""
    found = [(reply.rfind(cue), answer) for cue, answer in answers if cue in reply]
    return max(found)[1] if found else None


async def post_wechat(http, xml: str, safe: bool = True, **kw) -> httpx.Response:
    query, body = wechat_request(xml, safe, **kw)
    return await http.post(f"/channels/wechat?{query}", content=body,
                           headers={"Content-Type": "text/xml"})


# --- Twilio, as Twilio calls us ------------------------------------------------------------------

def twilio_signed(path: str, params: dict, token: str = TWILIO_TOKEN) -> dict:
    """Headers for a request signed by twilio's own RequestValidator over the public URL."""
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(PUBLIC + path, params),
            "Content-Type": "application/x-www-form-urlencoded"}


async def post_twilio(http, path: str, params: dict, token: str = TWILIO_TOKEN) -> httpx.Response:
    return await http.post(path, content=urlencode(params).encode(),
                           headers=twilio_signed(path, params, token))


def twiml_messages(text: str) -> list[str]:
    """The texts of our TwiML reply's <Message> elements."""
    return [m.text or "" for m in ET.fromstring(text).iter("Message")]  # noqa: S314


def sms(text: str, from_: str = "+8613800001234", sid: str | None = None, **extra) -> dict:
    return {"MessageSid": sid or f"SM{uuid.uuid4().hex}", "AccountSid": TWILIO_SID, "From": from_,
            "To": OUR_NUMBER, "Body": text, "NumMedia": "0", **extra}


def new_phone() -> str:
    return f"+86139{uuid.uuid4().int % 10**8:08d}"


async def settle(ctx, seconds: float = 0.0) -> None:
    """Let background deliveries started by the app finish."""
    import asyncio

    await asyncio.sleep(seconds)
    await ctx.outbound.drain()

