"""Referral notices reach the citizen on the channel they used (with the fallbacks), the clerk
sees what became of each, and the citizen's answer to a request for information goes on the
ticket and restarts its clock."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select, update

from channels.models import Conversation
from hotline.db import utcnow
from hotline.worker import deliver_once
from referral import service
from referral.access import Viewer
from referral.models import OutboxMessage, Ticket
from tests.services.channels.conftest import new_phone, post_twilio, post_wechat, read_reply, sms, wechat_text

CLERK = Viewer("li", "staff", "civil_affairs")


async def file(ctx, channel: str, conversation_id: str | None, phone: str) -> str:
    req = service.NewReferral(program="temporary", region="430200", citizen_name="刘桂芬",
                              citizen_phone=phone, description=f"家里失火 {uuid.uuid4().hex[:6]}",
                              channel=channel, conversation_id=conversation_id)
    body, _ = await service.create_referral(ctx.sessions, req, None, "test")
    return body["reference_no"]


async def ticket(ctx, ref: str) -> Ticket:
    async with ctx.sessions() as s:
        return await s.scalar(select(Ticket).where(Ticket.reference_no == ref))


async def notices(ctx, ref: str) -> list[OutboxMessage]:
    t = await ticket(ctx, ref)
    async with ctx.sessions() as s:
        return list(await s.scalars(select(OutboxMessage).where(OutboxMessage.ticket_id == t.id)
                                    .order_by(OutboxMessage.id)))


async def relay(ctx) -> None:
    """What the worker does every few seconds."""
    await deliver_once(ctx)
    await ctx.outbound.drain()


async def wechat_citizen(app) -> tuple[str, int]:
    oid = f"o{uuid.uuid4().hex[:27]}"
    await post_wechat(app["http"], wechat_text(oid, "我家着火了"))
    async with app["ctx"].sessions() as s:
        conv = await s.scalar(select(Conversation).where(Conversation.contact_id == oid))
    return oid, conv.id


async def test_a_request_for_information_reaches_wechat_and_the_answer_resumes_the_ticket(app):
    ctx = app["ctx"]
    oid, conv_id = await wechat_citizen(app)
    ref = await file(ctx, "wechat", str(conv_id), "13900002222")
    await service.claim(ctx.sessions, CLERK, ref)
    await service.request_info(ctx.sessions, CLERK, ref, "请补充户口簿照片")
    await relay(ctx)
    texts = [m["text"]["content"] for m in app["wechat"].sent if m["touser"] == oid]
    assert any("受理" in t and ref in t for t in texts)
    assert any("请补充户口簿照片" in t and ref in t for t in texts)
    assert [(n.kind, n.status) for n in await notices(ctx, ref)] == \
        [("accepted", "sent"), ("waiting_citizen", "sent")]
    paused = await ticket(ctx, ref)
    assert paused.status == "waiting_citizen" and paused.paused_at is not None
    # the citizen took two weeks (some working days, whatever the day the test runs: a pause
    # over a weekend alone gives nothing back, test_sla_clocks counts it exactly)
    async with ctx.sessions() as s, s.begin():
        await s.execute(update(Ticket).where(Ticket.reference_no == ref)
                        .values(paused_at=paused.paused_at - timedelta(days=14)))
    before = len(app["rasa"].received)
    r = await post_wechat(app["http"], wechat_text(oid, "户口簿照片我让孙子拍了，马上发"))
    assert ref in read_reply(r.text)["Content"] and len(app["rasa"].received) == before
    resumed = await ticket(ctx, ref)
    assert resumed.status == "in_progress" and resumed.paused_at is None
    assert resumed.resolution_due > paused.resolution_due  # the wait did not count
    assert [datetime.fromisoformat(a) for a, _ in resumed.pauses] == [paused.paused_at - timedelta(days=14)]
    detail = await service.get_ticket(ctx.sessions, CLERK, ref)
    reply = [e for e in detail["events"] if e["kind"] == "citizen_reply"]
    assert reply and reply[0]["data"]["text"] == "户口簿照片我让孙子拍了，马上发"
    # the next message is the bot's again
    await post_wechat(app["http"], wechat_text(oid, "谢谢"))
    assert len(app["rasa"].received) == before + 1


async def test_outside_the_window_the_notice_goes_by_sms_and_the_sms_answer_counts(app):
    ctx = app["ctx"]
    oid, conv_id = await wechat_citizen(app)
    async with ctx.sessions() as s, s.begin():
        await s.execute(update(Conversation).where(Conversation.id == conv_id)
                        .values(last_inbound_at=utcnow() - timedelta(hours=50)))
    phone = new_phone()
    ref = await file(ctx, "wechat", str(conv_id), phone)
    await service.claim(ctx.sessions, CLERK, ref)
    await service.request_info(ctx.sessions, CLERK, ref, "请补充收入证明")
    await relay(ctx)
    bodies = [m["Body"] for m in app["twilio"].sent if m["To"] == phone]
    assert any("请补充收入证明" in b for b in bodies)
    assert not [m for m in app["wechat"].sent if m["touser"] == oid and ref in m["text"]["content"]]
    (accepted, waiting) = await notices(ctx, ref)
    assert waiting.status == "sent" and "48小时" in waiting.detail and "短信" in waiting.detail
    r = await post_twilio(app["http"], "/channels/sms/twilio", sms("收入证明明天去村里开", phone))
    assert ref in r.text
    assert (await ticket(ctx, ref)).status == "in_progress"


async def test_a_ticket_filed_by_an_agent_is_notified_by_sms(app):
    ctx = app["ctx"]
    phone = new_phone()
    ref = await file(ctx, "api", None, "+86 " + phone[3:6] + " " + phone[6:10] + " " + phone[10:])
    await service.claim(ctx.sessions, CLERK, ref)
    await relay(ctx)
    (sent,) = [m for m in app["twilio"].sent if m["To"] == phone]
    assert "已由民政受理" in sent["Body"] and ref in sent["Body"]


async def test_an_undeliverable_notice_flags_the_ticket_for_the_clerk(app):
    ctx = app["ctx"]
    phone = new_phone()
    await post_twilio(app["http"], "/channels/sms/twilio", sms("退订", phone))
    ref = await file(ctx, "sms", None, phone)
    await service.claim(ctx.sessions, CLERK, ref)
    await service.request_info(ctx.sessions, CLERK, ref, "请补充残疾证")
    await relay(ctx)
    assert not [m for m in app["twilio"].sent if m["To"] == phone and ref in m["Body"]]
    t = await ticket(ctx, ref)
    assert t.notice_failed_at is not None and t.status == "waiting_citizen"
    rows, _ = await service.list_tickets(ctx.sessions, CLERK, q=ref)
    assert rows[0]["notice_failed"]
    detail = await service.get_ticket(ctx.sessions, CLERK, ref)
    assert [n["status"] for n in detail["notices"]] == ["suppressed", "suppressed"]
    assert "退订" in detail["notices"][-1]["detail"]
    # relaying again sends nothing twice
    await relay(ctx)
    assert len(await notices(ctx, ref)) == 2
