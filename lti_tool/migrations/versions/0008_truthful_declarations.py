"""truthful declarations: the statements confirmed, authentication at submission,
made-aware evidence, the comprehension check; the complete text of AIU v1.0

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 20:50:00

"""
import hashlib
import json
from pathlib import Path

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BUNDLED = Path(__file__).resolve().parents[3] / "config" / "policy" / "aiu-1.0.json"


def upgrade():
    with op.batch_alter_table("placement_settings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("comprehension_check", sa.Boolean(), nullable=False,
                                      server_default=sa.text("false")))
    with op.batch_alter_table("declaration", schema=None) as batch_op:
        batch_op.add_column(sa.Column("statements", sa.Text(), nullable=False,
                                      server_default="[]"))
        batch_op.add_column(sa.Column("comprehension", sa.Text(), nullable=True))
    op.create_table(
        "declaration_authentication",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("declaration_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("placement_id", sa.Integer(), nullable=False),
        sa.Column("policy_version_id", sa.Integer(), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("signature", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["declaration_id"], ["declaration.id"],
                                name=op.f("fk_declaration_authentication_declaration_id_declaration")),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"],
                                name=op.f("fk_declaration_authentication_person_id_person")),
        sa.ForeignKeyConstraint(["placement_id"], ["placement.id"],
                                name=op.f("fk_declaration_authentication_placement_id_placement")),
        sa.ForeignKeyConstraint(["policy_version_id"], ["policy_version.id"],
                                name=op.f("fk_declaration_authentication_policy_version_id_policy_version")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_declaration_authentication")),
        sa.UniqueConstraint("declaration_id",
                            name=op.f("uq_declaration_authentication_declaration_id")),
    )
    with op.batch_alter_table("declaration_authentication", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_declaration_authentication_placement_id"),
                              ["placement_id"], unique=False)
    op.create_table(
        "awareness_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("placement_id", sa.Integer(), nullable=False),
        sa.Column("policy_version_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"],
                                name=op.f("fk_awareness_event_person_id_person")),
        sa.ForeignKeyConstraint(["placement_id"], ["placement.id"],
                                name=op.f("fk_awareness_event_placement_id_placement")),
        sa.ForeignKeyConstraint(["policy_version_id"], ["policy_version.id"],
                                name=op.f("fk_awareness_event_policy_version_id_policy_version")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_awareness_event")),
        sa.UniqueConstraint("person_id", "placement_id", "policy_version_id", "kind",
                            name="uq_awareness_event_once"),
    )
    with op.batch_alter_table("awareness_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_awareness_event_placement_id"),
                              ["placement_id"], unique=False)
    op.create_table(
        "comprehension_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("placement_id", sa.Integer(), nullable=False),
        sa.Column("policy_version_id", sa.Integer(), nullable=False),
        sa.Column("answers", sa.Text(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"],
                                name=op.f("fk_comprehension_attempt_person_id_person")),
        sa.ForeignKeyConstraint(["placement_id"], ["placement.id"],
                                name=op.f("fk_comprehension_attempt_placement_id_placement")),
        sa.ForeignKeyConstraint(["policy_version_id"], ["policy_version.id"],
                                name=op.f("fk_comprehension_attempt_policy_version_id_policy_version")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comprehension_attempt")),
    )
    with op.batch_alter_table("comprehension_attempt", schema=None) as batch_op:
        batch_op.create_index("ix_comprehension_person_placement",
                              ["person_id", "placement_id"], unique=False)
    _complete_bundled_policy()


def _complete_bundled_policy():
    """AIU v1.0 as first bundled left out sections of the policy (statement, purpose, what
    AI is) that the full-policy page now shows. The policy itself did not change: where the
    stored copy is the first bundled one, add the missing sections; no stored value is
    changed (anything else is left alone)."""
    bind = op.get_bind()
    version = sa.table("policy_version", sa.column("id", sa.Integer),
                       sa.column("reference", sa.String), sa.column("version", sa.String),
                       sa.column("content", sa.Text), sa.column("content_hash", sa.String))
    complete = json.loads(BUNDLED.read_text("utf-8"))
    for row in bind.execute(sa.select(version.c.id, version.c.content).where(
            version.c.reference == "AIU", version.c.version == "1.0")):
        stored = json.loads(row.content)
        if any(complete.get(key) != value for key, value in stored.items()):
            continue  # not the bundled text: leave it
        canonical = json.dumps(complete, sort_keys=True, ensure_ascii=False)
        bind.execute(sa.update(version).where(version.c.id == row.id).values(
            content=canonical,
            content_hash=hashlib.sha256(canonical.encode("utf-8")).hexdigest()))


def downgrade():
    op.drop_table("comprehension_attempt")
    op.drop_table("awareness_event")
    op.drop_table("declaration_authentication")
    with op.batch_alter_table("declaration", schema=None) as batch_op:
        batch_op.drop_column("comprehension")
        batch_op.drop_column("statements")
    with op.batch_alter_table("placement_settings", schema=None) as batch_op:
        batch_op.drop_column("comprehension_check")
