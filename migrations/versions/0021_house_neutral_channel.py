"""house (issue 12): imported reports get the neutral channel 'import', keeping their source

The core names no plugin: 'zendesk' and 'jira' leave the channels' CHECK, their reports become
'import' (their ``source`` already names the importer). Reports a third importer filed as 'api'
(a source that is not an API token's, "api-token-<id>") become 'import' too. The downgrade
gives Zendesk's and Jira's reports their old channels back, and other imports 'api', as before.

Revision ID: 0021
Revises: 0020
"""
import sqlalchemy as sa
from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

OLD = "channel IN ('web', 'staff', 'api', 'zendesk', 'jira')"
NEW = "channel IN ('web', 'staff', 'api', 'import')"


def _check(allowed: str) -> None:
    # Two steps: the rows change while no CHECK holds them (SQLite copies the table in batch
    # mode, and the copy is checked against the new constraint).
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.create_check_constraint(op.f('ck_reports_channel_allowed'), sa.text(allowed))


def _drop_check() -> None:
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_reports_channel_allowed'), type_='check')


def upgrade():
    _drop_check()
    op.execute("UPDATE reports SET channel = 'import' WHERE channel IN ('zendesk', 'jira')")
    op.execute("UPDATE reports SET channel = 'import' WHERE channel = 'api' AND source IS NOT NULL "
               "AND source NOT LIKE 'api-token-%'")
    _check(NEW)


def downgrade():
    _drop_check()
    op.execute("UPDATE reports SET channel = source WHERE channel = 'import' AND source IN ('zendesk', 'jira')")
    op.execute("UPDATE reports SET channel = 'api' WHERE channel = 'import'")
    _check(OLD)
