"""The WeChat official account: URL verification, plaintext and safe mode, retries as one turn,
the 4-second passive window and late answers by customer-service message, the access token,
the 48-hour window and its quota, message types, and every bad input."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select, update

from channels.models import Conversation, Message
from hotline.db import utcnow
from tests.services.channels.conftest import (
    WECHAT_TOKEN,
    post_wechat,
    read_reply,
    settle,
    wechat_event,
    wechat_signature,
    wechat_text,
)


def openid() -> str:
    return f"o{uuid.uuid4().hex[:27]}"


async def conversation(ctx, oid: str) -> Conversation:
    async with ctx.sessions() as s:
        return await s.scalar(select(Conversation).where(Conversation.channel == "wechat",
                                                         Conversation.contact_id == oid))


async def messages(ctx, oid: str) -> list[Message]:
    conv = await conversation(ctx, oid)
    if conv is None:
        return []
    async with ctx.sessions() as s:
        return list(await s.scalars(select(Message).where(Message.conversation_id == conv.id)
                                    .order_by(Message.id)))


async def test_url_verification_echoes_only_for_our_token(app):
    http = app["http"]
    ts, nonce = "1700000000", "n1"
    import time

    ts = str(int(time.time()))
    ok = await http.get("/channels/wechat", params={
        "signature": wechat_signature(WECHAT_TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce,
        "echostr": "echo-12349"})
    assert ok.status_code == 200 and ok.text == "echo-12349"
    bad = await http.get("/channels/wechat", params={
        "signature": wechat_signature("another-token", ts, nonce), "timestamp": ts, "nonce": nonce,
        "echostr": "echo-12349"})
    assert bad.status_code == 403 and "echo-12349" not in bad.text


@pytest.fixture(scope="module")
async def plaintext_app(settings, fakes):
    """An account in plaintext mode (明文模式: no WECHAT_AES_KEY)."""
    from tests.services.channels.conftest import channel_settings
    from tests.services.conftest import serve, shutdown

    live, server = await serve(settings, rasa_url=fakes["rasa"].url,
                               channels=channel_settings(fakes, wechat_aes_key=None))
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
        yield {"live": live, "http": client, "ctx": live.app.ctx, **fakes}
    await shutdown(server)


@pytest.mark.parametrize("safe", [True, False], ids=["safe mode", "plaintext"])
async def test_a_text_gets_the_bots_answer_passively(app, plaintext_app, safe):
    target = app if safe else plaintext_app
    oid = openid()
    r = await post_wechat(target["http"], wechat_text(oid, "低保怎么申请"), safe=safe)
    assert r.status_code == 200
    reply = read_reply(r.text, safe)
    assert reply["MsgType"] == "text" and reply["Content"] == "收到：低保怎么申请"
    assert reply["ToUserName"] == oid
    sent = target["rasa"].received[-1]
    assert sent["sender"] == f"wechat:{oid}" and sent["metadata"]["channel"] == "wechat"
    stored = await messages(target["ctx"], oid)
    assert [(m.direction, m.author, m.state) for m in stored] == [
        ("in", "citizen", "answered"), ("out", "bot", "passive"), ("out", "bot", "internal")]


async def test_wechats_retries_are_one_turn_and_one_reply(app):
    oid, msg_id = openid(), str(uuid.uuid4().int % 10**18)
    xml = wechat_text(oid, "特困供养要什么条件", msg_id)
    before = len(app["rasa"].received)
    replies = await asyncio.gather(*[post_wechat(app["http"], xml) for _ in range(3)])
    assert len(app["rasa"].received) == before + 1
    contents = {read_reply(r.text)["Content"] for r in replies}
    assert contents == {"收到：特困供养要什么条件"}
    inbound = [m for m in await messages(app["ctx"], oid) if m.direction == "in"]
    assert len(inbound) == 1 and inbound[0].external_id == msg_id


async def test_a_slow_bot_answers_success_then_a_customer_service_message(app):
    """WeChat drops the request after 5 s: answer `success` within the budget, send later."""
    oid = openid()
    app["rasa"].delay_s = 3.0  # longer than the 1.5 s budget of these tests
    app["wechat"].invalid.add("tok-stale")
    await app["ctx"].redis.set("wechat:access_token", "tok-stale")  # WeChat will refuse it: 40001
    started = asyncio.get_running_loop().time()
    r = await post_wechat(app["http"], wechat_text(oid, "临时救助能给多少钱"))
    took = asyncio.get_running_loop().time() - started
    assert r.status_code == 200 and r.text == "success" and took < 2.5
    for _ in range(60):
        await asyncio.sleep(0.1)
        if any(m["touser"] == oid for m in app["wechat"].sent):
            break
    await settle(app["ctx"])
    (sent,) = [m for m in app["wechat"].sent if m["touser"] == oid]
    assert sent["msgtype"] == "text" and sent["text"]["content"] == "收到：临时救助能给多少钱"
    assert sent["access_token"] != "tok-stale"  # renewed through stable_token, force_refresh
    assert app["wechat"].token_calls[-1]["force_refresh"] is True
    out = [m for m in await messages(app["ctx"], oid) if m.direction == "out" and m.author == "bot"
           and m.state != "internal"]
    assert [(m.state, m.channel) for m in out] == [("sent", "wechat")]
    conv = await conversation(app["ctx"], oid)
    assert conv.window_sent == 1  # one of the window's customer-service messages used


async def test_one_access_token_for_every_sender(app):
    await app["ctx"].redis.delete("wechat:access_token")
    before = len(app["wechat"].token_calls)
    from channels.wechat import WeChatApi

    # eight senders (as in several processes: each its own client) at once, no token cached
    clients = [WeChatApi(app["ctx"].http, app["ctx"].redis, app["ctx"].settings.channels)
               for _ in range(8)]
    tokens = await asyncio.gather(*[c.token() for c in clients])
    assert len(set(tokens)) == 1 and len(app["wechat"].token_calls) == before + 1
    assert 0 < await app["ctx"].redis.ttl("wechat:access_token") <= 7200 - 300


async def _wechat_citizen(app, phone: str | None = "+8613900001111", hours_ago: float = 0) -> tuple[str, int]:
    oid = openid()
    r = await post_wechat(app["http"], wechat_text(oid, "你好"))
    assert r.status_code == 200
    conv = await conversation(app["ctx"], oid)
    async with app["ctx"].sessions() as s, s.begin():
        await s.execute(update(Conversation).where(Conversation.id == conv.id).values(
            phone=phone, last_inbound_at=utcnow() - timedelta(hours=hours_ago)))
    return oid, conv.id


async def test_outside_the_48_hour_window_a_message_goes_by_sms(app):
    oid, conv_id = await _wechat_citizen(app, hours_ago=49)
    msg = await app["ctx"].outbound.send(conv_id, "您的求助已受理。", "agent")
    await settle(app["ctx"])
    assert not [m for m in app["wechat"].sent if m["touser"] == oid]
    (sms,) = [m for m in app["twilio"].sent if m["To"] == "+8613900001111"]
    assert sms["Body"] == "您的求助已受理。"
    async with app["ctx"].sessions() as s:
        row = await s.get(Message, msg.id)
    assert (row.state, row.channel) == ("sent", "sms") and "48小时" in row.detail


@pytest.mark.parametrize("errcode, why", [(45015, "45015"), (45047, "45047")])
async def test_wechat_refusing_the_window_falls_back_to_sms(app, errcode, why):
    oid, conv_id = await _wechat_citizen(app)
    app["wechat"].script.append(errcode)
    msg = await app["ctx"].outbound.send(conv_id, "请补充户口簿。", "agent")
    await settle(app["ctx"])
    async with app["ctx"].sessions() as s:
        row = await s.get(Message, msg.id)
    assert (row.state, row.channel) == ("sent", "sms") and why in row.detail
    assert [m["Body"] for m in app["twilio"].sent if m["To"] == "+8613900001111"][-1] == "请补充户口簿。"


async def test_the_windows_quota_is_counted(app):
    oid, conv_id = await _wechat_citizen(app)
    ids = [(await app["ctx"].outbound.send(conv_id, f"第{i}条", "agent")).id for i in range(6)]
    await settle(app["ctx"])
    async with app["ctx"].sessions() as s:
        rows = {m.id: m for m in await s.scalars(select(Message).where(Message.id.in_(ids)))}
    channels = sorted(rows[i].channel for i in ids)
    assert channels.count("wechat") == 5 and channels.count("sms") == 1
    assert len([m for m in app["wechat"].sent if m["touser"] == oid]) == 5


async def test_no_phone_and_no_window_is_a_failure_with_the_reason(app):
    oid, conv_id = await _wechat_citizen(app, phone=None, hours_ago=72)
    msg = await app["ctx"].outbound.send(conv_id, "您好", "agent")
    await settle(app["ctx"])
    async with app["ctx"].sessions() as s:
        row = await s.get(Message, msg.id)
    assert row.state == "failed" and "48小时" in row.detail and "手机号" in row.detail


async def test_a_wechat_outage_delays_and_loses_nothing(app):
    oid, conv_id = await _wechat_citizen(app)
    app["wechat"].down = True
    msg = await app["ctx"].outbound.send(conv_id, "办理进度：已受理", "agent")
    await settle(app["ctx"])
    async with app["ctx"].sessions() as s:
        row = await s.get(Message, msg.id)
    assert row.state == "queued" and row.attempts == 1 and row.next_attempt_at > utcnow()
    app["wechat"].down = False
    async with app["ctx"].sessions() as s, s.begin():  # the backoff has passed
        await s.execute(update(Message).where(Message.id == msg.id).values(next_attempt_at=utcnow()))
    counts = await asyncio.gather(*[app["ctx"].outbound.deliver_due() for _ in range(3)])
    assert sum(c.get("sent", 0) for c in counts) >= 1
    assert len([m for m in app["wechat"].sent if m["touser"] == oid and
                m["text"]["content"] == "办理进度：已受理"]) == 1  # three sweeps, one delivery


async def test_voice_messages_use_wechats_recognition(app):
    oid = openid()
    voice = ("<MediaId><![CDATA[m1]]></MediaId><Format><![CDATA[amr]]></Format>"
             "<Recognition><![CDATA[我想问一下低保]]></Recognition>")
    r = await post_wechat(app["http"], wechat_text(oid, "", msg_type="voice", extra=voice))
    assert read_reply(r.text)["Content"] == "收到：我想问一下低保"
    before = len(app["rasa"].received)
    silent = ("<MediaId><![CDATA[m2]]></MediaId><Format><![CDATA[amr]]></Format>"
              "<Recognition><![CDATA[]]></Recognition>")
    r = await post_wechat(app["http"], wechat_text(oid, "", msg_type="voice", extra=silent))
    assert "没听清" in read_reply(r.text)["Content"] and len(app["rasa"].received) == before


@pytest.mark.parametrize("msg_type, extra", [
    ("image", "<PicUrl><![CDATA[http://x/y.jpg]]></PicUrl><MediaId><![CDATA[m]]></MediaId>"),
    ("location", "<Location_X>31.7</Location_X><Location_Y>116.5</Location_Y><Scale>15</Scale>"),
    ("video", "<MediaId><![CDATA[m]]></MediaId><ThumbMediaId><![CDATA[t]]></ThumbMediaId>"),
    ("link", "<Title><![CDATA[t]]></Title><Url><![CDATA[http://x]]></Url>"),
    ("holographic", ""),  # a type nobody knows yet
])
async def test_other_message_types_are_asked_in_words(app, msg_type, extra):
    oid = openid()
    before = len(app["rasa"].received)
    r = await post_wechat(app["http"], wechat_text(oid, "", msg_type=msg_type, extra=extra))
    assert r.status_code == 200 and "文字" in read_reply(r.text)["Content"]
    assert len(app["rasa"].received) == before
    (inbound,) = [m for m in await messages(app["ctx"], oid) if m.direction == "in"]
    assert inbound.state == "ignored"


async def test_subscribe_welcomes_and_asks_the_region_unsubscribe_stops_sending(app):
    oid = openid()
    event = wechat_event(oid, "subscribe")
    first, retry = await post_wechat(app["http"], event), await post_wechat(app["http"], event)
    welcome = read_reply(first.text)["Content"]
    assert "欢迎关注" in welcome and "无锡" in welcome and read_reply(retry.text)["Content"] == welcome
    assert len([m for m in await messages(app["ctx"], oid) if m.direction == "in"]) == 1
    r = await post_wechat(app["http"], wechat_event(oid, "unsubscribe"))
    assert r.text == "success"
    conv = await conversation(app["ctx"], oid)
    assert conv.unsubscribed_at is not None
    msg = await app["ctx"].outbound.send(conv.id, "您的求助已办结", "system")
    await settle(app["ctx"])
    async with app["ctx"].sessions() as s:
        row = await s.get(Message, msg.id)
    assert not [m for m in app["wechat"].sent if m["touser"] == oid]
    assert row.state == "failed" and "取消关注" in row.detail  # and no phone to fall back to


async def test_menu_clicks_and_reports_get_success_and_are_not_stored(app):
    oid = openid()
    r = await post_wechat(app["http"], wechat_event(oid, "CLICK"))
    assert r.text == "success" and await conversation(app["ctx"], oid) is None


async def count(ctx) -> int:
    async with ctx.sessions() as s:
        return await s.scalar(select(func.count()).select_from(Message))


BILLION_LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
                  '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
                  '<xml><ToUserName>gh_12349hotline</ToUserName><FromUserName>o1</FromUserName>'
                  '<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&lol3;</Content>'
                  '<MsgId>1</MsgId></xml>')
XXE = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
       '<xml><ToUserName>gh_12349hotline</ToUserName><FromUserName>o1</FromUserName>'
       '<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&xxe;</Content><MsgId>2</MsgId></xml>')


@pytest.mark.parametrize("case, status", [
    ("wrong signature", 403), ("replayed timestamp", 403), ("malformed xml", 400),
    ("external entity", 400), ("billion laughs", 400), ("over 64 KB", 413), ("not utf-8", 400),
    ("empty body", 400), ("another account", 403), ("wrong msg_signature", 403),
    ("safe mode garbage", 400), ("plaintext in safe mode", 403), ("no msg_signature", 401),
    ("non-ascii signature", 401), ("non-ascii msg_signature", 401),
])
async def test_bad_input_is_refused_and_nothing_is_stored(app, case, status):
    import time
    from urllib.parse import parse_qs, urlencode

    from tests.services.channels.conftest import wechat_request

    http, ctx = app["http"], app["ctx"]
    before, sent = await count(ctx), len(app["rasa"].received)
    oid = openid()
    safe, body_xml, kw = True, wechat_text(oid, "你好"), {}
    if case == "wrong signature":
        kw = {"token": "not-our-token"}
    elif case == "replayed timestamp":
        kw = {"timestamp": int(time.time()) - 301}
    elif case == "malformed xml":
        body_xml = "<xml><ToUserName>gh"
    elif case == "external entity":
        body_xml = XXE
    elif case == "billion laughs":
        body_xml = BILLION_LAUGHS
    elif case == "over 64 KB":
        body_xml = wechat_text(oid, "长" * 30_000)
    elif case == "another account":
        body_xml = wechat_text(oid, "你好", to="gh_somebody_else")
    elif case in ("external entity", "billion laughs", "plaintext in safe mode"):
        safe = False  # as the outer body (inside the encrypted one: test_declarations_inside…)
    query, body = wechat_request(body_xml, safe, **kw)
    q = {k: v[0] for k, v in parse_qs(query).items()}
    if case == "no msg_signature":
        del q["msg_signature"]
    elif case == "non-ascii signature":
        q["signature"] = "签名" * 20
    elif case == "non-ascii msg_signature":
        q["msg_signature"] = "签名" * 20
    query = urlencode(q)
    if case == "not utf-8":
        body = wechat_text(oid, "你好").encode("gbk")
    elif case == "empty body":
        body = b""
    elif case == "wrong msg_signature":
        q = parse_qs(query)
        q["msg_signature"] = ["0" * 40]
        query = urlencode({k: v[0] for k, v in q.items()})
    elif case == "safe mode garbage":
        body = b"<xml><Encrypt><![CDATA[bm90LWEtd2VjaGF0LW1lc3NhZ2U=]]></Encrypt></xml>"
        q = parse_qs(query)
        q["msg_signature"] = [wechat_signature(WECHAT_TOKEN, q["timestamp"][0], q["nonce"][0],
                                               "bm90LWEtd2VjaGF0LW1lc3NhZ2U=")]
        query = urlencode({k: v[0] for k, v in q.items()})
    r = await http.post(f"/channels/wechat?{query}", content=body, headers={"Content-Type": "text/xml"})
    assert r.status_code == status, (case, r.text)
    assert r.json()["error"]["code"]
    assert await count(ctx) == before and len(app["rasa"].received) == sent
    assert "lollol" not in r.text and "root:" not in r.text


def _signed_again(query: str, **change) -> str:
    from urllib.parse import parse_qs, urlencode

    q = {k: v[0] for k, v in parse_qs(query).items()}
    q.update(change)
    return urlencode(q)


@pytest.mark.parametrize("inner", ["external entity", "billion laughs"])
async def test_declarations_inside_an_encrypted_body_are_refused(app, inner):
    from tests.services.channels.conftest import wechat_request

    before = await count(app["ctx"])
    query, body = wechat_request(XXE if inner == "external entity" else BILLION_LAUGHS, safe=True)
    r = await app["http"].post(f"/channels/wechat?{query}", content=body)
    assert r.status_code == 400 and r.json()["error"]["code"] == "xml_not_allowed"
    assert await count(app["ctx"]) == before


async def test_compatible_mode_answers_what_was_encrypted_not_the_plaintext_beside_it(app):
    """兼容模式 sends the plaintext fields and <Encrypt> with encrypt_type=aes: only the signed,
    encrypted message counts (the plaintext beside it is not covered by msg_signature)."""
    from tests.services.channels.conftest import wechat_request

    oid = openid()
    query, body = wechat_request(wechat_text(oid, "临时救助怎么申请"), safe=True)
    forged = wechat_text(oid, "我要投诉").replace("<xml>", "").replace("</xml>", "")
    body = body.replace(b"<xml>", ("<xml>" + forged).encode(), 1)
    r = await app["http"].post(f"/channels/wechat?{query}", content=body)
    assert r.status_code == 200, r.text
    assert read_reply(r.text)["Content"] == "收到：临时救助怎么申请"
    assert [m.text for m in await messages(app["ctx"], oid) if m.direction == "in"] == ["临时救助怎么申请"]


async def test_a_logged_query_string_cannot_carry_another_message(app, plaintext_app):
    """In plaintext mode the query's signature covers only token, timestamp and nonce: whoever
    read one URL in a log could post any message under it for five minutes. One timestamp and
    nonce carry one body; WeChat's retry (the same body) is still one turn."""
    from urllib.parse import parse_qs

    import xmltodict

    from tests.services.channels.conftest import crypto, wechat_request

    http, ctx = plaintext_app["http"], plaintext_app["ctx"]
    oid, victim = openid(), openid()
    query, body = wechat_request(wechat_text(oid, "低保标准是多少"), safe=False)
    first = await http.post(f"/channels/wechat?{query}", content=body)
    retry = await http.post(f"/channels/wechat?{query}", content=body)
    assert first.status_code == retry.status_code == 200
    assert read_reply(first.text, False)["Content"] == read_reply(retry.text, False)["Content"]
    assert len([m for m in await messages(ctx, oid) if m.direction == "in"]) == 1

    before = await count(ctx)
    forged = await http.post(f"/channels/wechat?{query}",
                             content=wechat_text(victim, "我不要救助了，把我的申请撤了").encode())
    assert forged.status_code == 403 and forged.json()["error"]["code"] == "replayed_nonce"
    assert await count(ctx) == before and await conversation(ctx, victim) is None

    # Safe mode: the same query string with another, validly encrypted and signed body.
    query, body = wechat_request(wechat_text(oid, "你好"), safe=True)
    assert (await app["http"].post(f"/channels/wechat?{query}", content=body)).status_code == 200
    q = parse_qs(query)
    other = crypto().encrypt_message(wechat_text(victim, "撤回申请"), q["nonce"][0], q["timestamp"][0])
    signed = _signed_again(query, msg_signature=xmltodict.parse(other)["xml"]["MsgSignature"])
    r = await app["http"].post(f"/channels/wechat?{signed}", content=other.encode())
    assert r.status_code == 403 and r.json()["error"]["code"] == "replayed_nonce"
    assert await conversation(app["ctx"], victim) is None


async def test_a_disabled_channel_answers_404(settings):
    from tests.services.conftest import serve, shutdown

    live, server = await serve(settings)
    try:
        import httpx

        async with httpx.AsyncClient(base_url=live.url) as http:
            assert (await http.get("/channels/wechat")).status_code == 404
            assert (await http.post("/channels/wechat", content=b"<xml/>")).status_code == 404
            assert (await http.post("/channels/sms/twilio", content=b"")).status_code == 404
            assert (await http.post("/channels/voice/twilio", content=b"")).status_code == 404
    finally:
        await shutdown(server)
