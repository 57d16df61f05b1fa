"""Conversations and their messages (citizen, bot, agent). Owned by the gateway."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db import Base, UTCDateTime, utcnow


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("channel", "contact_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))  # web | wechat | sms | voice
    contact_id: Mapped[str] = mapped_column(String(128))  # channel's id of the citizen
    status: Mapped[str] = mapped_column(String(16), default="bot")  # bot | handoff | agent | closed
    meta: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def sender_key(self) -> str:
        """The Rasa sender id: one tracker per channel contact."""
        return f"{self.channel}:{self.contact_id}"


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        # A retried inbound message (same channel message id) is one turn, never two.
        UniqueConstraint("conversation_id", "external_id"),
        Index("ix_messages_conversation_created", "conversation_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    author: Mapped[str] = mapped_column(String(8))  # citizen | bot | agent | system
    external_id: Mapped[str | None] = mapped_column(String(128))
    reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    text: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
