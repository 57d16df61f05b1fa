"""The WeChat official account (公众号): `GET|POST /channels/wechat` and the sender the outbound
path uses.

Inbound: URL verification; plaintext mode when no WECHAT_AES_KEY is set, else only compatible
and safe mode (encrypt_type=aes, msg_signature checked and decrypted with wechatpy's
WeChatCrypto; a plaintext body is refused, so safe mode cannot be downgraded); a timestamp and
nonce carry one body for the replay window (a Redis cache); the XML parsed by wechatpy's parse_message, whose
xmltodict refuses entity declarations (and a DOCTYPE is refused before parsing), so no external
entity and no entity expansion. WeChat drops a request after 5 s and retries it up to 3 times:
the gateway makes a retried MsgId (for events FromUserName + CreateTime) one turn; the bot's
answer goes back passively when it comes within WECHAT_PASSIVE_BUDGET_S (4 s), else WeChat gets
`success` at once and the answer goes out as a customer-service message.

Outbound: customer-service messages reach a citizen for 48 hours after their last message and a
few per message; outside that a notice goes as a subscription notice (订阅通知, when a template is
configured) and anything else falls back to SMS (channels.outbound). Every API answer's errcode
is checked, not only the HTTP status. One access_token is shared through Redis, obtained under a
lock from the stable_token endpoint and renewed before it runs out or when WeChat says it is
invalid. The API is called with the app's async HTTP client: wechatpy's own client is
synchronous.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from functools import cache
from pathlib import Path

import httpx
import yaml
from sanic import Blueprint, Request, response
from sqlalchemy import update
from wechatpy import create_reply, parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException

from channels.formatting import plain, wechat_parts
from channels.gateway import Incoming
from channels.models import Conversation, Message
from channels.outbound import Outcome
from channels.webhooks import body_guard
from hotline.auth import provider
from hotline.cache import breaker
from hotline.db import utcnow
from hotline.errors import ApiError

log = logging.getLogger(__name__)
bp = Blueprint("channel_wechat")

MAX_CLOCK_SKEW_S = 300  # an older timestamp is a replay
NONCE_TTL_S = 2 * MAX_CLOCK_SKEW_S + 60  # a timestamp accepted from either side of now, and slack
TOKEN_KEY = "wechat:access_token"  # noqa: S105 - a Redis key, not a secret
TOKEN_MARGIN_S = 300  # renewed this long before its 7200 s run out
INVALID_TOKEN = {40001, 40014, 42001}
WINDOW_CLOSED, OVER_QUOTA, USER_REFUSED = 45015, 45047, 43101
BUSY = {-1, 45009, 45011}  # system busy, API rate limits: try later


class WeChatError(Exception):
    def __init__(self, errcode: int, errmsg: str):
        super().__init__(f"{errcode} {errmsg}")
        self.errcode, self.errmsg = errcode, errmsg


class WeChatUnavailable(Exception):
    pass


@cache
def notice_templates() -> dict:
    """Subscription-notice fields per notice (an operator fits them to their template)."""
    return yaml.safe_load(Path(__file__).with_name("wechat_notices.yml").read_text(encoding="utf-8"))


class WeChatApi:
    def __init__(self, http: httpx.AsyncClient, redis, settings):
        self.http, self.redis, self.settings = http, redis, settings

    async def _post(self, path: str, body: dict, params: dict | None = None) -> dict:
        try:
            resp = await self.http.post(f"{self.settings.wechat_api_base}{path}", json=body,
                                        params=params, timeout=10)
            data = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise WeChatUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if resp.status_code >= 500:
            raise WeChatUnavailable(f"HTTP {resp.status_code}")
        errcode = int(data.get("errcode") or 0)
        if errcode:  # WeChat answers errors with HTTP 200: the errcode is what counts
            raise WeChatError(errcode, str(data.get("errmsg", "")))
        return data

    async def token(self, stale: str | None = None) -> str:
        """The shared access_token; `stale` is one WeChat just refused (get a new one unless
        another process already has)."""
        cached = await self.redis.get(TOKEN_KEY)
        if cached and cached != stale:
            return cached
        async with self.redis.lock("lock:wechat:token", timeout=30, blocking_timeout=20):
            cached = await self.redis.get(TOKEN_KEY)
            if cached and cached != stale:
                return cached
            data = await self._post("/cgi-bin/stable_token", {
                "grant_type": "client_credential", "appid": self.settings.wechat_appid,
                "secret": self.settings.wechat_secret, "force_refresh": stale is not None})
            token, expires_in = data["access_token"], int(data.get("expires_in") or 7200)
            await self.redis.set(TOKEN_KEY, token, ex=max(expires_in - TOKEN_MARGIN_S, 60))
            return token

    async def call(self, path: str, body: dict) -> dict:
        token = await self.token()
        try:
            return await self._post(path, body, {"access_token": token})
        except WeChatError as exc:
            if exc.errcode not in INVALID_TOKEN:
                raise
            log.warning("wechat access_token refused (%s); renewing", exc.errcode)
            return await self._post(path, body, {"access_token": await self.token(stale=token)})

    async def send_text(self, openid: str, text: str) -> dict:
        return await self.call("/cgi-bin/message/custom/send",
                               {"touser": openid, "msgtype": "text", "text": {"content": text}})

    async def send_notice(self, openid: str, notice: str, params: dict) -> dict:
        fields = notice_templates()["notices"][notice]
        data = {k: {"value": str(v).format(**params)[:20]} for k, v in fields.items()}
        return await self.call("/cgi-bin/message/subscribe/bizsend", {
            "touser": openid, "template_id": self.settings.wechat_subscribe_template,
            "page": notice_templates().get("page", ""), "data": data})


# --- the sender ------------------------------------------------------------------------------

def sender(app_ctx, api: WeChatApi):
    settings = app_ctx.settings.channels

    async def reserve(conv: Conversation) -> bool:
        """One of the window's customer-service messages, counted atomically across processes."""
        async with app_ctx.sessions() as s, s.begin():
            got = await s.execute(update(Conversation).where(
                Conversation.id == conv.id, Conversation.window_sent < settings.wechat_window_quota)
                .values(window_sent=Conversation.window_sent + 1))
            return (got.rowcount or 0) > 0

    async def give_back(conv: Conversation) -> None:
        """WeChat did not take the message: its slot is the window's again (unless the citizen
        has written since, and a new window has begun)."""
        async with app_ctx.sessions() as s, s.begin():
            await s.execute(update(Conversation).where(
                Conversation.id == conv.id, Conversation.window_sent > 0,
                Conversation.last_inbound_at == conv.last_inbound_at)
                .values(window_sent=Conversation.window_sent - 1))

    async def send(conv: Conversation, msg: Message, lease) -> Outcome:
        if not settings.wechat_can_send:
            return Outcome("fallback", "公众号未配置发送（WECHAT_APPID/SECRET）")
        if conv.unsubscribed_at is not None:
            return Outcome("fallback", "已取消关注公众号")
        payload = msg.payload or {}
        parts = wechat_parts(msg.text)
        done = lease.sent_parts("wechat")
        window = settings.wechat_window_h * 3600
        why = "距群众上次留言已超过48小时，客服消息发不出"
        if conv.last_inbound_at and (utcnow() - conv.last_inbound_at).total_seconds() < window:
            why = None
            for part in parts[done:]:
                if not await reserve(conv):
                    why = f"本次留言后的客服消息已用完（{settings.wechat_window_quota} 条）"
                    break
                try:
                    await api.send_text(conv.contact_id, part)
                except BaseException as exc:
                    await give_back(conv)
                    refused = _refused(exc)
                    if isinstance(refused, Outcome):
                        return refused
                    why = refused
                    break
                done += 1
                await lease.progress("wechat", done)
            if why is None:
                return Outcome("sent", "微信客服消息")
        notice = payload.get("notice")
        if notice and settings.wechat_subscribe_template and notice in notice_templates()["notices"]:
            try:
                await api.send_notice(conv.contact_id, notice, payload.get("params") or {})
                return Outcome("sent", f"{why}：已发订阅通知")
            except WeChatUnavailable as exc:
                return Outcome("retry", f"微信接口不可用：{exc}")
            except WeChatError as exc:
                why = f"{why}；订阅通知未发出（{exc.errcode}）"
        # By SMS: what WeChat did not take, when it took some of it (else the whole message).
        return Outcome("fallback", why, rest="\n".join(parts[done:]) if done else None)

    return send


