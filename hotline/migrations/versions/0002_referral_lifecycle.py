"""referral lifecycle, SLA events, audit log, outbox

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 08:19:02.396652
"""

import sqlalchemy as sa
from alembic import op

import hotline.db

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

RUNNING = "status IN ('new','accepted','in_progress','transferred','reopened')"
SWEEP_INDEXES = [
    ('ix_tickets_sweep_first_response_warn', 'first_response_warn_at',
     "first_responded_at IS NULL AND first_response_warned_at IS NULL"),
    ('ix_tickets_sweep_resolution_warn', 'resolution_warn_at', "resolution_warned_at IS NULL"),
    ('ix_tickets_sweep_first_response_due', 'first_response_due',
     "first_responded_at IS NULL AND first_response_breached_at IS NULL"),
    ('ix_tickets_sweep_resolution_due', 'resolution_due', "resolution_breached_at IS NULL"),
    ('ix_tickets_sweep_coordinator', 'resolution_due', "escalation_level < 2"),
]


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('created_at', hotline.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_audit_log_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    op.create_index(op.f('ix_audit_log_actor'), 'audit_log', ['actor'], unique=False)
    op.create_index(op.f('ix_audit_log_ticket_id'), 'audit_log', ['ticket_id'], unique=False)
    op.create_table('outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dedupe_key', sa.String(length=96), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('conversation_id', sa.String(length=128), nullable=True),
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', hotline.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', hotline.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', hotline.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_outbox_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_outbox_dedupe_key'))
    )
    op.create_index('ix_outbox_pending', 'outbox', ['status', 'next_attempt_at'], unique=False)
    op.create_index(op.f('ix_outbox_ticket_id'), 'outbox', ['ticket_id'], unique=False)
    op.create_table('sla_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('target', sa.String(length=16), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('cycle', sa.Integer(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('created_at', hotline.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_sla_events_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_events')),
    sa.UniqueConstraint('ticket_id', 'target', 'kind', 'level', 'cycle', name=op.f('uq_sla_events_ticket_id'))
    )
    op.create_index(op.f('ix_sla_events_ticket_id'), 'sla_events', ['ticket_id'], unique=False)
    # Existing rows get defaults; "approaching" marks start at the deadlines themselves.
    with op.batch_alter_table('tickets') as b:
        b.add_column(sa.Column('handling_unit', sa.String(length=64), nullable=True))
        b.add_column(sa.Column('citizen_id_masked', sa.String(length=24), nullable=True))
        b.add_column(sa.Column('priority', sa.Integer(), nullable=False, server_default='0'))
        b.add_column(sa.Column('escalation_level', sa.Integer(), nullable=False, server_default='0'))
        b.add_column(sa.Column('assignee', sa.String(length=64), nullable=True))
        b.add_column(sa.Column('result', sa.Text(), nullable=True))
        b.add_column(sa.Column('sla_policy', sa.String(length=64), nullable=False,
                               server_default='default'))
        b.add_column(sa.Column('sla_cycle', sa.Integer(), nullable=False, server_default='0'))
        b.add_column(sa.Column('applied_sla', sa.JSON(), nullable=False, server_default='{}'))
        b.add_column(sa.Column('first_response_warn_at', hotline.db.UTCDateTime(timezone=True),
                               nullable=True))
        b.add_column(sa.Column('resolution_warn_at', hotline.db.UTCDateTime(timezone=True),
                               nullable=True))
        b.add_column(sa.Column('first_responded_at', hotline.db.UTCDateTime(timezone=True),
                               nullable=True))
        for marker in ('first_response_warned_at', 'resolution_warned_at',
                       'first_response_breached_at', 'resolution_breached_at'):
            b.add_column(sa.Column(marker, hotline.db.UTCDateTime(timezone=True), nullable=True))
        b.add_column(sa.Column('paused_at', hotline.db.UTCDateTime(timezone=True), nullable=True))
        b.add_column(sa.Column('resolved_at', hotline.db.UTCDateTime(timezone=True), nullable=True))
    op.execute("UPDATE tickets SET first_response_warn_at = first_response_due, "
               "resolution_warn_at = resolution_due")
    with op.batch_alter_table('tickets') as b:
        b.alter_column('first_response_warn_at', nullable=False)
        b.alter_column('resolution_warn_at', nullable=False)
    op.drop_index(op.f('ix_tickets_queue'), table_name='tickets')
    op.create_index('ix_tickets_department_status', 'tickets', ['department', 'status'], unique=False)
    op.create_index('ix_tickets_open_queue', 'tickets', ['department', sa.literal_column('priority DESC'), 'resolution_due'], unique=False, postgresql_where=sa.text("status IN ('new','accepted','in_progress','waiting_citizen','transferred','reopened')"), sqlite_where=sa.text("status IN ('new','accepted','in_progress','waiting_citizen','transferred','reopened')"))
    for name, column, condition in SWEEP_INDEXES:
        where = sa.text(f"{RUNNING} AND {condition}")
        op.create_index(name, 'tickets', [column], postgresql_where=where, sqlite_where=where)


def downgrade() -> None:
    for name, _, _ in SWEEP_INDEXES:
        op.drop_index(name, table_name='tickets')
    op.drop_index('ix_tickets_open_queue', table_name='tickets', postgresql_where=sa.text("status IN ('new','accepted','in_progress','waiting_citizen','transferred','reopened')"), sqlite_where=sa.text("status IN ('new','accepted','in_progress','waiting_citizen','transferred','reopened')"))
    op.drop_index('ix_tickets_department_status', table_name='tickets')
    op.create_index(op.f('ix_tickets_queue'), 'tickets', ['department', 'status', 'resolution_due'], unique=False)
    with op.batch_alter_table('tickets') as b:
        b.drop_column('resolved_at')
        b.drop_column('paused_at')
        for marker in ('first_response_warned_at', 'resolution_warned_at',
                       'first_response_breached_at', 'resolution_breached_at'):
            b.drop_column(marker)
        b.drop_column('first_responded_at')
        b.drop_column('resolution_warn_at')
        b.drop_column('first_response_warn_at')
        b.drop_column('applied_sla')
        b.drop_column('sla_cycle')
        b.drop_column('sla_policy')
        b.drop_column('result')
        b.drop_column('assignee')
        b.drop_column('escalation_level')
        b.drop_column('priority')
        b.drop_column('citizen_id_masked')
        b.drop_column('handling_unit')
    op.drop_index(op.f('ix_sla_events_ticket_id'), table_name='sla_events')
    op.drop_table('sla_events')
    op.drop_index(op.f('ix_outbox_ticket_id'), table_name='outbox')
    op.drop_index('ix_outbox_pending', table_name='outbox')
    op.drop_table('outbox')
    op.drop_index(op.f('ix_audit_log_ticket_id'), table_name='audit_log')
    op.drop_index(op.f('ix_audit_log_actor'), table_name='audit_log')
    op.drop_table('audit_log')
