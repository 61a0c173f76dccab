"""platform values cached as JSON in the database; login states counted per client

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 21:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('cached_json',
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_cached_json'))
    )
    with op.batch_alter_table('cached_json', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cached_json_expires_at'), ['expires_at'], unique=False)

    with op.batch_alter_table('login_state', schema=None) as batch_op:
        batch_op.add_column(sa.Column('client_hash', sa.String(length=64), nullable=True))
        batch_op.create_index('ix_login_state_client', ['client_hash', 'created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('login_state', schema=None) as batch_op:
        batch_op.drop_index('ix_login_state_client')
        batch_op.drop_column('client_hash')

    with op.batch_alter_table('cached_json', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cached_json_expires_at'))

    op.drop_table('cached_json')
