"""channels: conversation states bot/pending/open/resolved, messages as the delivery queue, SMS
opt-outs, outbox notices handed to the channels

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 14:00:00.000000
"""

import json

import sqlalchemy as sa
from alembic import op

import hotline.db

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

UTC = hotline.db.UTCDateTime(timezone=True)
STATUS_MAP = {'handoff': 'pending', 'agent': 'open', 'closed': 'resolved'}


def upgrade() -> None:
    op.create_table('sms_opt_outs',
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.Column('keyword', sa.String(length=32), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('opted_out_at', UTC, nullable=False),
    sa.PrimaryKeyConstraint('phone', name=op.f('pk_sms_opt_outs'))
    )
    with op.batch_alter_table('conversations', schema=None) as b:
        b.add_column(sa.Column('priority', sa.Integer(), server_default=sa.text('0'), nullable=False))
        b.add_column(sa.Column('handoff_reason', sa.String(length=32), nullable=True))
        b.add_column(sa.Column('handoff_summary', sa.Text(), nullable=True))
        b.add_column(sa.Column('pending_since', UTC, nullable=True))
        b.add_column(sa.Column('assignee', sa.String(length=64), nullable=True))
        b.add_column(sa.Column('waiting_told_at', UTC, nullable=True))
        b.add_column(sa.Column('phone', sa.String(length=32), nullable=True))
        b.add_column(sa.Column('last_inbound_at', UTC, nullable=True))
        b.add_column(sa.Column('window_sent', sa.Integer(), server_default=sa.text('0'), nullable=False))
        b.add_column(sa.Column('unsubscribed_at', UTC, nullable=True))
        b.create_index('ix_conversations_queue', ['status', 'priority', 'pending_since'], unique=False)
    with op.batch_alter_table('messages', schema=None) as b:
        b.add_column(sa.Column('channel', sa.String(length=16), server_default='web', nullable=False))
        b.add_column(sa.Column('state', sa.String(length=16), server_default='answered', nullable=False))
        b.add_column(sa.Column('provider_id', sa.String(length=128), nullable=True))
        b.add_column(sa.Column('dedupe_key', sa.String(length=96), nullable=True))
        b.add_column(sa.Column('detail', sa.Text(), nullable=True))
        b.add_column(sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False))
        b.add_column(sa.Column('next_attempt_at', UTC, nullable=True))
        b.add_column(sa.Column('lease_until', UTC, nullable=True))
        b.add_column(sa.Column('reply_by', UTC, nullable=True))
        b.add_column(sa.Column('updated_at', UTC, nullable=True))
        b.create_index('ix_messages_due', ['state', 'next_attempt_at'], unique=False)
        b.create_index(b.f('ix_messages_provider_id'), ['provider_id'], unique=False)
        b.create_index(b.f('ix_messages_reply_to_id'), ['reply_to_id'], unique=False)
        b.create_unique_constraint(b.f('uq_messages_dedupe_key'), ['dedupe_key'])
    with op.batch_alter_table('outbox', schema=None) as b:
        b.add_column(sa.Column('params', sa.JSON(), nullable=True))
        b.add_column(sa.Column('message_id', sa.Integer(), nullable=True))
        b.add_column(sa.Column('detail', sa.Text(), nullable=True))
    with op.batch_alter_table('tickets', schema=None) as b:
        b.add_column(sa.Column('notice_failed_at', UTC, nullable=True))
        b.create_index(b.f('ix_tickets_conversation_id'), ['conversation_id'], unique=False)

    conn = op.get_bind()
    for old, new in STATUS_MAP.items():
        conn.execute(sa.text("UPDATE conversations SET status = :new WHERE status = :old"),
                     {"new": new, "old": old})
    conn.execute(sa.text("UPDATE conversations SET pending_since = last_activity_at "
                         "WHERE status = 'pending'"))
    # The channel a message went over is its conversation's; outbound messages were replies
    # returned in the request (web chat), inbound ones unanswered unless marked answered.
    conn.execute(sa.text("UPDATE messages SET channel = (SELECT c.channel FROM conversations c "
                         "WHERE c.id = messages.conversation_id)"))
    conn.execute(sa.text("UPDATE messages SET state = 'passive' WHERE direction = 'out'"))
    rows = conn.execute(sa.text("SELECT id, payload FROM messages WHERE direction = 'in'")).all()
    for row in rows:
        payload = row.payload if isinstance(row.payload, dict) else json.loads(row.payload or "{}")
        state = "answered" if (payload or {}).get("answered") else "received"
        conn.execute(sa.text("UPDATE messages SET state = :s WHERE id = :i"), {"s": state, "i": row.id})
    conn.execute(sa.text("UPDATE outbox SET params = '{}' WHERE params IS NULL"))
    with op.batch_alter_table('outbox', schema=None) as b:
        b.alter_column('params', existing_type=sa.JSON(), nullable=False)
    with op.batch_alter_table('messages', schema=None) as b:
        b.alter_column('channel', server_default=None)
        b.alter_column('state', server_default=None)


def downgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as b:
        b.drop_index(b.f('ix_tickets_conversation_id'))
        b.drop_column('notice_failed_at')
    with op.batch_alter_table('outbox', schema=None) as b:
        b.drop_column('detail')
        b.drop_column('message_id')
        b.drop_column('params')
    with op.batch_alter_table('messages', schema=None) as b:
        b.drop_constraint(b.f('uq_messages_dedupe_key'), type_='unique')
        b.drop_index(b.f('ix_messages_reply_to_id'))
        b.drop_index(b.f('ix_messages_provider_id'))
        b.drop_index('ix_messages_due')
        for col in ('updated_at', 'reply_by', 'lease_until', 'next_attempt_at', 'attempts',
                    'detail', 'dedupe_key', 'provider_id', 'state', 'channel'):
            b.drop_column(col)
    with op.batch_alter_table('conversations', schema=None) as b:
        b.drop_index('ix_conversations_queue')
        for col in ('unsubscribed_at', 'window_sent', 'last_inbound_at', 'phone', 'waiting_told_at',
                    'assignee', 'pending_since', 'handoff_summary', 'handoff_reason', 'priority'):
            b.drop_column(col)
    op.drop_table('sms_opt_outs')