def _refused(exc: BaseException) -> Outcome | str:
    """What a failed customer-service send means: an Outcome (try later, or refused for good),
    or why the window cannot carry it (then SMS). Anything else is raised again."""
    if isinstance(exc, WeChatUnavailable):
        return Outcome("retry", f"微信接口不可用：{exc}")
    if not isinstance(exc, WeChatError):
        raise exc
    if exc.errcode == WINDOW_CLOSED:
        return "客服消息时限已过（45015）"
    if exc.errcode == OVER_QUOTA:
        return "客服消息条数已达上限（45047）"
    if exc.errcode in BUSY:
        return Outcome("retry", f"微信繁忙：{exc}")
    return Outcome("failed", f"微信拒收：{exc}")


# --- the webhook -----------------------------------------------------------------------------

def _signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324 - WeChat's scheme


def _check_signature(request: Request, token: str) -> tuple[str, str]:
    args = request.args
    timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
    given = args.get("signature", "")
    if not given.isascii():  # a SHA-1 in hex is ASCII; compare_digest would raise on anything else
        raise ApiError(401, "bad_signature", "signature is not a hex digest")
    if not hmac.compare_digest(_signature(token, timestamp, nonce), given):
        raise ApiError(403, "bad_signature", "signature does not match")
    try:
        age = abs(time.time() - int(timestamp))
    except ValueError:
        raise ApiError(403, "bad_timestamp", "timestamp is not a number") from None
    if age > MAX_CLOCK_SKEW_S:
        raise ApiError(403, "stale_request", "timestamp is more than 5 minutes away: a replay")
    return timestamp, nonce


