"""checks the learner takes part in: time, place or link, what it is about, how to prepare,
cancellation (a projection of the check's events), and the two parts of a professional
discussion's record

Revision ID: 0016_case_checks_and_clocks
Revises: 0015
Create Date: 2026-12-02 00:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016_case_checks_and_clocks'
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade():
    # Existing checks keep their rows: the new text columns start empty (server default),
    # the time and cancellation start unset.
    with op.batch_alter_table('incident_check', schema=None) as batch_op:
        batch_op.add_column(sa.Column('planned_time', sa.String(length=5), nullable=True))
        batch_op.add_column(sa.Column('location', sa.String(length=500), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('about', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('preparation', sa.Text(), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('cancelled_at', sa.DateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('subject_knowledge', sa.Text(), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('production', sa.Text(), nullable=False,
                                      server_default=''))


def downgrade():
    with op.batch_alter_table('incident_check', schema=None) as batch_op:
        for column in ('production', 'subject_knowledge', 'cancelled_at', 'preparation',
                       'about', 'location', 'planned_time'):
            batch_op.drop_column(column)
