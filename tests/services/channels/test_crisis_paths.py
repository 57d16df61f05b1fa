"""Words of crisis reach a person on every path, and a webhook keeps its provider's deadline
whatever is slow behind it: a conversation waiting for the citizen's answer to a ticket's
request for information, a Redis that refuses connections, a Redis that accepts them and never
answers, a bot that is slow to answer after a ticket stopped waiting."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid

import httpx
import pytest
from sqlalchemy import select

from channels.gateway import texts
from channels.models import PRIORITY, Conversation, Message
from referral import service
from referral.access import Viewer
from tests.services.channels.conftest import (
    channel_settings,
    new_phone,
    post_twilio,
    post_wechat,
    sms,
    twiml_messages,
    wechat_text,
)
from tests.services.channels.test_notices import file, relay, ticket
from tests.services.conftest import free_port, serve, shutdown

CLERK = Viewer("li", "staff", "civil_affairs")


async def _conversation(ctx, contact_id: str) -> Conversation:
    async with ctx.sessions() as s:
        return await s.scalar(select(Conversation).where(Conversation.contact_id == contact_id))


async def _inbound(ctx, conv_id: int) -> list[Message]:
    async with ctx.sessions() as s:
        return list(await s.scalars(select(Message).where(
            Message.conversation_id == conv_id, Message.direction == "in").order_by(Message.id)))


async def test_a_crisis_in_answer_to_a_request_for_information_reaches_a_person(app):
    """The conversation waits for the citizen's answer to 请补充 (the attach branch): words of
    crisis are not filed on the ticket and left there; a person takes the conversation now."""
    ctx, phone = app["ctx"], new_phone()
    await post_twilio(app["http"], "/channels/sms/twilio", sms("我想申请临时救助", phone))
    conv = await _conversation(ctx, phone)
    ref = await file(ctx, "sms", str(conv.id), phone)
    await service.claim(ctx.sessions, CLERK, ref)
    await service.request_info(ctx.sessions, CLERK, ref, "请补充户口簿照片")
    await relay(ctx)
    assert (await _conversation(ctx, phone)).meta.get("awaiting_reply")
    asked = len(app["rasa"].received)

    r = await post_twilio(app["http"], "/channels/sms/twilio", sms("照片拍不了 我实在不想活了", phone))
    said = " ".join(twiml_messages(r.text))
    assert "110" in said and "12356" in said and "人工" in said
    conv = await _conversation(ctx, phone)
    assert (conv.status, conv.handoff_reason, conv.priority) == ("pending", "crisis", PRIORITY["crisis"])
    assert "不想活" in conv.handoff_summary
    assert (await _inbound(ctx, conv.id))[-1].state == "held"  # the person's to read
    assert len(app["rasa"].received) == asked  # the bot is sent nothing while a person has it
    assert (await ticket(ctx, ref)).status == "waiting_citizen"  # not taken as the answer


@contextlib.asynccontextmanager
async def _blackhole():
    """A TCP server that accepts connections and never answers: a stalled Redis."""
    held: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        with contextlib.suppress(Exception):
            while await reader.read(65536):
                pass

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for w in held:
            w.transport.abort()
        server.close()
        await server.wait_closed()


@contextlib.asynccontextmanager
async def _app_with_redis_at(settings, fakes, port: int):
    live, server = await serve(settings, rasa_url=fakes["rasa"].url, channels=channel_settings(fakes),
                               redis_url=f"redis://127.0.0.1:{port}/0")
    try:
        async with httpx.AsyncClient(base_url=live.url, timeout=12) as http:
            yield live, http
    finally:
        await shutdown(server)


@pytest.mark.parametrize("redis_is", ["refusing", "stalled"])
async def test_without_redis_a_crisis_reaches_a_person_and_every_webhook_keeps_its_deadline(
        settings, fakes, redis_is):
    """Redis gone (connections refused) or stalled (accepted, never answered): the message is
    stored, a crisis goes to a person, an ordinary message is told it is kept, and each webhook
    answers within Twilio's deadline instead of hanging until the app's own timeout."""
    async with contextlib.AsyncExitStack() as stack:
        port = free_port() if redis_is == "refusing" else await stack.enter_async_context(_blackhole())
        live, http = await stack.enter_async_context(_app_with_redis_at(settings, fakes, port))
        ctx = live.app.ctx
        crisis_phone, plain_phone = new_phone(), new_phone()

        started = time.monotonic()
        r = await post_twilio(http, "/channels/sms/twilio", sms("他又打我了 我不想活了", crisis_phone))
        took = time.monotonic() - started
        assert r.status_code == 200 and took < 15 - 1, took  # Twilio gives up after 15 s
        assert "110" in " ".join(twiml_messages(r.text))
        conv = await _conversation(ctx, crisis_phone)
        assert (conv.status, conv.handoff_reason) == ("pending", "crisis")
        assert [m.state for m in await _inbound(ctx, conv.id)] == ["held"]

        # WeChat gives up after 5 s: its webhook checks the nonce in Redis too, and must not wait
        oid = f"o{uuid.uuid4().hex[:27]}"
        started = time.monotonic()
        r = await post_wechat(http, wechat_text(oid, "他把我锁在屋里 天天打我"))
        took = time.monotonic() - started
        assert r.status_code == 200 and took < 5 - 1, took
        conv = await _conversation(ctx, oid)
        assert (conv.status, conv.handoff_reason) == ("pending", "crisis")

        started = time.monotonic()
        r = await post_twilio(http, "/channels/sms/twilio", sms("低保怎么申请", plain_phone))
        took = time.monotonic() - started
        assert r.status_code == 200 and took < 15 - 1, took
        assert twiml_messages(r.text) == [texts()["bot_unavailable"]]
        conv = await _conversation(ctx, plain_phone)
        assert conv.status == "bot"
        assert [(m.text, m.state) for m in await _inbound(ctx, conv.id)] == [("低保怎么申请", "received")]


async def test_a_reply_to_a_ticket_that_stopped_waiting_keeps_wechats_deadline(app):
    """The citizen answers a request for information after the ticket was resolved: the bot
    answers instead, and a slow bot cannot hold the WeChat webhook past its budget (the answer
    comes later as a customer-service message)."""
    ctx = app["ctx"]
    oid = f"o{uuid.uuid4().hex[:27]}"
    await post_wechat(app["http"], wechat_text(oid, "我家着火了"))
    conv = await _conversation(ctx, oid)
    ref = await file(ctx, "wechat", str(conv.id), new_phone())
    await service.claim(ctx.sessions, CLERK, ref)
    await service.request_info(ctx.sessions, CLERK, ref, "请补充照片")
    await relay(ctx)
    await service.resolve(ctx.sessions, CLERK, ref, "已发放临时救助金")
    app["rasa"].delay_s = 3.0
    started = time.monotonic()
    r = await post_wechat(app["http"], wechat_text(oid, "照片发过去了"))
    took = time.monotonic() - started
    assert r.status_code == 200 and r.text == "success"  # nothing yet: WeChat is not kept waiting
    budget = ctx.settings.channels.wechat_passive_budget_s
    assert took < budget + 1.0, took
    for _ in range(60):  # the answer goes out as a customer-service message once the bot has it
        await asyncio.sleep(0.1)
        await ctx.outbound.drain()
        if [m for m in app["wechat"].sent if m["touser"] == oid and "照片发过去了" in m["text"]["content"]]:
            break
    else:
        raise AssertionError("the late answer never went out")


async def test_redis_back_the_bot_answers_again_though_citizens_kept_writing(settings, fakes):
    """Redis drops out and comes back while a citizen's page keeps sending the same message
    every 0.3 s (what the page and the providers do on a 503). Each retry meets the breaker the
    failure opened; if a retry re-opened it, the breaker would never close while anyone writes
    and the bot would stay "unavailable" after Redis is back (the fault test saw a minute of it)."""
    from hotline.cache import BREAKER_OPEN_S
    from tests.services.faults import Proxy

    if not settings.redis_url:
        pytest.skip("needs the real Redis (REDIS_URL)")
    upstream = int(settings.redis_url.rsplit(":", 1)[1].split("/")[0])
    proxy = await Proxy(upstream).start()
    try:
        async with _app_with_redis_at(settings, fakes, proxy.port) as (_live, http):
            sender, said = f"web-{uuid.uuid4().hex[:8]}", "低保标准是多少"
            first = await http.post("/channels/web/messages", json={"sender": sender, "text": "你好"})
            assert first.status_code == 200, first.text
            await asyncio.sleep(0.5)  # its turn's lock released (else Redis keeps it a lifetime)

            async def send() -> httpx.Response:
                return await http.post("/channels/web/messages", json={
                    "sender": sender, "text": said, "message_id": "page-msg-1"})

            await proxy.stop()
            down = await send()
            assert down.status_code == 503, down.text
            await proxy.start()
            back_at = time.monotonic()
            while (r := await send()).status_code == 503:
                assert time.monotonic() - back_at < BREAKER_OPEN_S + 5, "never answered again"
                await asyncio.sleep(0.3)
            assert r.status_code == 200
            assert [m.get("text") for m in r.json()["replies"] if m.get("text")] == [f"收到：{said}"]
    finally:
        await proxy.stop()
