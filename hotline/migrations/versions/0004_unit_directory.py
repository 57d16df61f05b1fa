"""unit directory: tickets placed by unit code, admins' edits of units, clerks scoped by code

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 12:00:00.000000

Existing rows are carried over with the unit directory of this revision (referral/units/):
a ticket whose handling unit names a 乡镇/街道 gets its code; a clerk's unit names become codes
(a name the directory cannot place is kept as it was, so it widens nobody's access).
"""

import sqlalchemy as sa
from alembic import op

import hotline.db

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def _carry_over() -> None:
    conn = op.get_bind()
    tickets = conn.execute(sa.text(
        "SELECT id, region, handling_unit, street FROM tickets WHERE handling_unit IS NOT NULL")).all()
    users = conn.execute(sa.text("SELECT id, units FROM staff_users")).all()
    if not tickets and not any(u.units for u in users):
        return
    import json

    from referral import units

    directory = units.seeded()
    for t in tickets:
        found = directory.match(t.region, t.handling_unit).unit
        if found is not None:
            conn.execute(sa.text("UPDATE tickets SET unit_code = :c, handling_unit = :o WHERE id = :i"),
                         {"c": found.code, "o": found.office, "i": t.id})
    for u in users:
        names = json.loads(u.units) if isinstance(u.units, str) else (u.units or [])
        codes = []
        for name in names:
            hits = directory.resolve(name)
            codes.append(hits[0].code if len(hits) == 1 else name)
        if codes != names:
            conn.execute(sa.text("UPDATE staff_users SET units = :u WHERE id = :i"),
                         {"u": json.dumps(codes, ensure_ascii=False), "i": u.id})


def upgrade() -> None:
    op.create_table('unit_edits',
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('office', sa.String(length=64), nullable=False),
    sa.Column('aliases', sa.JSON(), nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.Column('updated_at', hotline.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_unit_edits'))
    )
    with op.batch_alter_table('tickets', schema=None) as b:
        b.add_column(sa.Column('unit_code', sa.String(length=12), nullable=True))
        b.add_column(sa.Column('unplaced', sa.Boolean(), server_default=sa.text('false'), nullable=False))
        b.create_index(b.f('ix_tickets_unit_code'), ['unit_code'], unique=False)
    _carry_over()


def downgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as b:
        b.drop_index(b.f('ix_tickets_unit_code'))
        b.drop_column('unplaced')
        b.drop_column('unit_code')
    op.drop_table('unit_edits')
