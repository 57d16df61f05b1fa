"""console users

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 12:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import hotline.db

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('staff_users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('department', sa.String(length=32), nullable=True),
    sa.Column('units', sa.JSON(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('locked_until', hotline.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', hotline.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_users')),
    sa.UniqueConstraint('username', name=op.f('uq_staff_users_username'))
    )


def downgrade() -> None:
    op.drop_table('staff_users')
