"""privacy: redactable audit data, minimal delivered emails, evidence files on disk, legal
holds, disposals and erasure requests

Revision ID: 0013
Revises: 0012_staff_operations
Create Date: 2026-12-02 00:00:00

"""
import json

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = "0012_staff_operations"
branch_labels = None
depends_on = None


def _mask(address):
    local = str(address or "").split("@", 1)[0]
    return f"{local[:1]}@…" if local else "@…"


def upgrade():
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('personal', sa.Text(), nullable=True))

    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recipient_hash', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_outbox_message_recipient_hash'),
                              ['recipient_hash'], unique=False)

    with op.batch_alter_table('incident_evidence_file', schema=None) as batch_op:
        batch_op.alter_column('content', existing_type=sa.LargeBinary(), nullable=True)
        batch_op.add_column(sa.Column('location', sa.String(length=255), nullable=True))

    op.create_table('legal_hold',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('placed_by_id', sa.Integer(), nullable=True),
    sa.Column('placed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('released_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('released_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_legal_hold_person_id_person')),
    sa.ForeignKeyConstraint(['placed_by_id'], ['person.id'], name=op.f('fk_legal_hold_placed_by_id_person')),
    sa.ForeignKeyConstraint(['platform_id'], ['platform.id'], name=op.f('fk_legal_hold_platform_id_platform')),
    sa.ForeignKeyConstraint(['released_by_id'], ['person.id'], name=op.f('fk_legal_hold_released_by_id_person')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_legal_hold'))
    )
    with op.batch_alter_table('legal_hold', schema=None) as batch_op:
        batch_op.create_index('ix_legal_hold_person', ['person_id', 'released_at'], unique=False)

    op.create_table('retention_disposal',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform_id', sa.Integer(), nullable=True),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('record_type', sa.String(length=40), nullable=False),
    sa.Column('record_id', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('rule', sa.String(length=40), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('disposed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_retention_disposal'))
    )
    with op.batch_alter_table('retention_disposal', schema=None) as batch_op:
        batch_op.create_index('ix_retention_disposal_at', ['platform_id', 'disposed_at'], unique=False)

    op.create_table('erasure_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('handled_by_id', sa.Integer(), nullable=True),
    sa.Column('handled_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('erased', sa.Text(), nullable=False),
    sa.Column('kept', sa.Text(), nullable=False),
    sa.Column('emailed', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['handled_by_id'], ['person.id'], name=op.f('fk_erasure_request_handled_by_id_person')),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_erasure_request_person_id_person')),
    sa.ForeignKeyConstraint(['platform_id'], ['platform.id'], name=op.f('fk_erasure_request_platform_id_platform')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_erasure_request'))
    )

    # Emails already delivered keep only what the admin page shows: never their body or
    # links (an answer link works for 14 days).
    conn = op.get_bind()
    outbox = sa.table('outbox_message', sa.column('id', sa.Integer), sa.column('kind', sa.String),
                      sa.column('status', sa.String), sa.column('payload', sa.Text))
    rows = conn.execute(sa.select(outbox.c.id, outbox.c.payload).where(
        outbox.c.kind == 'email', outbox.c.status == 'delivered')).all()
    for message_id, payload in rows:
        try:
            data = json.loads(payload)
        except ValueError:
            data = {}
        kept = {"to": _mask(data.get("to")), "subject": str(data.get("subject") or ""),
                "template": str(data.get("template") or "")}
        conn.execute(sa.update(outbox).where(outbox.c.id == message_id)
                     .values(payload=json.dumps(kept, sort_keys=True)))


def downgrade():
    op.drop_table('erasure_request')
    with op.batch_alter_table('retention_disposal', schema=None) as batch_op:
        batch_op.drop_index('ix_retention_disposal_at')
    op.drop_table('retention_disposal')
    with op.batch_alter_table('legal_hold', schema=None) as batch_op:
        batch_op.drop_index('ix_legal_hold_person')
    op.drop_table('legal_hold')
    with op.batch_alter_table('incident_evidence_file', schema=None) as batch_op:
        batch_op.drop_column('location')
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_message_recipient_hash'))
        batch_op.drop_column('recipient_hash')
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_column('personal')
