"""A fixed-window rate limit kept in the database, so it holds across app processes."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import RateLimitHit, utcnow


def allow(key: str, limit: int, window_seconds: int) -> bool:
    """Count one request for ``key``; False once ``limit`` is passed in this window. Commits."""
    now = utcnow()
    start = datetime.fromtimestamp(int(now.timestamp()) // window_seconds * window_seconds)
    counted = db.session.execute(
        db.update(RateLimitHit).where(RateLimitHit.key == key, RateLimitHit.window_start == start)
        .values(count=RateLimitHit.count + 1)
    ).rowcount
    if not counted:
        try:
            with db.session.begin_nested():
                db.session.add(RateLimitHit(key=key, window_start=start, count=1))
        except IntegrityError:  # another process created the row first
            db.session.execute(
                db.update(RateLimitHit).where(RateLimitHit.key == key, RateLimitHit.window_start == start)
                .values(count=RateLimitHit.count + 1)
            )
    count = db.session.scalar(
        db.select(RateLimitHit.count).where(RateLimitHit.key == key, RateLimitHit.window_start == start)
    )
    db.session.execute(db.delete(RateLimitHit).where(RateLimitHit.window_start < now - timedelta(hours=1)))
    db.session.commit()
    return count <= limit
