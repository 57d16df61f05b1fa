"""SMS through Twilio: `POST /channels/sms/twilio` (a citizen's text), its delivery reports
(`POST /channels/sms/twilio/status`), and the sender the outbound path uses.

Sending goes through a small provider interface (`SmsProvider`) with Twilio as the first one.
Mainland providers (Aliyun, Tencent Cloud SMS) send only pre-approved templates under a 【签名】:
every notice the platform sends is a named template with placeholders (referral/
notifications.yml), carried on the message as `notice` and `params`, so a second provider is one
module that maps them to its template codes.
"""

from __future__ import annotations

import logging
import re
from typing import Protocol

from sanic import Blueprint, Request, response
from sqlalchemy import delete
from twilio.twiml.messaging_response import MessagingResponse

from channels import twilio
from channels.formatting import plain, sms_parts
from channels.gateway import Incoming
from channels.models import Conversation, Message, SmsOptOut
from channels.outbound import Outcome
from channels.phones import e164, known_to_bot, phone_of
from channels.webhooks import need
from hotline.auth import provider
from hotline.db import upsert_insert, utcnow
from hotline.errors import ApiError

log = logging.getLogger(__name__)
bp = Blueprint("channel_sms")

# 退订 / TD / STOP and the like stop every SMS to the number; START / 订阅 restart them.
STOP_WORDS = re.compile(
    r"^\s*(退订|td|t|stop|stopall|unsubscribe|cancel|end|quit|取消订阅|退订短信)\s*[。.!！]?\s*$", re.I)
START_WORDS = re.compile(r"^\s*(订阅|start|unstop|恢复订阅|重新订阅)\s*[。.!！]?\s*$", re.IGNORECASE)
TWILIO_FAILED = {"failed", "undelivered"}


class SmsProvider(Protocol):
    async def send(self, to: str, text: str, *, notice: str | None, params: dict,
                   callback_url: str | None) -> twilio.Sent: ...


class TwilioSms:
    """Free text: Twilio sends any body; the template name is not needed."""

    def __init__(self, api: twilio.TwilioApi):
        self.api = api

    async def send(self, to: str, text: str, *, notice: str | None, params: dict,
                   callback_url: str | None) -> twilio.Sent:
        return await self.api.send_sms(to, text, callback_url)


async def opted_out(sf, phone: str) -> SmsOptOut | None:
    async with sf() as s:
        return await s.get(SmsOptOut, phone)


async def record_opt_out(sf, phone: str, keyword: str, source: str) -> None:
    async with sf() as s, s.begin():
        insert = upsert_insert(s)(SmsOptOut).values(phone=phone, keyword=keyword[:32], source=source,
                                                    opted_out_at=utcnow())
        await s.execute(insert.on_conflict_do_nothing())
    log.info("sms opt-out recorded", extra={"phone": phone, "source": source})


async def record_opt_in(sf, phone: str) -> None:
    async with sf() as s, s.begin():
        await s.execute(delete(SmsOptOut).where(SmsOptOut.phone == phone))


def sender(app_ctx, provider: SmsProvider):
    """The outbound path's SMS sender: each part its own SMS, each recorded as it goes, so a
    retry (or another worker, after this one stopped) resumes after the last part sent. After
    a WeChat fallback it sends what WeChat did not take (`sms_text`)."""
    settings = app_ctx.settings.channels

    async def send(conv: Conversation, msg: Message, lease) -> Outcome:
        phone = phone_of(conv, msg)
        if phone is None:
            return Outcome("failed", "没有可以发短信的手机号")
        if not settings.sms_enabled:
            return Outcome("failed", "短信渠道未开通（TWILIO_* 未设置）")
        if (out := await opted_out(app_ctx.sessions, phone)) is not None:
            return Outcome("suppressed", f"该号码已退订短信（{out.keyword}）")
        payload = msg.payload or {}
        parts = sms_parts(payload.get("sms_text") or msg.text)
        done, sids = lease.sent_parts("sms"), list(payload.get("sids") or [])
        callback = f"{settings.public_base_url}/channels/sms/twilio/status?m={msg.id}"
        for part in parts[done:]:
            sent = await provider.send(phone, part, notice=payload.get("notice"),
                                       params=payload.get("params") or {}, callback_url=callback)
            if not sent.ok:
                if sent.code == twilio.OPTED_OUT:
                    await record_opt_out(app_ctx.sessions, phone, "STOP", "twilio")
                    return Outcome("suppressed", f"该号码已退订短信（Twilio {sent.code}）")
                return Outcome("retry" if sent.retry else "failed", sent.detail)
            done, sids = done + 1, [*sids, sent.sid]
            await lease.progress("sms", done, sids=sids)
        return Outcome("sent", f"短信 {len(parts)} 条", sids[0] if sids else None)

    return send


