"""一门受理: cases (one household's request) holding one referral per department and program.

Every existing ticket becomes a case of its own, with the ticket's number as the case's (the
number the citizen was told keeps working) and the ticket's contact; a ticket already done
makes a closed case. Tickets gain what they asked for (amount_yuan) and the region's path for
it (pathway, fast_path_due: 救急难 tiers, 先行救助).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 13:40:00.000000
"""

import sqlalchemy as sa
from alembic import op

import hotline.db

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None



def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("reference_no", sa.String(24), nullable=False, unique=True),
        sa.Column("region", sa.String(6), nullable=False),
        sa.Column("citizen_name", sa.String(64), nullable=False),
        sa.Column("citizen_phone", sa.String(32), nullable=False),
        sa.Column("citizen_id_masked", sa.String(24), nullable=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("conversation_id", sa.String(128), nullable=True),
        sa.Column("screen", sa.JSON(), nullable=False),
        sa.Column("opened_by", sa.String(hotline.db.ACTOR_CHARS), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("closed_at", hotline.db.UTCDateTime(), nullable=True),
        sa.Column("created_at", hotline.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", hotline.db.UTCDateTime(), nullable=False),
    )
    op.create_index("ix_cases_conversation_id", "cases", ["conversation_id"])
    with op.batch_alter_table("tickets", schema=None) as b:
        b.add_column(sa.Column("case_id", sa.Integer(), nullable=True))
        b.add_column(sa.Column("amount_yuan", sa.Integer(), nullable=True))
        b.add_column(sa.Column("pathway", sa.JSON(), nullable=True))
        b.add_column(sa.Column("fast_path_due", hotline.db.UTCDateTime(), nullable=True))
    # One statement each, whatever the number of tickets: a case per ticket, then its link.
    op.execute("""
        INSERT INTO cases (reference_no, region, citizen_name, citizen_phone, citizen_id_masked,
                           channel, conversation_id, screen, opened_by, status, closed_at,
                           created_at, updated_at)
        SELECT reference_no, region, citizen_name, citizen_phone, citizen_id_masked, channel,
               conversation_id, '{}', 'migration:0010',
               CASE WHEN status IN ('resolved', 'closed') THEN 'closed' ELSE 'open' END,
               CASE WHEN status IN ('resolved', 'closed') THEN COALESCE(resolved_at, updated_at) END,
               created_at, updated_at
        FROM tickets ORDER BY id""")
    op.execute("UPDATE tickets SET case_id = (SELECT cases.id FROM cases "
               "WHERE cases.reference_no = tickets.reference_no), pathway = '{}'")
    with op.batch_alter_table("tickets", schema=None) as b:
        b.alter_column("case_id", existing_type=sa.Integer(), nullable=False)
        b.alter_column("pathway", existing_type=sa.JSON(), nullable=False)
        b.create_foreign_key("fk_tickets_case_id", "cases", ["case_id"], ["id"])
        b.create_index("ix_tickets_case_id", ["case_id"])


def downgrade() -> None:
    # A case of several referrals cannot be one ticket again: its referrals stay tickets, each
    # with its own number (the case's number is its first referral's).
    with op.batch_alter_table("tickets", schema=None) as b:
        b.drop_index("ix_tickets_case_id")
        b.drop_constraint("fk_tickets_case_id", type_="foreignkey")
        b.drop_column("fast_path_due")
        b.drop_column("pathway")
        b.drop_column("amount_yuan")
        b.drop_column("case_id")
    op.drop_index("ix_cases_conversation_id", table_name="cases")
    op.drop_table("cases")
