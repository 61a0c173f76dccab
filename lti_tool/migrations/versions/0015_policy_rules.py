"""each placement (and each platform) may name the policy it follows

Revision ID: 0015
Revises: 0013
Create Date: 2026-12-01 23:50:00

A placement's settings name a policy by its reference (its published version applies);
null follows the platform's choice, and a platform's null follows the tool's default
(POLICY_DEFAULT_REFERENCE). Existing rows keep null: nothing changes for them.

AIU v1.0's stored copy gains the rules the code applied to it until now (its stages'
outcomes, the outcomes, counting, awarding bodies, time limits, retention, contacts), as
0008 completed its texts: only where the stored texts are the bundled ones.
"""
import hashlib
import json
from pathlib import Path

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('placement_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('policy_reference', sa.String(length=32), nullable=True))
    with op.batch_alter_table('platform', schema=None) as batch_op:
        batch_op.add_column(sa.Column('policy_reference', sa.String(length=32), nullable=True))
    _add_rules_to_bundled_policy()


BUNDLED = Path(__file__).resolve().parents[3] / "config" / "policy" / "aiu-1.0.json"


def _texts(data):
    """The document without its rules (stage numbers and texts only)."""
    rules = {"outcomes", "counting", "awarding_bodies", "case_process", "retention", "contacts"}
    out = {k: v for k, v in data.items() if k not in rules}
    out["stages"] = [{"stage": s.get("stage"), "text": s.get("text")}
                     for s in data.get("stages", [])]
    return out


def _add_rules_to_bundled_policy():
    bind = op.get_bind()
    version = sa.table("policy_version", sa.column("id", sa.Integer),
                       sa.column("reference", sa.String), sa.column("version", sa.String),
                       sa.column("content", sa.Text), sa.column("content_hash", sa.String))
    complete = json.loads(BUNDLED.read_text("utf-8"))
    for row in bind.execute(sa.select(version.c.id, version.c.content).where(
            version.c.reference == "AIU", version.c.version == "1.0")).all():
        stored = json.loads(row.content)
        if "outcomes" in stored or _texts(stored) != _texts(complete):
            continue  # already has rules, or not the bundled text: leave it
        canonical = json.dumps(complete, sort_keys=True, ensure_ascii=False)
        bind.execute(sa.update(version).where(version.c.id == row.id).values(
            content=canonical,
            content_hash=hashlib.sha256(canonical.encode("utf-8")).hexdigest()))


def downgrade():
    with op.batch_alter_table('platform', schema=None) as batch_op:
        batch_op.drop_column('policy_reference')
    with op.batch_alter_table('placement_settings', schema=None) as batch_op:
        batch_op.drop_column('policy_reference')
