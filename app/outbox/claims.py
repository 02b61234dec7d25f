"""Claiming due rows of an outbox (mail, webhook deliveries) so that several sender
processes never send the same row twice.

A row is claimed by setting it to ``sending`` with the sender's name and a lease; a claim
whose lease ran out (the sender died) goes back to ``pending``. PostgreSQL picks rows with
``FOR UPDATE SKIP LOCKED``; SQLite, which has one writer at a time, with a conditional UPDATE.
"""

from __future__ import annotations

from datetime import timedelta

from app.extensions import db
from app.models import utcnow

LEASE = timedelta(minutes=5)


def release_stale_claims(model, *, pending, sending) -> int:
    return db.session.execute(
        db.update(model)
        .where(model.status == sending, model.claimed_until < utcnow())
        .values(status=pending, claimed_by=None, claimed_until=None)
    ).rowcount


def claim_due(model, *, pending, sending, worker: str, limit: int, where=()) -> list:
    """Claim up to ``limit`` pending rows of ``model`` that are due (and match ``where``),
    oldest first; commits the claim and returns the claimed rows."""
    now = utcnow()
    release_stale_claims(model, pending=pending, sending=sending)
    due = (
        db.select(model.id)
        .where(model.status == pending, model.next_attempt_at <= now, *where)
        .order_by(model.next_attempt_at, model.id)
        .limit(limit)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        condition = model.id.in_(db.session.scalars(due.with_for_update(skip_locked=True, of=model)).all())
    else:
        condition = model.id.in_(due.scalar_subquery())
    db.session.execute(
        db.update(model)
        .where(condition, model.status == pending)
        .values(status=sending, claimed_by=worker, claimed_until=now + LEASE)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return db.session.scalars(
        db.select(model).where(model.claimed_by == worker, model.status == sending).order_by(model.id)
    ).all()
