"""grouping decisions: leaders' labelled decisions, and a review question's other candidates

Revision ID: 0017
Revises: 0016
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "grouping_decisions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("same", sa.Boolean(), nullable=False),
        sa.Column("report_id", sa.Integer(), sa.ForeignKey("reports.id"), nullable=True),
        sa.Column("problem_id", sa.Integer(), sa.ForeignKey("problems.id"), nullable=True),
        sa.Column("actor_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("score", sa.Double(), nullable=True),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_grouping_decisions_report_id", "grouping_decisions", ["report_id"])
    op.create_index("ix_grouping_decisions_created_at", "grouping_decisions", ["created_at"])
    with op.batch_alter_table("grouping_reviews") as batch:
        batch.add_column(sa.Column("alternatives", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("grouping_reviews") as batch:
        batch.drop_column("alternatives")
    op.drop_index("ix_grouping_decisions_created_at", table_name="grouping_decisions")
    op.drop_index("ix_grouping_decisions_report_id", table_name="grouping_decisions")
    op.drop_table("grouping_decisions")
