"""agent desk: notes, canned replies, claim and first-reply times, staff with desk access

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 16:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import hotline.db

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

UTC = hotline.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table('conversation_notes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.Integer(), nullable=False),
    sa.Column('author', sa.String(length=64), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', UTC, nullable=False),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'],
                            name=op.f('fk_conversation_notes_conversation_id_conversations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conversation_notes'))
    )
    op.create_index(op.f('ix_conversation_notes_conversation_id'), 'conversation_notes',
                    ['conversation_id'], unique=False)
    op.create_table('canned_replies',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.Column('updated_at', UTC, nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_canned_replies'))
    )
    with op.batch_alter_table('conversations', schema=None) as b:
        b.add_column(sa.Column('claimed_at', UTC, nullable=True))
        b.add_column(sa.Column('first_agent_reply_at', UTC, nullable=True))
    with op.batch_alter_table('staff_users', schema=None) as b:
        b.add_column(sa.Column('desk', sa.Boolean(), server_default=sa.text('false'), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('staff_users', schema=None) as b:
        b.drop_column('desk')
    with op.batch_alter_table('conversations', schema=None) as b:
        b.drop_column('first_agent_reply_at')
        b.drop_column('claimed_at')
    op.drop_table('canned_replies')
    op.drop_index(op.f('ix_conversation_notes_conversation_id'), table_name='conversation_notes')
    op.drop_table('conversation_notes')
