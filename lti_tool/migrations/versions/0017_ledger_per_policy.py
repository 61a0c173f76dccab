"""stage ledgers count within a policy (and within a qualification when the policy counts
per qualification): each ledger row names its ledger; the stage check follows any policy's
number of stages

Revision ID: 0017_ledger_per_policy
Revises: 0016_case_checks_and_clocks
Create Date: 2026-12-02 15:30:00

Existing rows were counted across the whole platform under the tool's policy of the time:
they go to the ledger of the most recently published policy (AIU when none is), so every
learner keeps the stage they have.
"""
import hashlib
import json
from pathlib import Path

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017_ledger_per_policy'
down_revision = '0016_case_checks_and_clocks'
branch_labels = None
depends_on = None

ACTIVE = sa.text('revoked_at IS NULL')
BUNDLED = Path(__file__).resolve().parents[3] / "config" / "policy" / "aiu-1.0.json"


def _without_learner_next(data):
    return {**data, "outcomes": [{k: v for k, v in o.items() if k != "learner_next"}
                                 for o in data.get("outcomes", [])]}


def _add_learner_next_to_bundled_policy():
    """AIU v1.0's stored copy gains each outcome's ``learner_next``: the words the decision
    email used for it until now (only where the stored copy is the bundled one)."""
    bind = op.get_bind()
    version = sa.table("policy_version", sa.column("id", sa.Integer),
                       sa.column("reference", sa.String), sa.column("version", sa.String),
                       sa.column("content", sa.Text), sa.column("content_hash", sa.String))
    complete = json.loads(BUNDLED.read_text("utf-8"))
    for row in bind.execute(sa.select(version.c.id, version.c.content).where(
            version.c.reference == "AIU", version.c.version == "1.0")).all():
        stored = json.loads(row.content)
        if stored == complete or stored != _without_learner_next(complete):
            continue  # already complete, or not the bundled text: leave it
        canonical = json.dumps(complete, sort_keys=True, ensure_ascii=False)
        bind.execute(sa.update(version).where(version.c.id == row.id).values(
            content=canonical,
            content_hash=hashlib.sha256(canonical.encode("utf-8")).hexdigest()))


def upgrade():
    _add_learner_next_to_bundled_policy()
    conn = op.get_bind()
    reference = conn.execute(sa.text(
        "SELECT reference FROM policy_version WHERE status = 'published'"
        " ORDER BY published_at DESC, id DESC LIMIT 1")).scalar() or 'AIU'
    with op.batch_alter_table('stage_ledger', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ledger_key', sa.String(length=140), nullable=True))
    op.execute(sa.text("UPDATE stage_ledger SET ledger_key = :key").bindparams(key=reference))
    with op.batch_alter_table('stage_ledger', schema=None) as batch_op:
        batch_op.alter_column('ledger_key', existing_type=sa.String(length=140),
                              nullable=False)
        batch_op.drop_constraint(op.f('ck_stage_ledger_stage_from_ordinal'), type_='check')
        batch_op.create_check_constraint('stage_within_ordinal',
                                         'stage BETWEEN 1 AND ordinal')
        batch_op.drop_index('uq_stage_ledger_active')
        batch_op.create_index('uq_stage_ledger_active',
                              ['platform_id', 'learner_id', 'ledger_key', 'ordinal'],
                              unique=True, sqlite_where=ACTIVE, postgresql_where=ACTIVE)


def downgrade():
    with op.batch_alter_table('stage_ledger', schema=None) as batch_op:
        batch_op.drop_index('uq_stage_ledger_active')
        batch_op.create_index('uq_stage_ledger_active', ['platform_id', 'learner_id', 'ordinal'],
                              unique=True, sqlite_where=ACTIVE, postgresql_where=ACTIVE)
        batch_op.drop_constraint(op.f('ck_stage_ledger_stage_within_ordinal'), type_='check')
        batch_op.create_check_constraint(
            'stage_from_ordinal', 'stage = CASE WHEN ordinal < 3 THEN ordinal ELSE 3 END')
        batch_op.drop_column('ledger_key')
