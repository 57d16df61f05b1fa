"""The agents' desk: the waiting queue's order, claiming (exactly one of two at once), the bot
silent while a person holds the conversation, replies on the citizen's channel (WeChat, and by
SMS outside the 48-hour window), notes, hand-back and resolve, the call-back ticket, the audit
trail, the live event stream, and who may use any of it."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update

from channels import desk
from channels.models import Conversation
from hotline.db import utcnow
from referral.access import Viewer
from referral.models import AuditEntry, Ticket
from tests.services.channels.conftest import (
    new_phone,
    post_twilio,
    post_wechat,
    read_reply,
    settle,
    sms,
    wechat_text,
)
from tests.services.console.conftest import PASSWORD, logged_in, new_user


@pytest.fixture(scope="module")
async def people(app, sessions):
    """Logged-in browsers: two agents, a supervisor, a clerk, a clerk given the desk."""
    accounts = {"agent_a": ("agent", None), "agent_b": ("agent", None),
                "supervisor": ("supervisor", None), "clerk": ("staff", "civil_affairs")}
    out = {who: await logged_in(app["live"].url, await new_user(sessions, role, dept))
           for who, (role, dept) in accounts.items()}
    from console import users

    desk_clerk = f"deskclerk_{uuid.uuid4().hex[:6]}"
    await users.create_user(sessions, desk_clerk, PASSWORD, "staff", "civil_affairs", desk=True)
    out["desk_clerk"] = await logged_in(app["live"].url, desk_clerk)
    yield out
    for p in out.values():
        await p.client.aclose()


async def handed_over(app, text: str = "转人工", phone: str | None = None) -> int:
    """A citizen texts, then asks for a person: the conversation's id."""
    phone = phone or new_phone()
    await post_twilio(app["http"], "/channels/sms/twilio", sms(text, phone))
    async with app["ctx"].sessions() as s:
        return await s.scalar(select(Conversation.id).where(Conversation.contact_id == phone))


async def act(person, conv_id: int, action: str, **body):
    return await person.client.post(f"/console/desk/conversations/{conv_id}/{action}", json=body,
                                    headers={"X-CSRF-Token": person.csrf, "Accept": "application/json"})


async def test_the_queue_puts_a_crisis_first_then_urgency_then_waiting_time(app, people):
    ids = [await handed_over(app) for _ in range(2)]
    crisis = await handed_over(app, "我不想活了")
    async with app["ctx"].sessions() as s, s.begin():  # the first has waited longest
        await s.execute(update(Conversation).where(Conversation.id == ids[0])
                        .values(pending_since=utcnow() - timedelta(minutes=10)))  # < the call-back time
        await s.execute(update(Conversation).where(Conversation.id == ids[1])
                        .values(priority=1))
    queue = (await people["agent_a"].client.get("/console/desk/queue.json")).json()["waiting"]
    order = [c["id"] for c in queue if c["id"] in (*ids, crisis)]
    assert order == [crisis, ids[1], ids[0]]
    row = next(c for c in queue if c["id"] == crisis)
    assert row["crisis"] and row["reason"] == "crisis" and row["channel"] == "sms"
    assert "****" in row["contact"]
    page = (await people["agent_a"].client.get("/console/desk")).text
    assert f'data-conversation="{crisis}"' in page and "危机" in page


async def test_two_agents_claiming_at_once_one_wins_and_the_other_is_told_who(app, people):
    conv_id = await handed_over(app)
    a, b = await asyncio.gather(act(people["agent_a"], conv_id, "claim"),
                                act(people["agent_b"], conv_id, "claim"))
    assert sorted([a.status_code, b.status_code]) == [200, 409]
    winner, loser = (a, b) if a.status_code == 200 else (b, a)
    holder = winner.json()["assignee"]
    assert loser.json()["error"]["holder"] == holder
    assert holder in (people["agent_a"].username, people["agent_b"].username)


async def test_claims_race_in_the_database_itself(app, sessions):
    """Eight agents at once, straight at the service (on PostgreSQL in CI): exactly one."""
    conv_id = await handed_over(app)
    agents = [Viewer(f"agent{i}", "agent") for i in range(8)]
    results = await asyncio.gather(*[desk.claim(sessions, app["ctx"].redis, a, conv_id) for a in agents],
                                   return_exceptions=True)
    wins = [r for r in results if isinstance(r, dict)]
    assert len(wins) == 1 and all(isinstance(r, desk.HeldBy) for r in results if r not in wins)
    assert {r.details["holder"] for r in results if isinstance(r, desk.HeldBy)} == {wins[0]["assignee"]}