async def _check_nonce(request: Request, timestamp: str, nonce: str, body: bytes) -> None:
    """Within the replay window a timestamp and nonce carry one body. WeChat's retry sends the
    same body again (the gateway makes it one turn); another body under a query string seen
    before is a replay of a logged URL with a forged message (in plaintext mode the signature
    does not cover the body). Best effort: with Redis down the check is skipped, not the message."""
    redis = request.app.ctx.redis
    key, digest = f"wechat:nonce:{timestamp}:{nonce}", hashlib.sha256(body).hexdigest()

    async def seen() -> str | None:
        if await redis.set(key, digest, nx=True, ex=NONCE_TTL_S):
            return None
        return await redis.get(key)

    before = await breaker(redis).run("wechat nonce", seen, None)
    if before is not None and before != digest:
        raise ApiError(403, "replayed_nonce", "this timestamp and nonce came with another body")


def _enabled(request: Request):
    settings = request.app.ctx.settings.channels
    if not settings.wechat_enabled:
        raise ApiError(404, "not_found", "the WeChat channel is not configured")
    return settings


@bp.get("/channels/wechat")
@provider
async def verify_url(request: Request):
    """WeChat's server-URL check when the operator saves the URL: echo echostr if it is us."""
    settings = _enabled(request)
    _check_signature(request, settings.wechat_token)
    return response.text(request.args.get("echostr", ""))


def _crypto(settings) -> WeChatCrypto:
    return WeChatCrypto(settings.wechat_token, settings.wechat_aes_key, settings.wechat_appid or "")


def _refuse_declarations(xml: str) -> None:
    upper = xml.upper()
    if "<!DOCTYPE" in upper or "<!ENTITY" in upper:
        raise ApiError(400, "xml_not_allowed", "DOCTYPE and entity declarations are not accepted")


