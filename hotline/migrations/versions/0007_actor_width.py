"""actor columns wide enough for "role:username" (a 64-character username broke every ticket
view and change on PostgreSQL)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 07:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

from hotline.db import ACTOR_CHARS

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

COLUMNS = (("ticket_events", "actor"), ("audit_log", "actor"), ("unit_edits", "updated_by"))


def upgrade() -> None:
    for table, column in COLUMNS:
        with op.batch_alter_table(table, schema=None) as b:
            b.alter_column(column, existing_type=sa.String(length=64),
                           type_=sa.String(length=ACTOR_CHARS), existing_nullable=False)


def downgrade() -> None:
    for table, column in COLUMNS:
        with op.batch_alter_table(table, schema=None) as b:
            b.alter_column(column, existing_type=sa.String(length=ACTOR_CHARS),
                           type_=sa.String(length=64), existing_nullable=False)