def _twiml(replies: list[dict]) -> response.HTTPResponse:
    twiml = MessagingResponse()
    for reply in replies:
        for part in sms_parts(plain(reply)):
            twiml.message(part)
    return response.text(str(twiml), content_type="application/xml; charset=utf-8")


@bp.post("/channels/sms/twilio")
@provider
async def inbound(request: Request):
    ctx = request.app.ctx
    settings = ctx.settings.channels
    form = twilio.checked_form(request, settings, settings.sms_enabled)
    sid, sender_phone = need(form, "MessageSid"), e164(need(form, "From"))
    if sender_phone is None:
        raise ApiError(422, "invalid", "From is not a phone number", field="From")
    if e164(form.get("To")) != e164(settings.twilio_sms_from):
        raise ApiError(403, "wrong_number", "this message is not for our number")
    text = (form.get("Body") or "").strip()
    kind, quiet = "text", False
    if form.get("OptOutType", "").upper() == "STOP":  # Twilio has already confirmed it
        kind, quiet = "unsubscribe", True
    elif STOP_WORDS.match(text):
        kind = "unsubscribe"
    elif START_WORDS.match(text) or form.get("OptOutType", "").upper() == "START":
        kind = "subscribe"
    elif await opted_out(ctx.sessions, sender_phone):
        kind = "muted"  # kept, not answered: the number asked for no SMS
    elif not text and int(form.get("NumMedia") or 0):
        kind = "unsupported"  # a picture with no words
    if kind == "unsubscribe":
        await record_opt_out(ctx.sessions, sender_phone, text or "STOP", "twilio" if quiet else "citizen")
    elif kind == "subscribe":
        await record_opt_in(ctx.sessions, sender_phone)
    result = await ctx.gateway.receive(
        Incoming("sms", sender_phone, text, external_id=sid, kind=kind, phone=sender_phone,
                 metadata=known_to_bot(sender_phone), quiet=quiet), settings.twilio_budget_s)
    return _twiml(result.replies)


@bp.post("/channels/sms/twilio/status")
@provider
async def status(request: Request):
    """Twilio's delivery report of a message we sent: recorded on the message."""
    ctx = request.app.ctx
    settings = ctx.settings.channels
    form = twilio.checked_form(request, settings, settings.twilio_enabled)
    sid, state = need(form, "MessageSid"), need(form, "MessageStatus").lower()
    try:
        message_id = int(request.args.get("m", "0")) or None
    except ValueError:
        raise ApiError(422, "invalid", "m must be a message id", field="m") from None
    error = form.get("ErrorCode")
    if state in TWILIO_FAILED:
        detail = f"Twilio {state}" + (f" ({error})" if error else "")
        if error and int(error) == twilio.OPTED_OUT and form.get("To"):
            await record_opt_out(ctx.sessions, e164(form.get("To")) or form.get("To"), "STOP", "twilio")
        known = await ctx.outbound.update_state(message_id, sid, "failed", detail)
    elif state in ("delivered", "read"):
        known = await ctx.outbound.update_state(message_id, sid, "delivered")
    else:  # queued, sending, sent: Twilio has it
        known = await ctx.outbound.update_state(message_id, sid, "sent")
    if not known:
        log.warning("delivery report for an unknown message", extra={"sid": sid})
    return response.empty(status=204)
