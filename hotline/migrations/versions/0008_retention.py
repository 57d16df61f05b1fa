"""retention: tickets remember when their personal data was redacted; conversations are found
by their last activity (hotline/retention.py). SLA: the resolution clock's start and the time
spent waiting for the citizen, so a transfer keeps counting from filing.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 12:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import hotline.db

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as b:
        b.add_column(sa.Column("redacted_at", hotline.db.UTCDateTime(), nullable=True))
        b.add_column(sa.Column("resolution_clock_from", hotline.db.UTCDateTime(), nullable=True))
        b.add_column(sa.Column("paused_total_s", sa.Integer(), nullable=False,
                               server_default=sa.text("0")))
    op.create_index("ix_conversations_last_activity", "conversations", ["last_activity_at"])
    op.create_index("ix_idempotency_keys_created", "idempotency_keys", ["created_at"])
    op.create_index("ix_audit_log_created", "audit_log", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_created", table_name="audit_log")
    op.drop_index("ix_idempotency_keys_created", table_name="idempotency_keys")
    op.drop_index("ix_conversations_last_activity", table_name="conversations")
    with op.batch_alter_table("tickets", schema=None) as b:
        b.drop_column("paused_total_s")
        b.drop_column("resolution_clock_from")
        b.drop_column("redacted_at")
