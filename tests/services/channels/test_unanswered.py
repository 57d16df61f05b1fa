"""Messages the bot could not answer are answered once it is back: by the worker's sweep, in
order, exactly once, through the outbound path; the citizen is told once per message meanwhile;
an answer whose write failed is stored on the next try, not asked of Rasa again."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update

from channels.gateway import Incoming, texts
from channels.models import Conversation, Message
from hotline.db import utcnow
from tests.services.conftest import serve, shutdown


@pytest.fixture
async def down(settings, rasa):
    rasa.fail, rasa.received[:] = True, []
    live, server = await serve(settings, rasa_url=rasa.url)
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as c:
        yield live, c, rasa
    rasa.fail = False
    await shutdown(server)


async def _turns(sf, sender: str) -> list[Message]:
    async with sf() as s:
        conv = await s.scalar(select(Conversation).where(Conversation.contact_id == sender))
        return list(await s.scalars(select(Message).where(Message.conversation_id == conv.id)
                                    .order_by(Message.id)))


def _later():
    return utcnow() + timedelta(hours=1)  # every retry due


async def _webhooks_gone(sf, sender: str) -> None:
    """As when the sweep comes by for real: each message's webhook has long answered."""
    async with sf() as s, s.begin():
        conv = await s.scalar(select(Conversation).where(Conversation.contact_id == sender))
        await s.execute(update(Message).where(Message.conversation_id == conv.id)
                        .values(reply_by=utcnow() - timedelta(minutes=1)))


async def test_the_sweep_answers_in_order_exactly_once_when_the_bot_is_back(down):
    live, c, rasa = down
    gateway, sf = live.app.ctx.gateway, live.app.ctx.sessions
    sender = f"sweep-{uuid.uuid4().hex[:8]}"
    said = ["低保怎么申请", "我在株洲", "家里两口人"]
    for text in said:
        r = await c.post("/channels/web/messages", json={"sender": sender, "text": text})
        assert r.status_code == 503
        assert [m["text"] for m in r.json()["replies"]] == [texts()["bot_unavailable"]]
    assert await gateway.answer_unanswered(_later()) == 1  # still down: tries, tells nobody again
    await gateway.settle()
    notices = [m for m in await _turns(sf, sender) if m.author == "system"]
    assert len(notices) == len(said)

    rasa.fail, rasa.received[:] = False, []
    await _webhooks_gone(sf, sender)
    assert await gateway.answer_unanswered(_later()) == 1
    await gateway.settle()
    assert [b["message"] for b in rasa.received if "message" in b] == said  # in order, once each
    turns = await _turns(sf, sender)
    inbound = [m for m in turns if m.direction == "in"]
    assert [m.state for m in inbound] == ["answered"] * 3
    for m in inbound:
        answers = [o for o in turns if o.reply_to_id == m.id and o.author == "bot" and o.text]
        assert [o.text for o in answers] == [f"收到：{m.text}"]
        assert answers[0].state in ("queued", "sending", "sent")  # the outbound path has it
    await live.app.ctx.outbound.drain()
    page = await c.get("/channels/web/messages", params={"sender": sender})
    assert [m["text"] for m in page.json()["messages"] if m["author"] == "bot" and m["text"]] == [
        f"收到：{t}" for t in said]

    assert await gateway.answer_unanswered(_later()) == 0  # nothing left: nothing asked again
    await gateway.settle()
    assert len([b for b in rasa.received if "message" in b]) == 3


