"""imports (issue 16): reserved slot (no schema change yet)

Revision ID: 0022
Revises: 0021
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
