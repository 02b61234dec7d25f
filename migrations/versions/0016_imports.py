"""imports a real support desk can trust: filters, linked tickets, created work items

Revision ID: 0016
Revises: 0015
"""
import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('reports') as batch_op:
        batch_op.add_column(sa.Column('import_note', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('linked_to', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('linked_url', sa.String(length=500), nullable=True))
    with op.batch_alter_table('problem_links') as batch_op:
        batch_op.add_column(sa.Column('created_here', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('owner_asked_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('problem_links') as batch_op:
        batch_op.drop_column('owner_asked_at')
        batch_op.drop_column('created_here')
    with op.batch_alter_table('reports') as batch_op:
        batch_op.drop_column('linked_url')
        batch_op.drop_column('linked_to')
        batch_op.drop_column('import_note')