def _read(request: Request, settings) -> tuple[object, bool]:
    """The message, and whether it came encrypted (then so must the reply).

    With WECHAT_AES_KEY set the account is in safe mode (or compatible mode, which sends
    encrypt_type=aes too): a body that is not encrypted is refused, since the query string's
    signature does not cover it, and the encrypted one must carry a matching msg_signature."""
    body = request.body.decode("utf-8")
    if not body.strip():
        raise ApiError(400, "empty_body", "no message in the body")
    _refuse_declarations(body)
    encrypted = request.args.get("encrypt_type", "raw").lower() == "aes"
    timestamp, nonce = request.args.get("timestamp", ""), request.args.get("nonce", "")
    if settings.wechat_aes_key and not encrypted:
        raise ApiError(403, "encryption_required", "this account is in safe mode: encrypt_type=aes")
    if encrypted and not settings.wechat_aes_key:
        raise ApiError(400, "not_encrypted_here", "safe mode is not configured (WECHAT_AES_KEY)")
    try:
        if encrypted:
            signed = request.args.get("msg_signature", "")
            if not signed.isascii() or len(signed) != 40:
                raise ApiError(401, "bad_signature", "msg_signature is missing or not a hex digest")
            body = _crypto(settings).decrypt_message(body, signed, timestamp, nonce)
            _refuse_declarations(body)
        message = parse_message(body)
    except (InvalidSignatureException, InvalidAppIdException):
        raise ApiError(403, "bad_signature", "msg_signature or AppID does not match") from None
    except ApiError:
        raise
    except Exception as exc:  # expat, a refused entity, a missing field, bad base64 …
        raise ApiError(400, "bad_xml", f"not a WeChat message: {type(exc).__name__}") from None
    if message is None:
        raise ApiError(400, "empty_body", "no message in the body")
    return message, encrypted


def _incoming(message) -> Incoming | None:
    """The uniform message, or None for an event nobody answers (menu clicks, template reports)."""
    openid = getattr(message, "source", None)
    if not openid:
        raise ApiError(400, "bad_xml", "FromUserName is missing")
    # An event has no MsgId: FromUserName + CreateTime (seconds) name it across retries (and
    # its type, for a follow and an unfollow within one second).
    created = f"{openid}:{int(message.create_time.timestamp())}"
    if message.type == "event":
        event = getattr(message, "event", "")
        if event in ("subscribe", "subscribe_scan"):
            return Incoming("wechat", openid, "", f"{created}:subscribe", kind="subscribe")
        if event == "unsubscribe":
            return Incoming("wechat", openid, "", f"{created}:unsubscribe", kind="unsubscribe")
        return None
    msg_id = str(getattr(message, "id", "") or "") or created
    if message.type == "text":
        return Incoming("wechat", openid, (message.content or "").strip(), msg_id)
    if message.type == "voice":  # WeChat's own speech recognition, when the account has it on
        heard = (getattr(message, "recognition", None) or "").strip()
        return Incoming("wechat", openid, heard, msg_id, kind="text" if heard else "unheard")
    return Incoming("wechat", openid, f"[{message.type}]", msg_id, kind="unsupported")


@bp.post("/channels/wechat")
@provider
async def inbound(request: Request):
    settings = _enabled(request)
    body_guard(request, settings.max_body_bytes)
    timestamp, nonce = _check_signature(request, settings.wechat_token)
    message, encrypted = _read(request, settings)
    await _check_nonce(request, timestamp, nonce, request.body)
    if settings.wechat_original_id and getattr(message, "target", None) != settings.wechat_original_id:
        raise ApiError(403, "wrong_account", "this message is for another official account")
    incoming = _incoming(message)
    if incoming is None:
        return response.text("success")
    ctx = request.app.ctx
    result = await ctx.gateway.receive(incoming, settings.wechat_passive_budget_s)
    texts = [plain(r) for r in result.replies if plain(r)]
    if not texts:
        return response.text("success")  # WeChat's "nothing to say now"; no retry
    parts = wechat_parts("\n\n".join(texts))
    if len(parts) > 1:  # one passive message only: the rest as a customer-service message,
        # once per citizen message however often WeChat retries it (the same passive answer)
        await ctx.outbound.send(result.conversation_id, "\n\n".join(parts[1:]), "system",
                                payload={"continued": True},
                                dedupe_key=f"wechat:continued:{result.inbound_id}"
                                if result.inbound_id else None)
    xml = create_reply(parts[0], message).render()
    if encrypted:
        xml = _crypto(settings).encrypt_message(xml, nonce, timestamp)
    return response.text(xml, content_type="application/xml; charset=utf-8")
