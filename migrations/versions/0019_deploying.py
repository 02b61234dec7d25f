"""deploying: scheduled runs claimed once across hosts, and the public pages' cache version

Revision ID: 0019
Revises: 0018
"""
import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'scheduled_runs',
        sa.Column('job', sa.String(length=40), nullable=False),
        sa.Column('slot', sa.String(length=40), nullable=False),
        sa.Column('host', sa.String(length=200), nullable=False),
        sa.Column('started_at', sa.DateTime(), nullable=False),
        sa.Column('finished_at', sa.DateTime(), nullable=True),
        sa.Column('outcome', sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint('job', 'slot'),
    )
    op.create_table(
        'cache_versions',
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('changed_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('name'),
    )
    op.bulk_insert(sa.table('cache_versions', sa.column('name', sa.String), sa.column('version', sa.Integer)),
                   [{'name': 'public', 'version': 1}])


def downgrade():
    op.drop_table('cache_versions')
    op.drop_table('scheduled_runs')
