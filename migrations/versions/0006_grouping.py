"""grouping: the similarity index (one vector per report) and its change log

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('similarity_vectors',
    sa.Column('report_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('problem_id', sa.Integer(), nullable=False),
    sa.Column('model', sa.String(length=80), nullable=False),
    sa.Column('vector', sa.LargeBinary(), nullable=False),
    sa.Column('marks', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['problem_id'], ['problems.id'], name=op.f('fk_similarity_vectors_problem_id_problems')),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_similarity_vectors_report_id_reports')),
    sa.PrimaryKeyConstraint('report_id', name=op.f('pk_similarity_vectors'))
    )
    with op.batch_alter_table('similarity_vectors', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_similarity_vectors_problem_id'), ['problem_id'], unique=False)

    op.create_table('similarity_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=True),
    sa.Column('problem_id', sa.Integer(), nullable=True),
    sa.Column('old_problem_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_similarity_changes'))
    )


def downgrade():
    op.drop_table('similarity_changes')
    with op.batch_alter_table('similarity_vectors', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_similarity_vectors_problem_id'))

    op.drop_table('similarity_vectors')
