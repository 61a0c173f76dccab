"""cases: response window, evidence disclosure, draft answers and learner files, appeals

Every existing incident, event and ledger entry stays as it is. Existing evidence stays
disclosed (as it was: the learner was told of the concern); undecided incidents get the
default response window (10 working days from when they were raised).

Revision ID: 0010_cases
Revises: 0009
Create Date: 2026-12-02 00:00:00

"""
from datetime import timedelta

from alembic import op
import sqlalchemy as sa

from lti_tool.dbtypes import UTCDateTime


# revision identifiers, used by Alembic.
revision = '0010_cases'
down_revision = "0009"
branch_labels = None
depends_on = None


def _working_days_after(start, days):
    moment = start
    while days > 0:
        moment += timedelta(days=1)
        if moment.weekday() < 5:
            days -= 1
    return moment


def upgrade():
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.add_column(sa.Column('answer_due_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('declined_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('appeal_until', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('incident_evidence', schema=None) as batch_op:
        batch_op.add_column(sa.Column('disclosed', sa.Boolean(), nullable=False,
                                      server_default=sa.text('true')))
        batch_op.add_column(sa.Column('withheld_reason', sa.Text(), nullable=False,
                                      server_default=''))
    op.create_table('incident_answer_draft',
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], name=op.f('fk_incident_answer_draft_incident_id_incident')),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_incident_answer_draft_person_id_person')),
    sa.PrimaryKeyConstraint('incident_id', name=op.f('pk_incident_answer_draft'))
    )
    op.create_table('incident_appeal',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('learner_id', sa.Integer(), nullable=False),
    sa.Column('platform_id', sa.Integer(), nullable=False),
    sa.Column('grounds', sa.Text(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('reviewer_id', sa.Integer(), nullable=True),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('result_finding', sa.String(length=16), nullable=True),
    sa.Column('reasons', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], name=op.f('fk_incident_appeal_incident_id_incident')),
    sa.ForeignKeyConstraint(['learner_id'], ['person.id'], name=op.f('fk_incident_appeal_learner_id_person')),
    sa.ForeignKeyConstraint(['platform_id'], ['platform.id'], name=op.f('fk_incident_appeal_platform_id_platform')),
    sa.ForeignKeyConstraint(['reviewer_id'], ['person.id'], name=op.f('fk_incident_appeal_reviewer_id_person')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_appeal')),
    sa.UniqueConstraint('incident_id', name=op.f('uq_incident_appeal_incident_id'))
    )
    op.create_table('incident_learner_file',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('appeal_id', sa.Integer(), nullable=True),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("purpose IN ('answer', 'appeal')", name=op.f('ck_incident_learner_file_purpose')),
    sa.ForeignKeyConstraint(['appeal_id'], ['incident_appeal.id'], name=op.f('fk_incident_learner_file_appeal_id_incident_appeal')),
    sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], name=op.f('fk_incident_learner_file_incident_id_incident')),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_incident_learner_file_person_id_person')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_learner_file'))
    )
    with op.batch_alter_table('incident_learner_file', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incident_learner_file_incident_id'), ['incident_id'], unique=False)

    # Undecided incidents get the default response window from when they were raised.
    incident = sa.table('incident', sa.column('id', sa.Integer()),
                        sa.column('state', sa.String()),
                        sa.column('raised_at', UTCDateTime()),
                        sa.column('answer_due_at', UTCDateTime()))
    conn = op.get_bind()
    for row in conn.execute(sa.select(incident.c.id, incident.c.raised_at).where(
            incident.c.state.in_(['awaiting_answer', 'answered']))).all():
        conn.execute(sa.update(incident).where(incident.c.id == row.id).values(
            answer_due_at=_working_days_after(row.raised_at, 10)))


def downgrade():
    with op.batch_alter_table('incident_learner_file', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incident_learner_file_incident_id'))
    op.drop_table('incident_learner_file')
    op.drop_table('incident_appeal')
    op.drop_table('incident_answer_draft')
    with op.batch_alter_table('incident_evidence', schema=None) as batch_op:
        batch_op.drop_column('withheld_reason')
        batch_op.drop_column('disclosed')
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.drop_column('appeal_until')
        batch_op.drop_column('declined_at')
        batch_op.drop_column('answer_due_at')
