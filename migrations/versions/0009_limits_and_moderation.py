"""limits and abuse defences: failed sign-ins per email, public reports held for moderation

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'login_failures',
        sa.Column('email', sa.String(length=254), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('first_failed_at', sa.DateTime(), nullable=False),
        sa.Column('locked_until', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('email', name=op.f('pk_login_failures')),
    )
    # A held report has no problem until a leader approves it.
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('moderation', sa.String(length=20), nullable=True))
        batch_op.alter_column('problem_id', existing_type=sa.Integer(), nullable=True)
        batch_op.create_index(batch_op.f('ix_reports_moderation'), ['moderation'], unique=False)


def downgrade():
    # Reports still held have no problem; they cannot survive the NOT NULL constraint.
    op.execute("DELETE FROM events WHERE report_id IN (SELECT id FROM reports WHERE problem_id IS NULL)")
    op.execute("DELETE FROM reports WHERE problem_id IS NULL")
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reports_moderation'))
        batch_op.alter_column('problem_id', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('moderation')
    op.drop_table('login_failures')
