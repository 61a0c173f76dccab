"""access follows Moodle: course roles confirmed and ended, one active grant per holder

course_role gains confirmed_at (when Moodle last confirmed the role: a launch or a Names and
Roles refresh; existing rows take their updated_at) and revoked_at (a refresh that no longer
lists the person). role_grant gains revoked_at, copied from its role_revocation, so that
partial unique indexes allow one active grant per platform, role and holder. Existing
duplicate active grants (from parallel requests) are ended first, keeping the oldest, each
with a revocation row of its own.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 20:50:00.000000

"""
from datetime import UTC, datetime

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = "0005"
branch_labels = None
depends_on = None

_ACTIVE_PERSON = "revoked_at IS NULL AND person_id IS NOT NULL"
_WAITING_SUB = "revoked_at IS NULL AND person_id IS NULL AND sub IS NOT NULL"
_WAITING_EMAIL = "revoked_at IS NULL AND person_id IS NULL AND email IS NOT NULL"


def upgrade():
    with op.batch_alter_table('course_role', schema=None) as batch_op:
        batch_op.add_column(sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE course_role SET confirmed_at = updated_at")
    with op.batch_alter_table('course_role', schema=None) as batch_op:
        batch_op.alter_column('confirmed_at', existing_type=sa.DateTime(timezone=True),
                              nullable=False)

    with op.batch_alter_table('role_grant', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE role_grant SET revoked_at = (SELECT r.revoked_at FROM role_revocation r "
               "WHERE r.grant_id = role_grant.id)")
    _end_duplicates()
    with op.batch_alter_table('role_grant', schema=None) as batch_op:
        batch_op.create_index('uq_role_grant_active_person', ['platform_id', 'role', 'person_id'], unique=True, sqlite_where=sa.text(_ACTIVE_PERSON), postgresql_where=sa.text(_ACTIVE_PERSON))
        batch_op.create_index('uq_role_grant_active_sub', ['platform_id', 'role', 'sub'], unique=True, sqlite_where=sa.text(_WAITING_SUB), postgresql_where=sa.text(_WAITING_SUB))
        batch_op.create_index('uq_role_grant_active_email', ['platform_id', 'role', 'email'], unique=True, sqlite_where=sa.text(_WAITING_EMAIL), postgresql_where=sa.text(_WAITING_EMAIL))


def _end_duplicates():
    """End every active grant that duplicates an older one (same platform, role, holder)."""
    conn = op.get_bind()
    rows = conn.execute(sa.text(
        "SELECT id, platform_id, role, person_id, sub, email FROM role_grant "
        "WHERE revoked_at IS NULL ORDER BY id")).all()
    seen = set()
    now = datetime.now(UTC)
    for row in rows:
        if row.person_id is not None:
            key = (row.platform_id, row.role, "person", row.person_id)
        elif row.sub is not None:
            key = (row.platform_id, row.role, "sub", row.sub)
        else:
            key = (row.platform_id, row.role, "email", row.email)
        if key not in seen:
            seen.add(key)
            continue
        conn.execute(sa.text("INSERT INTO role_revocation (grant_id, revoked_by, revoked_at) "
                             "VALUES (:id, 'migration:0006 duplicate grant', :at)")
                     .bindparams(_at()), {"id": row.id, "at": now})
        conn.execute(sa.text("UPDATE role_grant SET revoked_at = :at WHERE id = :id")
                     .bindparams(_at()), {"id": row.id, "at": now})


def _at():
    return sa.bindparam("at", type_=sa.DateTime(timezone=True))


def downgrade():
    with op.batch_alter_table('role_grant', schema=None) as batch_op:
        batch_op.drop_index('uq_role_grant_active_email', sqlite_where=sa.text(_WAITING_EMAIL), postgresql_where=sa.text(_WAITING_EMAIL))
        batch_op.drop_index('uq_role_grant_active_sub', sqlite_where=sa.text(_WAITING_SUB), postgresql_where=sa.text(_WAITING_SUB))
        batch_op.drop_index('uq_role_grant_active_person', sqlite_where=sa.text(_ACTIVE_PERSON), postgresql_where=sa.text(_ACTIVE_PERSON))
        batch_op.drop_column('revoked_at')
    with op.batch_alter_table('course_role', schema=None) as batch_op:
        batch_op.drop_column('revoked_at')
        batch_op.drop_column('confirmed_at')
