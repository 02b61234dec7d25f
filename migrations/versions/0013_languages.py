"""languages: the language each report was filed in and each reporter is written to

Revision ID: 0013
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    # Existing rows were all filed in English, the only language before this.
    with op.batch_alter_table('reporters', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locale', sa.String(length=16), server_default='en', nullable=False))
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locale', sa.String(length=16), server_default='en', nullable=False))


def downgrade():
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_column('locale')
    with op.batch_alter_table('reporters', schema=None) as batch_op:
        batch_op.drop_column('locale')
