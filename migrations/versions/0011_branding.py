"""branding: the organisation's name, welcome text, colours and logo (one row, set by an admin)

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('branding',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('org_name', sa.String(length=120), nullable=True),
    sa.Column('welcome_text', sa.Text(), nullable=True),
    sa.Column('primary_colour', sa.String(length=7), nullable=True),
    sa.Column('accent_colour', sa.String(length=7), nullable=True),
    sa.Column('logo', sa.LargeBinary(), nullable=True),
    sa.Column('logo_type', sa.String(length=20), nullable=True),
    sa.Column('logo_width', sa.Integer(), nullable=True),
    sa.Column('logo_height', sa.Integer(), nullable=True),
    sa.Column('logo_sha256', sa.String(length=64), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('id = 1', name=op.f('ck_branding_single_row')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_branding_updated_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_branding'))
    )


def downgrade():
    op.drop_table('branding')
