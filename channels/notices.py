"""Referral notices (accepted / waiting_citizen / resolved) from the referral outbox to the
citizen, through the outbound path: on the conversation the ticket came from, else by SMS to the
ticket's phone; what became of each is reported back to the ticket."""

from __future__ import annotations

import logging

from channels.models import Conversation, Message
from channels.outbound import Outbound
from channels.phones import e164
from referral import service as referral

log = logging.getLogger(__name__)


async def _conversation(outbound: Outbound, notice: dict) -> int | None:
    ref = notice.get("conversation_id") or ""
    if ref.isdigit():
        async with outbound.sf() as s:
            conv = await s.get(Conversation, int(ref))
        if conv is not None:
            return conv.id
    phone = e164(notice.get("phone"))
    return await outbound.conversation_for("sms", phone, phone) if phone else None


async def relay(outbound: Outbound, limit: int = 50) -> int:
    """Hand the outbox's pending notices to the outbound path (once each: the message's dedupe
    key is the outbox row, so a relay that runs twice sends nothing twice)."""
    handed = 0
    for notice in await referral.pending_notifications(outbound.sf, limit):
        conv_id = await _conversation(outbound, notice)
        if conv_id is None:
            await referral.notification_result(outbound.sf, notice["id"], "failed",
                                               "没有可用的联系渠道（无会话、无手机号）")
            continue
        msg = await outbound.send(
            conv_id, notice["text"], "system", dedupe_key=f"outbox:{notice['id']}",
            phone=notice["phone"],
            payload={"notice": notice["kind"], "params": notice["params"], "outbox_id": notice["id"],
                     "reference_no": notice["reference_no"],
                     **({"expects_reply": notice["reference_no"]}
                        if notice["kind"] == "waiting_citizen" else {})})
        await referral.notification_handed(outbound.sf, notice["id"], msg.id)
        handed += 1
    return handed


def delivered(sf):
    """The outbound path's hook: a notice's final state goes back to its ticket."""
    async def report(message: Message) -> None:
        outbox_id = (message.payload or {}).get("outbox_id")
        if outbox_id:
            await referral.notification_result(sf, outbox_id, message.state,
                                               message.detail or "")
    return report
