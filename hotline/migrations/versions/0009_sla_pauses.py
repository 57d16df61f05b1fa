"""SLA: the citizen's waits are kept as intervals (tickets.pauses), so their working time, not
their wall-clock length, is credited, and credited again in a new policy's unit on transfer.

The old total in seconds (paused_total_s) does not say when the waits were; it becomes one
interval ending at the ticket's last change, the best the row can tell. Deadlines already
shifted stay as they are until the next transfer recomputes them.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 12:00:00.000000
"""

from datetime import datetime, timedelta

import sqlalchemy as sa
from alembic import op

import hotline.db

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

tickets = sa.table("tickets", sa.column("id", sa.Integer), sa.column("updated_at", hotline.db.UTCDateTime()),
                   sa.column("paused_total_s", sa.Integer), sa.column("pauses", sa.JSON))


def upgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as b:
        b.add_column(sa.Column("pauses", sa.JSON(), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(sa.select(tickets.c.id, tickets.c.updated_at, tickets.c.paused_total_s)
                        .where(tickets.c.paused_total_s > 0)).all()
    for ticket_id, updated_at, total_s in rows:
        end = updated_at
        conn.execute(tickets.update().where(tickets.c.id == ticket_id).values(
            pauses=[[(end - timedelta(seconds=total_s)).isoformat(), end.isoformat()]]))
    conn.execute(tickets.update().where(tickets.c.pauses.is_(None)).values(pauses=[]))
    with op.batch_alter_table("tickets", schema=None) as b:
        b.alter_column("pauses", existing_type=sa.JSON(), nullable=False)
        b.drop_column("paused_total_s")


def downgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as b:
        b.add_column(sa.Column("paused_total_s", sa.Integer(), nullable=False,
                               server_default=sa.text("0")))
    conn = op.get_bind()
    for ticket_id, pauses in conn.execute(sa.select(tickets.c.id, tickets.c.pauses)).all():
        total = sum((datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()
                    for a, b in pauses or [])
        if total:
            conn.execute(tickets.update().where(tickets.c.id == ticket_id)
                         .values(paused_total_s=int(total)))
    with op.batch_alter_table("tickets", schema=None) as b:
        b.drop_column("pauses")
