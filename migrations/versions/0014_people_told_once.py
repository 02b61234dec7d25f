"""people told once: one person per email address, what each message told, receipts

Revision ID: 0014
Revises: 0013
"""
import secrets
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

OLD_KINDS = "'owned', 'changed', 'declined', 'moved', 'staff_copy', 'owner_flag', 'write_back', 'digest', 'work_done'"
NEW_KINDS = OLD_KINDS + ", 'receipt', 'link_again', 'told_in_person'"


def upgrade():
    op.create_table(
        'people',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=False),
        sa.Column('token', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_people')),
        sa.UniqueConstraint('email', name=op.f('uq_people_email')),
        sa.UniqueConstraint('token', name=op.f('uq_people_token')),
    )
    # One person per address that was given with consent to email, each with its own link.
    bind = op.get_bind()
    emails = [row[0] for row in bind.execute(sa.text(
        "SELECT DISTINCT email FROM reporters WHERE email IS NOT NULL AND contact_ok"))]
    people = sa.table('people', sa.column('email', sa.String), sa.column('token', sa.String),
                      sa.column('created_at', sa.DateTime))
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    if emails:
        op.bulk_insert(people, [{'email': e, 'token': secrets.token_urlsafe(32), 'created_at': now}
                                for e in sorted(set(emails))])
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notice_key', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('retry_from', sa.DateTime(), nullable=True))
        batch_op.drop_constraint(op.f('ck_messages_kind_allowed'), type_='check')
        batch_op.create_check_constraint('kind_allowed', f"kind IN ({NEW_KINDS})")
        batch_op.create_index('ix_messages_to_problem', ['to_address', 'problem_id'], unique=False)
    with op.batch_alter_table('reporters', schema=None) as batch_op:
        batch_op.create_index('ix_reporters_email', ['email'], unique=False)


def downgrade():
    with op.batch_alter_table('reporters', schema=None) as batch_op:
        batch_op.drop_index('ix_reporters_email')
    op.execute(f"DELETE FROM messages WHERE kind NOT IN ({OLD_KINDS})")
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_to_problem')
        batch_op.drop_constraint(op.f('ck_messages_kind_allowed'), type_='check')
        batch_op.create_check_constraint('kind_allowed', f"kind IN ({OLD_KINDS})")
        batch_op.drop_column('retry_from')
        batch_op.drop_column('notice_key')
    op.drop_table('people')
