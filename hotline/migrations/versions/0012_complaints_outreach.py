"""投诉 and 主动发现: complaints with their history, kept eligibility screens and re-screens,
outreach (reminders, offers to re-apply, complaint outcomes) and the agents' call-back list;
tickets gain the dates the citizen is reminded of (a benefit's end, a review).

Nothing existing changes meaning: existing tickets have no benefit dates (no reminders until a
clerk sets them) and there are no screens to re-screen before this revision.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 10:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

from hotline.db import ACTOR_CHARS, UTCDateTime

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "complaints",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("reference_no", sa.String(24), nullable=False, unique=True),
        sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("tickets.id"), nullable=True),
        sa.Column("department", sa.String(32), nullable=False),
        sa.Column("linked_to_id", sa.Integer(), sa.ForeignKey("complaints.id"), nullable=True),
        sa.Column("what_happened", sa.Text(), nullable=False),
        sa.Column("wants", sa.Text(), nullable=True),
        sa.Column("citizen_phone", sa.String(32), nullable=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=True),
        sa.Column("filed_by", sa.String(ACTOR_CHARS), nullable=False),
        sa.Column("source_key", sa.String(128), nullable=False, unique=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.Column("escalated_at", UTCDateTime(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("answered_by", sa.String(ACTOR_CHARS), nullable=True),
        sa.Column("answered_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_complaints_department_status", "complaints", ["department", "status"])
    op.create_index("ix_complaints_ticket_id", "complaints", ["ticket_id"])
    op.create_index("ix_complaints_conversation_id", "complaints", ["conversation_id"])
    op.create_table(
        "complaint_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("complaint_id", sa.Integer(), sa.ForeignKey("complaints.id"), nullable=False),
        sa.Column("actor", sa.String(ACTOR_CHARS), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_complaint_events_complaint_id", "complaint_events", ["complaint_id"])
    op.create_table(
        "screens",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("region", sa.String(6), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("statuses", sa.JSON(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("consent_at", UTCDateTime(), nullable=True),
        sa.Column("channel", sa.String(16), nullable=True),
        sa.Column("conversation_id", sa.Integer(), nullable=True),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_screens_region_created", "screens", ["region", "created_at"])
    op.create_table(
        "rescreens",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("region", sa.String(6), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("changed", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("region", "as_of"),
    )
    op.create_table(
        "outreach",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("reason_key", sa.String(160), nullable=False, unique=True),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("complaint_id", sa.Integer(), nullable=True),
        sa.Column("screen_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(16), nullable=True),
        sa.Column("conversation_id", sa.Integer(), nullable=True),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("not_before", UTCDateTime(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("handed_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_outreach_pending", "outreach", ["status", "not_before"])
    op.create_table(
        "call_backs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("source_key", sa.String(128), nullable=False, unique=True),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("conversation_id", sa.Integer(), nullable=True),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("result", sa.String(16), nullable=True),
        sa.Column("attempts", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(ACTOR_CHARS), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_call_backs_status", "call_backs", ["status", "created_at"])
    with op.batch_alter_table("tickets", schema=None) as b:
        b.add_column(sa.Column("benefit_kind", sa.String(16), nullable=True))
        b.add_column(sa.Column("benefit_ends_on", sa.Date(), nullable=True))
        b.add_column(sa.Column("review_on", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as b:
        b.drop_column("review_on")
        b.drop_column("benefit_ends_on")
        b.drop_column("benefit_kind")
    op.drop_index("ix_call_backs_status", table_name="call_backs")
    op.drop_table("call_backs")
    op.drop_index("ix_outreach_pending", table_name="outreach")
    op.drop_table("outreach")
    op.drop_table("rescreens")
    op.drop_index("ix_screens_region_created", table_name="screens")
    op.drop_table("screens")
    op.drop_index("ix_complaint_events_complaint_id", table_name="complaint_events")
    op.drop_table("complaint_events")
    op.drop_index("ix_complaints_conversation_id", table_name="complaints")
    op.drop_index("ix_complaints_ticket_id", table_name="complaints")
    op.drop_index("ix_complaints_department_status", table_name="complaints")
    op.drop_table("complaints")
