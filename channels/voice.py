"""The hotline's phone line through Twilio Voice: a Mandarin IVR in front of the bot.

`POST /channels/voice/twilio` answers a call: a greeting and a <Gather input="speech dtmf">
(Mandarin speech recognition, and the keypad: 1 政策咨询, 2 申请求助, 3 查询进度, 0 转人工, 9 重听).
`…/gather?t=N` takes what was said or keyed: speech and keyed numbers (a phone number, a
reference number, the last 4 digits, ended by # or a pause) go to the bot, whose replies are
spoken (channels.formatting.spoken: no emoji or links, numbers digit by digit). Silence or
nothing understood: asked again twice, then a person (in agent hours) or a polite goodbye.
转人工 or 0 sends the call to the agents' queue (<Enqueue>, or <Dial> to VOICE_AGENT_NUMBER) and
the conversation to `pending` with the bot's summary of the call so far.

Twilio waits 15 s for a webhook: if the bot is slower than TWILIO_BUDGET_S the caller hears a
short hold phrase and Twilio is sent back (<Redirect>) to `…/wait`, which picks up the answer.
"""

from __future__ import annotations

from datetime import timedelta

from sanic import Blueprint, Request, response
from sqlalchemy import select
from twilio.twiml.voice_response import VoiceResponse

from channels import twilio
from channels.formatting import plain, spoken
from channels.gateway import Incoming, agents_on_duty, texts, when_back
from channels.models import WITH_A_PERSON, Conversation, Message
from channels.outbound import Outcome
from channels.phones import e164, known_to_bot
from channels.webhooks import need
from hotline.auth import provider
from hotline.db import utcnow
from hotline.errors import ApiError
from hotline.privacy import mask_text

bp = Blueprint("channel_voice")
BASE = "/channels/voice/twilio"
REPROMPTS = 2  # silence or no match: asked again this often, then a person or goodbye
HOLDS = 3  # a slow bot: this many hold phrases before the call goes to a person
SUMMARY_LINES = 4


def _voice() -> dict:
    return texts()["voice"]


def _say(twiml, settings, text: str) -> None:
    if text:
        twiml.say(spoken(text), voice=settings.voice_say_voice, language=settings.voice_say_language)


def _gather(twiml, settings, turn: int, tries: int = 0, prompt: str = "") -> None:
    """Listen for speech or keys; a pause or # ends keyed digits. Empty results come back too."""
    g = twiml.gather(input="speech dtmf", action=f"{BASE}/gather?t={turn}&r={tries}", method="POST",
                     language=settings.voice_gather_language, timeout=6, finish_on_key="#",
                     action_on_empty_result=True)
    _say(g, settings, prompt)


def _xml(twiml: VoiceResponse) -> response.HTTPResponse:
    return response.text(str(twiml), content_type="application/xml; charset=utf-8")


def _form(request: Request):
    settings = request.app.ctx.settings.channels
    return settings, twilio.checked_form(request, settings, settings.twilio_enabled)


def _caller(form) -> str:
    """The caller's number, or the call itself when the number is withheld."""
    return e164(form.get("From")) or f"call:{need(form, 'CallSid')}"


@bp.post(BASE)
@provider
async def incoming_call(request: Request):
    settings, form = _form(request)
    need(form, "CallSid")
    if settings.twilio_sms_from and e164(form.get("To")) != e164(settings.twilio_sms_from):
        raise ApiError(403, "wrong_number", "this call is not for our number")
    twiml = VoiceResponse()
    _say(twiml, settings, _voice()["greeting"])
    _gather(twiml, settings, 0, prompt=_voice()["menu"])
    return _xml(twiml)


async def _transfer(request: Request, caller: str, reason: str,
                    twiml: VoiceResponse | None = None) -> response.HTTPResponse:
    """The call to a person: the conversation waits for an agent with a summary of the call."""
    ctx, settings = request.app.ctx, request.app.ctx.settings.channels
    await ctx.gateway.request_person("voice", caller, reason, await _summary(ctx.sessions, caller, reason))
    twiml = twiml or VoiceResponse()
    now = utcnow()
    if not agents_on_duty(settings.agent_hours, now):
        _say(twiml, settings, _voice()["off_duty"].format(when=when_back(settings.agent_hours, now)))
        twiml.hangup()
        return _xml(twiml)
    _say(twiml, settings, _voice()["transfer"])
    if settings.voice_agent_number:
        twiml.dial(settings.voice_agent_number)
    else:
        twiml.enqueue(settings.voice_agent_queue, wait_url=f"{BASE}/queue-wait", wait_url_method="POST")
    return _xml(twiml)


async def _summary(sf, caller: str, reason: str) -> str:
    """For the agent who picks up: why, and the caller's last words (numbers masked)."""
    async with sf() as s:
        conv = await s.scalar(select(Conversation).where(Conversation.channel == "voice",
                                                         Conversation.contact_id == caller))
        said = [] if conv is None else list(await s.scalars(
            select(Message.text).where(Message.conversation_id == conv.id, Message.direction == "in",
                                       Message.text != "").order_by(Message.id.desc()).limit(SUMMARY_LINES)))
    why = _voice()["handoff_reasons"].get(reason, reason)
    lines = " / ".join(f"「{mask_text(t)[:40]}」" for t in reversed(said))
    return f"{why}；来电 {mask_text(caller)}" + (f"；通话中说：{lines}" if lines else "")


