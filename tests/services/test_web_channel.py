"""The gateway through POST /channels/web/messages, with a fake Rasa that records turns."""

import asyncio
import uuid

import pytest
from sqlalchemy import select

from channels.models import Conversation, Message


def msg(text, sender=None, message_id=None, **extra):
    return {"sender": sender or f"t-{uuid.uuid4()}", "text": text,
            "message_id": message_id or str(uuid.uuid4()), **extra}


async def post_while_bot_down(rasa_client, rasa, body):
    rasa.fail = True
    try:
        return await rasa_client.post("/channels/web/messages", json=body)
    finally:
        rasa.fail = False


async def test_turn_reaches_rasa_with_metadata_and_replies_are_stored(rasa_client, rasa, sessions):
    body = msg("你好", metadata={"region": "430200", "evil": "x"})
    r = await rasa_client.post("/channels/web/messages", json=body)
    assert r.status_code == 200
    replies = r.json()["replies"]
    assert replies[0]["text"] == "收到：你好"
    sent = rasa.received[-1]
    assert sent["sender"] == f"web:{body['sender']}" and sent["message"] == "你好"
    assert sent["metadata"]["region"] == "430200" and "evil" not in sent["metadata"]
    assert sent["metadata"]["channel"] == "web"
    async with sessions() as s:
        conv = await s.scalar(select(Conversation).where(Conversation.contact_id == body["sender"]))
        rows = list(await s.scalars(select(Message).where(Message.conversation_id == conv.id)
                                    .order_by(Message.id)))
    assert [(m.direction, m.author) for m in rows] == [("in", "citizen"), ("out", "bot"),
                                                       ("out", "bot")]


async def test_retry_of_same_message_is_one_turn(rasa_client, rasa, sessions):
    body = msg("我要求助")
    before = len(rasa.received)
    first, *retries = await asyncio.gather(*[rasa_client.post("/channels/web/messages", json=body)
                                             for _ in range(5)])
    assert len(rasa.received) == before + 1
    assert all(r.json()["replies"] == first.json()["replies"] for r in retries)
    assert sum(r.json()["duplicate"] for r in (first, *retries)) == 4
    async with sessions() as s:
        n = len(list(await s.scalars(select(Message).where(Message.external_id == body["message_id"]))))
    assert n == 1


async def test_bot_down_keeps_the_message_and_retry_answers_it(rasa_client, rasa, sessions):
    body = msg("救命，房子漏水了")
    r = await post_while_bot_down(rasa_client, rasa, body)
    assert r.status_code == 503
    assert "已收到" in r.json()["replies"][0]["text"]
    async with sessions() as s:
        stored = await s.scalar(select(Message).where(Message.external_id == body["message_id"]))
    assert stored.text == body["text"] and stored.state == "received"  # kept, unanswered
    again = await rasa_client.post("/channels/web/messages", json=body)
    assert again.status_code == 200 and again.json()["replies"][0]["text"].startswith("收到")
    async with sessions() as s:
        conv = await s.scalar(select(Conversation).where(Conversation.contact_id == body["sender"]))
    assert conv.status == "bot"  # an ordinary message waits for the bot


@pytest.mark.parametrize("text", ["我不想活了", "俺男人喝了酒就打俺", "吃低保都吃不上 还活着干啥"])
async def test_bot_down_still_hands_a_crisis_to_a_person(rasa_client, rasa, sessions, text):
    body = msg(text)
    r = await post_while_bot_down(rasa_client, rasa, body)
    assert r.status_code == 200  # a person has it: decided before the bot is asked
    reply = r.json()["replies"][0]["text"]
    assert "110" in reply and "120" in reply and "转接人工" in reply
    async with sessions() as s:
        conv = await s.scalar(select(Conversation).where(Conversation.contact_id == body["sender"]))
        stored = await s.scalar(select(Message).where(Message.external_id == body["message_id"]))
    assert (conv.status, conv.handoff_reason, conv.priority) == ("pending", "crisis", 2)
    assert stored.state == "held" and stored.text == text  # kept for the person
    # A retry is the same turn: the same answer, and still nothing for the bot (a person has it).
    sent = len(rasa.received)
    again = await rasa_client.post("/channels/web/messages", json=body)
    assert again.json()["duplicate"] and again.json()["replies"][0]["text"] == reply
    later = await rasa_client.post("/channels/web/messages", json=msg("喂 有人吗", sender=body["sender"]))
    assert later.status_code == 200 and later.json()["status"] == "pending"
    assert len(rasa.received) == sent  # the bot is sent nothing while a person has it


@pytest.mark.parametrize("body,field", [
    ({"text": "hi"}, "sender"),
    ({"sender": "a"}, "text"),
    ({"sender": "a", "text": "   "}, "text"),
    ({"sender": "a", "text": "x" * 2001}, "text"),
    ({"sender": "a", "text": "hi", "metadata": [1]}, "metadata"),
    ({"sender": "a", "text": "hi", "message_id": 5}, "message_id"),
])
async def test_bad_messages_name_the_field(rasa_client, body, field):
    r = await rasa_client.post("/channels/web/messages", json=body)
    assert r.status_code == 422 and r.json()["error"]["field"] == field


async def test_chat_page_is_served(rasa_client):
    r = await rasa_client.get("/chat")
    assert r.status_code == 200 and "12349" in r.text and "/channels/web/messages" in r.text


async def test_handoff_signal_is_recorded_on_the_conversation(rasa_client, sessions):
    body = msg("转人工")
    r = await rasa_client.post("/channels/web/messages", json=body)
    assert r.json()["replies"][1]["custom"]["handoff"]["reason"] == "request_human"
    async with sessions() as s:
        conv = await s.scalar(select(Conversation).where(Conversation.contact_id == body["sender"]))
    assert (conv.status, conv.handoff_reason, conv.handoff_summary) == \
        ("pending", "request_human", "想找真人")
    # the citizen is told once how long the wait is, with the bot's own words
    texts = [x.get("text", "") for x in r.json()["replies"]]
    assert texts[0] == "正在为您转接人工" and "工作人员" in texts[-1]


async def test_two_first_messages_of_a_new_citizen_at_once_are_both_answered(rasa_client, sessions):
    sender = f"t-{uuid.uuid4()}"
    a, b = await asyncio.gather(rasa_client.post("/channels/web/messages", json=msg("你好", sender)),
                                rasa_client.post("/channels/web/messages", json=msg("在吗", sender)))
    assert a.status_code == b.status_code == 200
    assert not a.json()["duplicate"] and not b.json()["duplicate"]
    assert {a.json()["replies"][0]["text"], b.json()["replies"][0]["text"]} == {"收到：你好", "收到：在吗"}
    async with sessions() as s:
        conv = await s.scalar(select(Conversation).where(Conversation.contact_id == sender))
        n = len(list(await s.scalars(select(Message).where(Message.conversation_id == conv.id,
                                                           Message.direction == "in"))))
    assert n == 2


async def test_a_message_that_could_not_be_stored_is_taken_on_its_retry(rasa_client, monkeypatch):
    from channels.gateway import Gateway

    body, real = msg("我要求助"), Gateway._store
    calls = []

    async def failing_once(self, *args):
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("database went away")
        return await real(self, *args)

    monkeypatch.setattr(Gateway, "_store", failing_once)
    first = await rasa_client.post("/channels/web/messages", json=body)
    assert first.status_code == 500
    retry = await rasa_client.post("/channels/web/messages", json=body)
    assert retry.status_code == 200 and not retry.json()["duplicate"]
    assert retry.json()["replies"][0]["text"] == "收到：我要求助"