async def test_while_an_agent_holds_it_the_bot_is_silent(app, people):
    phone = new_phone()
    conv_id = await handed_over(app, phone=phone)
    await act(people["agent_a"], conv_id, "claim")
    before = len(app["rasa"].received)
    r = await post_twilio(app["http"], "/channels/sms/twilio", sms("我家的情况是这样的", phone))
    assert "收到" not in r.text and len(app["rasa"].received) == before
    view = (await people["agent_a"].client.get(f"/console/desk/conversations/{conv_id}/messages.json")).json()
    assert view["messages"][-1]["text"] == "我家的情况是这样的" and view["messages"][-1]["state"] == "held"


async def test_a_reply_goes_out_on_the_citizens_channel_and_notes_do_not(app, people):
    phone = new_phone()
    conv_id = await handed_over(app, phone=phone)
    agent = people["agent_a"]
    refused = await act(agent, conv_id, "reply", text="您好")
    assert refused.status_code == 409  # not held by them yet
    await act(agent, conv_id, "claim")
    r = await act(agent, conv_id, "reply", text="您好，我是12349坐席小王，请问您家里几口人？")
    assert r.status_code == 200 and r.json()["author"] == "agent"
    await act(agent, conv_id, "note", text="老人耳背，说话慢一点")
    await settle(app["ctx"])
    bodies = [m["Body"] for m in app["twilio"].sent if m["To"] == phone]
    assert bodies == ["您好，我是12349坐席小王，请问您家里几口人？"]
    view = (await agent.client.get(f"/console/desk/conversations/{conv_id}/messages.json")).json()
    sent = view["messages"][-1]
    assert (sent["author"], sent["state"], sent["agent"]) == ("agent", "sent", agent.username)
    page = (await agent.client.get(f"/console/desk/conversations/{conv_id}")).text
    assert "老人耳背，说话慢一点" in page and 'id="reply-form"' in page


async def wechat_pending(app) -> tuple[str, int]:
    oid = f"o{uuid.uuid4().hex[:27]}"
    r = await post_wechat(app["http"], wechat_text(oid, "转人工"))
    assert "转接人工" in read_reply(r.text)["Content"]
    async with app["ctx"].sessions() as s:
        return oid, await s.scalar(select(Conversation.id).where(Conversation.contact_id == oid))


async def test_a_reply_to_a_wechat_citizen_is_a_customer_service_message(app, people):
    oid, conv_id = await wechat_pending(app)
    await act(people["agent_a"], conv_id, "claim")
    await act(people["agent_a"], conv_id, "reply", text="您好，请问您在哪个乡镇？")
    await settle(app["ctx"])
    (sent,) = [m for m in app["wechat"].sent if m["touser"] == oid]
    assert sent["text"]["content"] == "您好，请问您在哪个乡镇？"


async def test_outside_the_window_the_agents_reply_goes_by_sms(app, people):
    oid, conv_id = await wechat_pending(app)
    phone = new_phone()
    async with app["ctx"].sessions() as s, s.begin():
        await s.execute(update(Conversation).where(Conversation.id == conv_id).values(
            phone=phone, last_inbound_at=utcnow() - timedelta(hours=49)))
    await act(people["agent_b"], conv_id, "claim")
    await act(people["agent_b"], conv_id, "reply", text="已为您登记，请保持电话畅通。")
    await settle(app["ctx"])
    assert not [m for m in app["wechat"].sent if m["touser"] == oid]
    assert [m["Body"] for m in app["twilio"].sent if m["To"] == phone] == ["已为您登记，请保持电话畅通。"]
    view = (await people["agent_b"].client.get(f"/console/desk/conversations/{conv_id}/messages.json")).json()
    last = view["messages"][-1]
    assert (last["state"], last["channel"]) == ("sent", "sms") and "48小时" in last["detail"]
    page = (await people["agent_b"].client.get(f"/console/desk/conversations/{conv_id}")).text
    assert "已改发短信" in page


async def test_hand_back_tells_the_citizen_and_the_bot_answers_again(app, people):
    phone = new_phone()
    conv_id = await handed_over(app, phone=phone)
    await act(people["agent_a"], conv_id, "claim")
    r = await act(people["agent_a"], conv_id, "hand_back")
    assert r.status_code == 200 and r.json()["status"] == "bot"
    await settle(app["ctx"])
    assert "智能助手" in [m["Body"] for m in app["twilio"].sent if m["To"] == phone][-1]
    r = await post_twilio(app["http"], "/channels/sms/twilio", sms("低保怎么申请", phone))
    assert "收到：低保怎么申请" in r.text  # the bot again


