"""security (reserved slot; filled by the work that needs it)

Revision ID: 0015
Revises: 0014
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    # Sessions and remember cookies carry this number; raising it ends them all.
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), server_default='1', nullable=False))
    # Failed sign-ins count per email and client address (was per email: anyone could lock
    # anyone out). The rows only ever live for minutes, so the table is built anew.
    op.drop_table('login_failures')
    _login_failures('email', 'address')


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('session_version')
    op.drop_table('login_failures')
    _login_failures('email')


def _login_failures(*key):
    columns = [sa.Column('email', sa.String(length=254), nullable=False)]
    if 'address' in key:
        columns.append(sa.Column('address', sa.String(length=64), nullable=False))
    op.create_table(
        'login_failures', *columns,
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('first_failed_at', sa.DateTime(), nullable=False),
        sa.Column('locked_until', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint(*key, name=op.f('pk_login_failures')),
    )
