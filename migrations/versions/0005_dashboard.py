"""dashboard: indexes for the leaders' dashboard and backlog

Revision ID: 0005
Revises: 0004

With 100,000 reports these let each per-problem figure be a short index lookup
(people affected, last action, handoffs, first owner), let reports per channel
and the channel filter read an index instead of the reports table, and find a
leader's changes and the messages their actions caused.
"""
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.create_index('ix_reports_problem_reporter', ['problem_id', 'reporter_id'], unique=False)
        batch_op.create_index('ix_reports_channel_problem', ['channel', 'problem_id'], unique=False)

    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_problem_verb_created', ['problem_id', 'verb', 'created_at'], unique=False)
        batch_op.create_index('ix_events_verb_problem_created', ['verb', 'problem_id', 'created_at'], unique=False)
        batch_op.create_index('ix_events_actor_verb', ['actor_id', 'verb'], unique=False)

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index('ix_messages_event', ['event_id'], unique=False)
        batch_op.create_index('ix_messages_reporter_problem_kind', ['reporter_id', 'problem_id', 'kind'], unique=False)


def downgrade():
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_reporter_problem_kind')
        batch_op.drop_index('ix_messages_event')

    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_actor_verb')
        batch_op.drop_index('ix_events_verb_problem_created')
        batch_op.drop_index('ix_events_problem_verb_created')

    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_index('ix_reports_channel_problem')
        batch_op.drop_index('ix_reports_problem_reporter')
