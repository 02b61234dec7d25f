"""What every table module shares: the clock (naive UTC), tokens, and CHECK constraints
that list an enum's values. The one declarative base is ``db.Model`` (app/extensions.py)."""

from __future__ import annotations

import secrets
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone
from enum import StrEnum

from sqlalchemy import CheckConstraint

_clock: ContextVar[datetime | None] = ContextVar("careloop_clock", default=None)


def utcnow() -> datetime:
    return _clock.get() or datetime.now(timezone.utc).replace(tzinfo=None)


@contextmanager
def clock_at(when: datetime):
    """Make ``utcnow`` return ``when`` (for demo data and tests that tell a story over time)."""
    token = _clock.set(when)
    try:
        yield
    finally:
        _clock.reset(token)


def new_token() -> str:
    """An unguessable, URL-safe token (256 bits)."""
    return secrets.token_urlsafe(32)


def check_in(column: str, values: type[StrEnum]) -> CheckConstraint:
    """A named CHECK that ``column`` holds one of the enum's values."""
    allowed = ", ".join(f"'{v.value}'" for v in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=f"{column}_allowed")


