"""先行救助: when the first help was given (the clerk records it) and when the sweep found it
overdue, with a partial index of the running fast-path referrals still waiting for it.

Existing referrals keep both empty: a fast path filed before this revision is swept like a new
one (its deadline was already stored by 0010).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 10:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import hotline.db

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

RUNNING = "status IN ('new','accepted','in_progress','transferred','reopened')"
WHERE = sa.text(f"{RUNNING} AND fast_path_given_at IS NULL AND fast_path_breached_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as b:
        b.add_column(sa.Column("fast_path_given_at", hotline.db.UTCDateTime(), nullable=True))
        b.add_column(sa.Column("fast_path_breached_at", hotline.db.UTCDateTime(), nullable=True))
    op.create_index("ix_tickets_sweep_first_help", "tickets", ["fast_path_due"],
                    postgresql_where=WHERE, sqlite_where=WHERE)


def downgrade() -> None:
    op.drop_index("ix_tickets_sweep_first_help", table_name="tickets")
    with op.batch_alter_table("tickets", schema=None) as b:
        b.drop_column("fast_path_breached_at")
        b.drop_column("fast_path_given_at")
