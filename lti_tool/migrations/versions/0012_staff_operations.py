"""staff operations: request purpose split from its reason, roster people, notification
preferences and digests, declaration reminders, emailed links that lead through a launch

Revision ID: 0012_staff_operations
Revises: 0010_cases
Create Date: 2026-12-01 23:40:00

Existing requests keep every word: the old "What for" text mixed the learner's purpose with
their reasons ("because of my dyslexia"), so it becomes part of the reason, which only the
ALS team sees; the purpose is left empty (staff see "not given"). Every member of a cached
Names and Roles roster becomes a person the tool knows (not launched yet), so staff can open
their panel and record an incident before their first launch.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012_staff_operations'
down_revision = "0010_cases"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.add_column(sa.Column('first_launch_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('pending_path', sa.String(length=512), nullable=True))
        batch_op.add_column(sa.Column('pending_path_at', sa.DateTime(timezone=True), nullable=True))
    # Everyone the tool knew so far had launched.
    op.execute("UPDATE person SET first_launch_at = created_at")
    # People on cached rosters who never launched (one row per platform and Moodle user id).
    op.execute("""
        INSERT INTO person (platform_id, sub, name, given_name, family_name, email, username,
                            sourcedid, is_platform_admin, created_at, last_launch_at)
        SELECT c.platform_id, m.sub, MAX(m.name), '', '', MAX(m.email), '', '', false,
               MIN(m.fetched_at), MIN(m.fetched_at)
        FROM course_member m JOIN course c ON c.id = m.course_id
        WHERE NOT EXISTS (SELECT 1 FROM person p WHERE p.platform_id = c.platform_id
                          AND p.sub = m.sub)
        GROUP BY c.platform_id, m.sub
    """)

    # The old text becomes the start of the reason's detail (ALS only); purpose empty.
    op.execute("""
        UPDATE ai_tool_request SET
          reason_detail = CASE WHEN reason_detail = '' THEN purpose
                               ELSE purpose || '\n\n' || reason_detail END,
          purpose = ''
        WHERE purpose <> ''
    """)

    op.create_table('notification_preference',
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('frequency', sa.String(length=16), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_notification_preference_person_id_person')),
    sa.PrimaryKeyConstraint('person_id', name=op.f('pk_notification_preference'))
    )
    op.create_table('digest_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('platform_id', sa.Integer(), nullable=False),
    sa.Column('line', sa.String(length=500), nullable=False),
    sa.Column('url', sa.String(length=1024), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_digest_item_person_id_person')),
    sa.ForeignKeyConstraint(['platform_id'], ['platform.id'], name=op.f('fk_digest_item_platform_id_platform')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_digest_item'))
    )
    with op.batch_alter_table('digest_item', schema=None) as batch_op:
        batch_op.create_index('ix_digest_item_waiting', ['sent_at', 'person_id'], unique=False)

    op.create_table('declaration_reminder',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('placement_id', sa.Integer(), nullable=False),
    sa.Column('sent_by_id', sa.Integer(), nullable=False),
    sa.Column('sent_on', sa.Date(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_declaration_reminder_person_id_person')),
    sa.ForeignKeyConstraint(['placement_id'], ['placement.id'], name=op.f('fk_declaration_reminder_placement_id_placement')),
    sa.ForeignKeyConstraint(['sent_by_id'], ['person.id'], name=op.f('fk_declaration_reminder_sent_by_id_person')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_declaration_reminder')),
    sa.UniqueConstraint('person_id', 'sent_on', name=op.f('uq_declaration_reminder_person_id_sent_on'))
    )


def downgrade():
    op.drop_table('declaration_reminder')
    with op.batch_alter_table('digest_item', schema=None) as batch_op:
        batch_op.drop_index('ix_digest_item_waiting')
    op.drop_table('digest_item')
    op.drop_table('notification_preference')
    # The split cannot be undone word for word: the reason keeps the old text.
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.drop_column('pending_path_at')
        batch_op.drop_column('pending_path')
        batch_op.drop_column('first_launch_at')
