"""Writing audit events: one helper so every service records the same way."""

from __future__ import annotations

from typing import Any

from app.extensions import db
from app.models import Event, Problem, Report, User
from app.webhooks.outgoing import event_recorded


def record(
    verb: str,
    actor: User | None,
    *,
    problem: Problem | None = None,
    report: Report | None = None,
    subject_user: User | None = None,
    **details: Any,
) -> Event:
    """Add an audit event to the current transaction (the caller commits)."""
    event = Event(
        verb=verb,
        actor=actor,
        problem=problem,
        report=report,
        subject_user=subject_user,
        details=_jsonable(details),
    )
    db.session.add(event)
    # Outgoing webhooks: a delivery is written with the event, in the same transaction.

    event_recorded(event)
    return event


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