async def test_resolve_ends_it_and_the_next_message_starts_with_the_bot(app, people):
    phone = new_phone()
    conv_id = await handed_over(app, phone=phone)
    await act(people["agent_b"], conv_id, "claim")
    assert (await act(people["agent_b"], conv_id, "resolve")).json()["status"] == "resolved"
    r = await post_twilio(app["http"], "/channels/sms/twilio", sms("还有一个问题", phone))
    assert "收到：还有一个问题" in r.text


async def test_release_and_transfer(app, people):
    conv_id = await handed_over(app)
    await act(people["agent_a"], conv_id, "claim")
    moved = await act(people["agent_a"], conv_id, "transfer", to=people["agent_b"].username)
    assert moved.json()["assignee"] == people["agent_b"].username
    assert (await act(people["agent_a"], conv_id, "reply", text="x")).status_code == 409
    bad = await act(people["agent_b"], conv_id, "transfer", to=people["clerk"].username)
    assert bad.status_code == 422  # a clerk without the desk cannot hold a conversation
    back = await act(people["agent_b"], conv_id, "release")
    assert back.json()["status"] == "pending" and back.json()["assignee"] is None


async def test_every_claim_message_view_and_hand_back_is_audited(app, people, sessions):
    conv_id = await handed_over(app)
    agent = people["agent_a"]
    await agent.client.get(f"/console/desk/conversations/{conv_id}")
    await act(agent, conv_id, "claim")
    await act(agent, conv_id, "reply", text="您好")
    await act(agent, conv_id, "hand_back")
    async with sessions() as s:
        rows = list(await s.scalars(select(AuditEntry).where(AuditEntry.actor == f"agent:{agent.username}")))
    mine = [r.action for r in rows if r.detail.get("conversation_id") == conv_id]
    assert mine == ["conversation_view", "conversation_claim", "conversation_message",
                    "conversation_hand_back"]
    assert all(r.ip for r in rows)


async def test_a_ticket_filed_from_the_conversation_links_back(app, people, sessions):
    phone = new_phone()
    conv_id = await handed_over(app, phone=phone)
    agent = people["agent_a"]
    await act(agent, conv_id, "claim")
    page = (await agent.client.get(f"/console/desk/conversations/{conv_id}")).text
    masked = f"{phone[3:6]}****{phone[-4:]}"
    assert f'name="phone" value="{masked}"' in page and phone[3:] not in page  # prefilled, masked
    r = await act(agent, conv_id, "ticket", program="dibao", region="430200", street="月塘街道",
                  citizen_name="王秀英", phone=masked, description="老伴瘫痪，家里没有收入")
    assert r.status_code == 200, r.text
    ref = r.json()["reference_no"]
    async with sessions() as s:
        t = await s.scalar(select(Ticket).where(Ticket.reference_no == ref))
    assert (t.conversation_id, t.channel, t.unit_code) == (str(conv_id), "sms", "430202001")
    assert t.citizen_phone == phone[3:]  # the masked number stood for the real one
    page = (await agent.client.get(f"/console/desk/conversations/{conv_id}")).text
    assert f'data-reference="{ref}"' in page and "王**" in page  # the citizen's tickets, masked
    # the clerk's ticket page links to the transcript, which the clerk may read
    clerk = people["clerk"]
    ticket_page = (await clerk.client.get(f"/console/tickets/{ref}")).text
    assert f'href="/console/desk/conversations/{conv_id}"' in ticket_page
    assert (await clerk.client.get(f"/console/desk/conversations/{conv_id}")).status_code == 200
    other = await handed_over(app)
    assert (await clerk.client.get(f"/console/desk/conversations/{other}")).status_code == 404


async def test_attach_a_conversation_to_an_existing_ticket(app, people, file_ticket_sms):
    """The agent holding a conversation links it to the caller's own earlier referral (one the
    bot or a clerk filed for the same phone number); another caller's referral is refused."""
    phone = new_phone()
    conv_id = await handed_over(app, phone=phone)
    ref = await file_ticket_sms(phone[3:])
    agent = people["agent_a"]
    assert (await act(agent, conv_id, "attach", reference_no=ref)).status_code == 409  # not claimed
    await act(agent, conv_id, "claim")
    r = await act(agent, conv_id, "attach", reference_no=ref)
    assert r.status_code == 200 and r.json()["reference_no"] == ref
    async with app["ctx"].sessions() as s:
        t = await s.scalar(select(Ticket).where(Ticket.reference_no == ref))
    assert t.conversation_id == str(conv_id)
    again = await act(agent, conv_id, "attach", reference_no=ref)  # a double submit
    assert again.status_code == 200 and again.json()["reference_no"] == ref
    other = await handed_over(app)  # another caller's conversation
    await act(agent, other, "claim")
    assert (await act(agent, other, "attach", reference_no=ref)).status_code == 422
    strangers = await file_ticket_sms("13800002222")
    assert (await act(agent, conv_id, "attach", reference_no=strangers)).status_code == 422
    unknown = await act(agent, conv_id, "attach", reference_no="12349-20000101-0001")
    assert unknown.status_code == 422


