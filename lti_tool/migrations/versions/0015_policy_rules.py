"""each placement (and each platform) may name the policy it follows

Revision ID: 0015
Revises: 0009
Create Date: 2026-12-01 23:50:00

A placement's settings name a policy by its reference (its published version applies);
null follows the platform's choice, and a platform's null follows the tool's default
(POLICY_DEFAULT_REFERENCE). Existing rows keep null: nothing changes for them.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('placement_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('policy_reference', sa.String(length=32), nullable=True))
    with op.batch_alter_table('platform', schema=None) as batch_op:
        batch_op.add_column(sa.Column('policy_reference', sa.String(length=32), nullable=True))


def downgrade():
    with op.batch_alter_table('platform', schema=None) as batch_op:
        batch_op.drop_column('policy_reference')
    with op.batch_alter_table('placement_settings', schema=None) as batch_op:
        batch_op.drop_column('policy_reference')
