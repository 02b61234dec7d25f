"""Failed sign-ins: after ``CARELOOP_LOGIN_MAX_FAILURES`` failures within
``CARELOOP_LOGIN_LOCK_MINUTES``, the email address is locked for that many minutes.

Counted per email address in the database (``login_failures``), so the lock holds across
app processes, and counted for addresses with no account too, so a lock reveals nothing
about which accounts exist. A successful sign-in clears the count; an admin can unlock.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from functools import lru_cache

from flask import current_app
from sqlalchemy import case
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from app.events import record_event
from app.extensions import db
from app.models import LoginFailure, User, utcnow

ACCOUNT_UNLOCKED = "account_unlocked"


def _lock_time() -> timedelta:
    return timedelta(minutes=int(current_app.config["CARELOOP_LOGIN_LOCK_MINUTES"]))


def locked_for(email: str) -> int | None:
    """Whole seconds until ``email`` may try again, or None when it is not locked."""
    until = db.session.scalar(db.select(LoginFailure.locked_until).where(LoginFailure.email == email))
    now = utcnow()
    if until is None or until <= now:
        return None
    return max(math.ceil((until - now).total_seconds()), 1)


def record_failure(email: str) -> int | None:
    """Count one failed sign-in for ``email`` (atomically, across processes); lock it when
    this reaches the limit. Returns the seconds locked for, or None. Flushes; the caller commits."""
    now = utcnow()
    window_start = now - _lock_time()
    stale = LoginFailure.first_failed_at < window_start
    count_one = (
        db.update(LoginFailure).where(LoginFailure.email == email)
        .values(failures=case((stale, 1), else_=LoginFailure.failures + 1),
                first_failed_at=case((stale, now), else_=LoginFailure.first_failed_at))
    )
    if not db.session.execute(count_one).rowcount:
        try:
            with db.session.begin_nested():
                db.session.add(LoginFailure(email=email, failures=1, first_failed_at=now))
        except IntegrityError:  # another process inserted it first
            db.session.execute(count_one)
    maximum = int(current_app.config["CARELOOP_LOGIN_MAX_FAILURES"])
    db.session.execute(
        db.update(LoginFailure)
        .where(LoginFailure.email == email, LoginFailure.failures >= maximum)
        .values(locked_until=now + _lock_time(), failures=0, first_failed_at=now)
    )
    db.session.flush()
    return locked_for(email)


def clear_failures(email: str) -> None:
    """A successful sign-in starts the count again."""
    db.session.execute(db.delete(LoginFailure).where(LoginFailure.email == email))


def lock_states() -> dict[str, datetime]:
    """Email → locked until, for the addresses locked now (the admins' users page)."""
    rows = db.session.execute(
        db.select(LoginFailure.email, LoginFailure.locked_until).where(LoginFailure.locked_until > utcnow())
    )
    return {email: until for email, until in rows}


def unlock(user: User, actor: User) -> None:
    """An admin lets a locked account sign in again at once."""
    from app.services.errors import PermissionDenied

    if not actor.is_admin:
        raise PermissionDenied("Only admins can unlock accounts.")
    clear_failures(user.email)
    record_event(ACCOUNT_UNLOCKED, actor, subject_user=user)
    db.session.flush()


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return generate_password_hash("not a real password")


def spend_hash_time(password: str) -> None:
    """Check a password against a dummy hash, so "no such account" takes as long as a wrong password."""
    check_password_hash(_dummy_hash(), password)