def _speak_replies(twiml, settings, replies: list[dict], turn: int) -> None:
    for r in replies:
        _say(twiml, settings, plain(r, spoken=True))
    _gather(twiml, settings, turn)


async def _answer(request: Request, caller: str, result, turn: int) -> response.HTTPResponse:
    settings = request.app.ctx.settings.channels
    twiml = VoiceResponse()
    if result.status in WITH_A_PERSON:  # 转人工 said to the bot, a crisis, a complaint …
        for r in result.replies:
            _say(twiml, settings, plain(r, spoken=True))
        return await _transfer(request, caller, "voice", twiml)
    if result.deferred:  # the bot is slow: a hold phrase, then Twilio comes back for the answer
        _say(twiml, settings, _voice()["hold"])
        twiml.redirect(f"{BASE}/wait?m={result.inbound_id}&t={turn}&w=1", method="POST")
        return _xml(twiml)
    if not result.bot_available:
        return await _transfer(request, caller, "bot_down", twiml)
    for r in result.replies:
        _say(twiml, settings, plain(r, spoken=True))
    _gather(twiml, settings, turn + 1)
    return _xml(twiml)


async def _last_said(sf, caller: str) -> str:
    """What the bot said last on this call (9 repeats it)."""
    async with sf() as s:
        conv = await s.scalar(select(Conversation).where(Conversation.channel == "voice",
                                                         Conversation.contact_id == caller))
        last = conv and await s.scalar(select(Message.reply_to_id).where(
            Message.conversation_id == conv.id, Message.direction == "out",
            Message.author == "bot").order_by(Message.id.desc()).limit(1))
        said = [] if not last else list(await s.scalars(select(Message.text).where(
            Message.reply_to_id == last, Message.direction == "out").order_by(Message.id)))
    return " ".join(said)


@bp.post(f"{BASE}/gather")
@provider
async def gathered(request: Request):
    settings, form = _form(request)
    ctx = request.app.ctx
    call_sid, caller = need(form, "CallSid"), _caller(form)
    try:
        turn, tries = int(request.args.get("t", "0")), int(request.args.get("r", "0"))
    except ValueError:
        raise ApiError(422, "invalid", "t and r must be numbers", field="t") from None
    digits = (form.get("Digits") or "").strip().rstrip("#")
    speech = (form.get("SpeechResult") or "").strip()
    twiml = VoiceResponse()
    if digits == "0":
        return await _transfer(request, caller, "keypad_0")
    if digits == "9":
        said = _voice()["menu"] if turn == 0 else await _last_said(ctx.sessions, caller)
        _gather(twiml, settings, turn, tries, said or _voice()["menu"])
        return _xml(twiml)
    if not digits and not speech:  # silence, or nothing Twilio could make out
        if tries < REPROMPTS:
            _gather(twiml, settings, turn, tries + 1, _voice()["reprompt"])
            return _xml(twiml)
        if agents_on_duty(settings.agent_hours, utcnow()):
            return await _transfer(request, caller, "no_input")
        _say(twiml, settings, _voice()["goodbye"])
        twiml.hangup()
        return _xml(twiml)
    text = speech or digits
    if turn == 0 and digits in _voice()["menu_choices"]:
        text = _voice()["menu_choices"][digits]  # the keypad menu, in the bot's words
    result = await ctx.gateway.receive(
        Incoming("voice", caller, text, external_id=f"{call_sid}:{turn}",
                 metadata={"call_sid": call_sid, **known_to_bot(form.get("From"))},
                 phone=e164(form.get("From"))),
        settings.twilio_budget_s)
    return await _answer(request, caller, result, turn)


@bp.post(f"{BASE}/wait")
@provider
async def wait(request: Request):
    """Twilio is back after a hold phrase: the bot's answer, if it has come."""
    settings, form = _form(request)
    ctx = request.app.ctx
    caller = _caller(form)
    try:
        inbound_id, turn, held = (int(request.args.get(k, "0")) for k in ("m", "t", "w"))
    except ValueError:
        raise ApiError(422, "invalid", "m, t and w must be numbers", field="m") from None
    async with ctx.sessions() as s:
        msg = await s.get(Message, inbound_id)
        conv = msg and await s.get(Conversation, msg.conversation_id)
    if conv is None or conv.channel != "voice" or conv.contact_id != caller:
        raise ApiError(404, "not_found", "no such turn of this call")
    result = await ctx.gateway.wait_for_replies(
        conv.id, inbound_id, utcnow() + timedelta(seconds=settings.twilio_budget_s))
    if result.deferred and held >= HOLDS:
        return await _transfer(request, caller, "bot_slow")
    if result.deferred:
        twiml = VoiceResponse()
        _say(twiml, settings, _voice()["hold"])
        twiml.redirect(f"{BASE}/wait?m={inbound_id}&t={turn}&w={held + 1}", method="POST")
        return _xml(twiml)
    return await _answer(request, caller, result, turn)


@bp.post(f"{BASE}/queue-wait")
@provider
async def queue_wait(request: Request):
    """What a caller in the agents' queue hears (Twilio asks again when it ends)."""
    settings, _ = _form(request)
    twiml = VoiceResponse()
    _say(twiml, settings, _voice()["queue_wait"])
    twiml.pause(length=20)
    return _xml(twiml)


async def send(conv: Conversation, msg: Message, lease) -> Outcome:
    """A call cannot be reached later: a message to a caller goes by SMS to their number."""
    return Outcome("fallback", "电话渠道无法事后送达")
