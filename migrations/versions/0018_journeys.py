"""journeys: ownership requests, invitations, staff notes, the owner's note, new message kinds

Revision ID: 0018
Revises: 0017
"""
import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

# The kinds as 0014 left them (telling people added receipt, link_again and told_in_person).
OLD_KINDS = ['owned', 'changed', 'declined', 'moved', 'staff_copy', 'owner_flag', 'write_back', 'digest', 'work_done',
             'receipt', 'link_again', 'told_in_person']
NEW_KINDS = OLD_KINDS + ['answer', 'ownership', 'invitation']


def _kinds(kinds):
    return "kind IN (%s)" % ", ".join(f"'{k}'" for k in kinds)


def upgrade():
    op.create_table(
        'ownership_requests',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('problem_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('from_user_id', sa.Integer(), nullable=False),
        sa.Column('to_user_id', sa.Integer(), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('answer', sa.Text(), nullable=True),
        sa.Column('answered_at', sa.DateTime(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.CheckConstraint("kind IN ('ask', 'offer')", name=op.f('ck_ownership_requests_kind_allowed')),
        sa.CheckConstraint("status IN ('open', 'accepted', 'declined', 'closed')",
                           name=op.f('ck_ownership_requests_status_allowed')),
        sa.ForeignKeyConstraint(['from_user_id'], ['users.id'], name=op.f('fk_ownership_requests_from_user_id_users')),
        sa.ForeignKeyConstraint(['problem_id'], ['problems.id'], name=op.f('fk_ownership_requests_problem_id_problems')),
        sa.ForeignKeyConstraint(['to_user_id'], ['users.id'], name=op.f('fk_ownership_requests_to_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_ownership_requests')),
    )
    with op.batch_alter_table('ownership_requests', schema=None) as batch_op:
        batch_op.create_index('ix_ownership_requests_problem_status', ['problem_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_ownership_requests_to_user_id'), ['to_user_id'], unique=False)

    op.create_table(
        'invitations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.Column('used_at', sa.DateTime(), nullable=True),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_invitations_created_by_id_users')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_invitations_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_invitations')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_invitations_token_hash')),
    )
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invitations_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('staff_note', sa.Text(), nullable=True))
    with op.batch_alter_table('problems', schema=None) as batch_op:
        batch_op.add_column(sa.Column('closing_note', sa.Text(), nullable=True))
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_messages_kind_allowed'), type_='check')
        batch_op.create_check_constraint(op.f('ck_messages_kind_allowed'), sa.text(_kinds(NEW_KINDS)))


def downgrade():
    op.execute("DELETE FROM messages WHERE kind IN ('answer', 'ownership', 'invitation')")
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_messages_kind_allowed'), type_='check')
        batch_op.create_check_constraint(op.f('ck_messages_kind_allowed'), sa.text(_kinds(OLD_KINDS)))
    with op.batch_alter_table('problems', schema=None) as batch_op:
        batch_op.drop_column('closing_note')
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_column('staff_note')
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invitations_user_id'))
    op.drop_table('invitations')
    with op.batch_alter_table('ownership_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ownership_requests_to_user_id'))
        batch_op.drop_index('ix_ownership_requests_problem_status')
    op.drop_table('ownership_requests')