@pytest.fixture
def file_ticket_sms(app):
    async def file(phone: str) -> str:
        from referral import service

        req = service.NewReferral(program="tekun", region="320200", citizen_name="赵大爷",
                                  citizen_phone=phone, description="独居老人", channel="api")
        body, _ = await service.create_referral(app["ctx"].sessions, req, None, "test")
        return body["reference_no"]
    return file


@pytest.mark.parametrize("route", [
    ("GET", "/console/desk"), ("GET", "/console/desk/queue.json"), ("GET", "/console/desk/events"),
    ("GET", "/console/desk/canned"), ("POST", "/console/desk/conversations/{id}/claim"),
    ("POST", "/console/desk/conversations/{id}/reply"), ("POST", "/console/desk/conversations/{id}/note"),
    ("POST", "/console/desk/conversations/{id}/hand_back"), ("GET", "/console/desk/conversations/{id}"),
    ("GET", "/console/desk/conversations/{id}/messages.json"), ("GET", "/console/desk/supervisor"),
    ("POST", "/console/desk/canned"),
])
async def test_a_clerk_without_the_desk_is_refused_every_desk_route(app, people, route):
    method, path = route
    conv_id = await handed_over(app)
    clerk = people["clerk"]
    r = await clerk.client.request(method, path.format(id=conv_id), json={"text": "x"},
                                   headers={"X-CSRF-Token": clerk.csrf, "Accept": "application/json"})
    assert r.status_code in (403, 404), (path, r.status_code)  # 404: not a transcript of theirs
    if "conversations" not in path:
        assert r.status_code == 403
    async with app["ctx"].sessions() as s:
        assert (await s.get(Conversation, conv_id)).status == "pending"  # nothing changed


async def test_a_clerk_given_the_desk_and_a_supervisor_may_use_it(app, people):
    for who in ("desk_clerk", "supervisor"):
        assert (await people[who].client.get("/console/desk/queue.json")).status_code == 200
    assert (await people["agent_a"].client.get("/console/desk/supervisor")).status_code == 403
    assert (await people["supervisor"].client.get("/console/desk/supervisor")).status_code == 200
    # an agent goes to the desk, not to the ticket queue
    r = await people["agent_a"].client.get("/console/queue")
    assert r.status_code == 302 and r.headers["location"] == "/console/desk"


async def test_supervisors_edit_canned_replies_agents_use_them(app, people):
    sup = people["supervisor"]
    code = f"c{uuid.uuid4().hex[:4]}"
    r = await sup.post_form("/console/desk/canned", {"code": code, "text": "请您准备好户口本和身份证。"})
    assert r.status_code == 302
    page = (await people["agent_a"].client.get("/console/desk/canned")).text
    assert code in page and "请您准备好户口本和身份证。" in page
    denied = await people["agent_a"].post_form("/console/desk/canned", {"code": "x", "text": "y"})
    assert denied.status_code == 403
    conv_id = await handed_over(app)
    await act(people["agent_a"], conv_id, "claim")
    page = (await people["agent_a"].client.get(f"/console/desk/conversations/{conv_id}")).text
    assert "请您准备好户口本和身份证。" in page  # offered in the reply box


async def test_the_supervisor_sees_agents_waits_and_the_median_first_reply(app, people):
    sup = people["supervisor"].client
    before = (await sup.get("/console/desk/supervisor.json")).json()
    conv_id, waiting_long = await handed_over(app), await handed_over(app)
    async with app["ctx"].sessions() as s, s.begin():
        await s.execute(update(Conversation).where(Conversation.id == conv_id)
                        .values(pending_since=utcnow() - timedelta(seconds=90)))
        # older than any other test's handoff: the longest wait is this one's
        await s.execute(update(Conversation).where(Conversation.id == waiting_long)
                        .values(pending_since=utcnow() - timedelta(days=3)))
    await act(people["agent_a"], conv_id, "claim")
    await act(people["agent_a"], conv_id, "reply", text="您好")
    await desk.mark_online(app["ctx"].redis, Viewer(people["agent_b"].username, "agent"))
    f = (await sup.get("/console/desk/supervisor.json")).json()
    assert people["agent_b"].username in f["agents_online"]
    assert f["first_replies_today"] == before["first_replies_today"] + 1
    assert f["median_first_reply_s"] is not None
    assert f["waiting"] == before["waiting"] + 1  # two handed over, one claimed
    assert f["open"] == before["open"] + 1
    assert 3 * 86400 <= f["longest_wait_s"] < 3 * 86400 + 60
    await act(people["agent_a"], waiting_long, "claim")
    after = (await sup.get("/console/desk/supervisor.json")).json()
    assert after["waiting"] == before["waiting"] and after["longest_wait_s"] < 3 * 86400