async def test_a_failed_write_after_the_bot_answered_does_not_ask_the_bot_again(down, monkeypatch):
    live, c, rasa = down
    gateway, sf = live.app.ctx.gateway, live.app.ctx.sessions
    sender = f"write-{uuid.uuid4().hex[:8]}"
    assert (await c.post("/channels/web/messages",
                         json={"sender": sender, "text": "临时救助"})).status_code == 503
    rasa.fail, rasa.received[:] = False, []
    await _webhooks_gone(sf, sender)
    real = type(gateway)._record_replies
    failures = []

    async def fails_once(self, *args):
        if not failures:
            failures.append(1)
            raise ConnectionError("database restarting")
        return await real(self, *args)

    monkeypatch.setattr(type(gateway), "_record_replies", fails_once)
    await gateway.answer_unanswered(_later())
    await gateway.settle()
    assert failures and [m.state for m in await _turns(sf, sender) if m.direction == "in"] == [
        "received"]
    await gateway.answer_unanswered(_later())
    await gateway.settle()
    assert [b["message"] for b in rasa.received if "message" in b] == ["临时救助"]  # asked once
    turns = await _turns(sf, sender)
    assert [m.state for m in turns if m.direction == "in"] == ["answered"]
    assert [m.text for m in turns if m.author == "bot" and m.text] == ["收到：临时救助"]


async def test_a_conversation_held_by_a_stuck_turn_loses_nothing(down):
    """Another process holds the conversation's lock (a turn that hung, a process that died
    holding it): the citizen's message is stored and the webhook answered within its budget;
    once the lock lapses the sweep answers it."""
    live, c, rasa = down
    rasa.fail = False
    gateway, sf, redis = live.app.ctx.gateway, live.app.ctx.sessions, live.app.ctx.redis
    sender = f"locked-{uuid.uuid4().hex[:8]}"
    first = await c.post("/channels/web/messages", json={"sender": sender, "text": "你好"})
    conv_id = first.json()["conversation_id"]
    await redis.set(f"lock:conversation:{conv_id}", "another-process", px=1500)
    started = utcnow()
    r = await gateway.receive(Incoming("web", sender, "医疗救助怎么报销"), budget_s=0.5)
    assert (utcnow() - started).total_seconds() < 1.5  # the budget, not the lock, decided
    assert r.deferred and r.inbound_id is not None
    stored = [m for m in await _turns(sf, sender) if m.direction == "in"]
    assert [m.text for m in stored] == ["你好", "医疗救助怎么报销"]
    await gateway.settle()  # the turn waits out the lapsed lock, then answers
    await gateway.answer_unanswered(_later())
    await gateway.settle()
    turns = await _turns(sf, sender)
    assert [m.state for m in turns if m.direction == "in"] == ["answered", "answered"]
    assert [m.text for m in turns if m.author == "bot" and m.text] == ["收到：你好", "收到：医疗救助怎么报销"]


def test_the_limits_fit_together(settings):
    from channels import web
    from channels.gateway import turn_lock_s
    from hotline.app import create_app

    slow = replace(settings, rasa_timeout_s=50.0)
    app = create_app(slow, name="limits_fit")
    assert app.config.RESPONSE_TIMEOUT > slow.rasa_timeout_s + web.WEB_SLACK_S
    assert app.config.RESPONSE_TIMEOUT > web.LONG_POLL_S
    assert turn_lock_s(slow) > slow.rasa_timeout_s  # a turn cannot outlive its lock
    from hotline.settings import Settings

    for name, value in (("WECHAT_PASSIVE_BUDGET_S", "5"), ("TWILIO_BUDGET_S", "15")):
        with pytest.raises(ValueError, match=name):
            Settings.from_env({name: value})


async def test_a_silent_bot_gets_a_kind_fallback_and_an_error_in_the_log(down, caplog):
    """Rasa answers an action server's failure with no reply at all: the citizen is not left
    in silence, and the operators see it."""
    live, c, rasa = down
    rasa.fail, rasa.silent = False, True
    try:
        sender = f"silent-{uuid.uuid4().hex[:8]}"
        with caplog.at_level("ERROR", logger="channels.gateway"):
            r = await c.post("/channels/web/messages", json={"sender": sender, "text": "低保标准是多少"})
        assert r.status_code == 200
        assert [m["text"] for m in r.json()["replies"]] == [texts()["bot_silent"]]
        assert any("no reply" in rec.getMessage() for rec in caplog.records)
        turns = await _turns(live.app.ctx.sessions, sender)
        assert [m.state for m in turns if m.direction == "in"] == ["answered"]
    finally:
        rasa.silent = False
