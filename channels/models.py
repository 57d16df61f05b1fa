"""Conversations, their messages (citizen, bot, agent, system) and SMS opt-outs. Owned by the
gateway (channels/); other packages call channels.gateway / channels.outbound, never these
tables."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy import text as sql
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db import Base, UTCDateTime, utcnow

# ARCHITECTURE.md §4.3: bot -> pending -> open -> resolved; a hand-back returns to bot.
STATUSES = ("bot", "pending", "open", "resolved")
WITH_A_PERSON = ("pending", "open")  # the bot is sent nothing while a person has it
PRIORITY = {"normal": 0, "urgent": 1, "crisis": 2}  # the pending queue's order, highest first

# Message states. Inbound: received (not yet handled) -> answered (the bot replied) | held (kept
# for a person) | attached (a reply to a ticket's request for information) | ignored (nothing to
# answer: an event, an opted-out number).
# Outbound: ready (the bot's reply, waiting for the webhook that may return it) -> passive (it
# went back in the webhook's own response) | queued -> sending -> sent -> delivered; failed (the
# provider refused it or retries ran out: dead letter, with the reason); suppressed (never sent:
# the citizen unsubscribed or opted out); unspoken (a voice reply the caller hung up before);
# internal (the bot's signal to the gateway, such as a handoff: never shown to the citizen).
INBOUND_STATES = ("received", "answered", "held", "attached", "ignored")
OUTBOUND_STATES = ("ready", "passive", "queued", "sending", "sent", "delivered", "failed",
                   "suppressed", "unspoken", "internal")


class Conversation(Base):
    """One citizen on one channel (a WeChat openid, a phone number for SMS or voice, a web-chat
    sender id), through every episode: the bot, a person, resolved, the bot again."""

    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("channel", "contact_id"),
        # The agents' waiting queue: pending first by priority, then by waiting time.
        Index("ix_conversations_queue", "status", "priority", "pending_since"),
        Index("ix_conversations_last_activity", "last_activity_at"),  # retention
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))  # web | wechat | sms | voice
    contact_id: Mapped[str] = mapped_column(String(128))  # channel's id of the citizen
    status: Mapped[str] = mapped_column(String(16), default="bot")  # STATUSES
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default=sql("0"))
    handoff_reason: Mapped[str | None] = mapped_column(String(32))
    handoff_summary: Mapped[str | None] = mapped_column(Text)
    pending_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    assignee: Mapped[str | None] = mapped_column(String(64))  # the person who holds it (open)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # this episode's
    first_agent_reply_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # this episode's
    waiting_told_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # told once a period
    phone: Mapped[str | None] = mapped_column(String(32))  # for SMS when WeChat cannot reach them
    # WeChat: customer-service messages reach the citizen for 48 h after their last message,
    # a few per message (ChannelSettings.wechat_window_quota).
    last_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    window_sent: Mapped[int] = mapped_column(Integer, default=0, server_default=sql("0"))
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    meta: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def sender_key(self) -> str:
        """The Rasa sender id: one tracker per channel contact."""
        return f"{self.channel}:{self.contact_id}"


class Message(Base):
    """Every message in and out, stored once, with the channel it went over and its delivery.
    Outbound messages are also the delivery queue: the worker sends the queued ones."""

    __tablename__ = "messages"
    __table_args__ = (
        # A retried inbound message (same channel message id) is one turn, never two.
        UniqueConstraint("conversation_id", "external_id"),
        Index("ix_messages_conversation_created", "conversation_id", "id"),
        Index("ix_messages_due", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    author: Mapped[str] = mapped_column(String(8))  # citizen | bot | agent | system
    channel: Mapped[str] = mapped_column(String(16))  # what it went over (SMS for a WeChat fallback)
    state: Mapped[str] = mapped_column(String(16))  # INBOUND_STATES / OUTBOUND_STATES
    external_id: Mapped[str | None] = mapped_column(String(128))  # the channel's id of an inbound
    provider_id: Mapped[str | None] = mapped_column(String(128), index=True)  # Twilio SID, WeChat msgid
    dedupe_key: Mapped[str | None] = mapped_column(String(96), unique=True)  # e.g. outbox:17
    reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), index=True)
    text: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict | None] = mapped_column(JSON)
    detail: Mapped[str | None] = mapped_column(Text)  # delivery path and why: "窗口已关闭，改发短信"
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=sql("0"))
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())  # a worker is sending it
    reply_by: Mapped[datetime | None] = mapped_column(UTCDateTime())  # the webhook's deadline
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ConversationNote(Base):
    """An agent's private note on a conversation: the citizen never sees it."""

    __tablename__ = "conversation_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    author: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CannedReply(Base):
    """A short code an agent types for a prepared reply (supervisors edit them)."""

    __tablename__ = "canned_replies"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SmsOptOut(Base):
    """A phone number that sent 退订 / TD / STOP (or that Twilio reports as opted out): it gets
    nothing until it sends START / 订阅."""

    __tablename__ = "sms_opt_outs"

    phone: Mapped[str] = mapped_column(String(32), primary_key=True)
    keyword: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))  # citizen | twilio
    opted_out_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