async def test_nobody_claiming_in_time_files_a_call_back_ticket(app, sessions):
    phone = new_phone()
    conv_id = await handed_over(app, phone=phone)
    ctx = app["ctx"]
    async with sessions() as s, s.begin():
        await s.execute(update(Conversation).where(Conversation.id == conv_id)
                        .values(pending_since=utcnow() - timedelta(minutes=16)))
    # this sweep, or the app's own delivery loop running the same one: either way once
    await asyncio.gather(*[desk.call_back_unclaimed(sessions, ctx.outbound, ctx.settings) for _ in range(3)])
    await settle(ctx)
    async with sessions() as s:
        conv = await s.get(Conversation, conv_id)
        tickets = list(await s.scalars(select(Ticket).where(Ticket.conversation_id == str(conv_id))))
    assert conv.status == "resolved" and len(tickets) == 1
    (t,) = tickets
    assert t.department == "civil_affairs" and "回电" in t.description and t.citizen_phone == phone[3:]
    told = [m["Body"] for m in app["twilio"].sent if m["To"] == phone]
    assert len([b for b in told if t.reference_no in b and "回电" in b]) == 1


async def test_the_event_stream_shows_a_new_message_and_resumes_from_the_last_id(app, people):
    agent = people["agent_a"]
    url = f"{app['live'].url}/console/desk/events"

    async def first_events(headers, n=1, timeout=5.0) -> list[dict]:
        got = []
        async with httpx.AsyncClient(cookies=agent.client.cookies, timeout=timeout) as http:
            async with http.stream("GET", url, headers=headers) as resp:
                assert resp.status_code == 200
                assert resp.headers["content-type"].startswith("text/event-stream")
                event = {}
                async for line in resp.aiter_lines():
                    if line.startswith("id: "):
                        event["id"] = line[4:]
                    elif line.startswith("data: "):
                        event.update(json.loads(line[6:]))
                    elif line == "" and "id" in event:
                        got.append(event)
                        event = {}
                        if len(got) >= n:
                            return got
        return got

    last = (await app["ctx"].redis.xrevrange("events:conversations", count=1))[0][0]
    listening = asyncio.create_task(first_events({"Last-Event-ID": last}, n=1))
    await asyncio.sleep(0.3)
    conv_id = await handed_over(app, "你好")
    (event,) = await asyncio.wait_for(listening, 5)
    assert event["conversation_id"] == conv_id and event["kind"] == "message"
    # a page that lost its connection asks from the id it saw last: nothing is lost
    missed = await first_events({"Last-Event-ID": last}, n=2)  # the message in, the reply out
    assert missed[0]["id"] == event["id"] and missed[1]["conversation_id"] == conv_id


async def test_a_caller_who_pressed_0_waits_in_the_queue_and_the_desk_shows_the_call(app, people):
    from tests.services.channels.conftest import OUR_NUMBER, TWILIO_SID

    phone, sid = new_phone(), f"CA{uuid.uuid4().hex}"
    call = {"CallSid": sid, "AccountSid": TWILIO_SID, "From": phone, "To": OUR_NUMBER}
    await post_twilio(app["http"], "/channels/voice/twilio/gather?t=0&r=0",
                      {**call, "SpeechResult": "我想问问残疾人补贴"})
    await post_twilio(app["http"], "/channels/voice/twilio/gather?t=1&r=0", {**call, "Digits": "0"})
    queue = (await people["agent_a"].client.get("/console/desk/queue.json")).json()["waiting"]
    (row,) = [c for c in queue if c["channel"] == "voice" and c["contact"] == f"{phone[3:6]}****{phone[-4:]}"]
    assert row["reason"] == "keypad_0" and "残疾人补贴" in row["summary"] and phone not in row["summary"]
    await act(people["agent_a"], row["id"], "claim")
    page = (await people["agent_a"].client.get(f"/console/desk/conversations/{row['id']}")).text
    assert 'id="voice-call"' in page and 'id="reply-form"' not in page
    r = await act(people["agent_a"], row["id"], "reply", text="您好")
    assert r.status_code == 409 and r.json()["error"]["code"] == "voice"
