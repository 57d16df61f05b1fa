"""The channels as one process runs them: the gateway, the outbound path and each channel's
sender, built from the settings. The app and the worker build the same thing."""

from __future__ import annotations

from channels import notices, sms, voice, web, wechat
from channels.gateway import Gateway
from channels.outbound import Outbound
from channels.twilio import TwilioApi


def build(ctx) -> tuple[Gateway, Outbound]:
    """`ctx` holds sessions, redis, http, rasa_http and settings (the app's ctx, or the worker's)."""
    senders = {"web": web.send, "voice": voice.send,
               "sms": sms.sender(ctx, sms.TwilioSms(TwilioApi(ctx.http, ctx.settings.channels))),
               "wechat": wechat.sender(ctx, wechat.WeChatApi(ctx.http, ctx.redis, ctx.settings.channels))}
    outbound = Outbound(ctx.sessions, ctx.redis, ctx.settings, senders)
    outbound.on_final.append(notices.delivered(ctx.sessions))
    gateway = Gateway(ctx.sessions, ctx.redis, ctx.rasa_http, ctx.settings, outbound)
    return gateway, outbound
