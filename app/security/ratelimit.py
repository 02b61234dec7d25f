"""Rate limits: fixed-window counters kept in the database, so they hold across app processes.

Every limit is one row per key and window in ``rate_limit_hits``: a request adds one to
its row with a single ``UPDATE`` (or inserts the row, racing safely with other processes),
then reads the count back. Rows of past windows are deleted as new ones are counted.

``allow(key, limit, window_seconds)`` is the primitive (the API uses it directly);
``hit(name, who)`` reads a named limit from the configuration (``CARELOOP_RATELIMIT_<NAME>``,
written ``"10/hour"`` or ``"5/15minutes"``) and raises ``RateLimited`` with the seconds to wait.
``CARELOOP_RATELIMIT_ENABLED=0`` turns every limit off.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta

from flask import current_app, request
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import RateLimitHit, utcnow

UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_SPEC = re.compile(r"^\s*(\d+)\s*(?:/|per)\s*(\d*)\s*(second|minute|hour|day)s?\s*$", re.IGNORECASE)
# Rows are kept this long at least, so the longest window (a day) still sees its count.
KEEP = timedelta(days=1)


class RateLimited(Exception):
    """A limit was reached; ``retry_after`` is the whole number of seconds until it resets."""

    def __init__(self, name: str, retry_after: int):
        super().__init__(f"rate limit {name!r} reached; retry after {retry_after} s")
        self.name = name
        self.retry_after = max(int(retry_after), 1)


def parse_limit(spec: str | int) -> tuple[int, int]:
    """``"10/hour"`` → (10, 3600); ``"5/15minutes"`` → (5, 900); ``"30 per minute"`` → (30, 60)."""
    match = _SPEC.match(str(spec))
    if not match:
        raise ValueError(f"not a rate limit: {spec!r} (write it like 10/hour or 5/15minutes)")
    count, multiple, unit = match.groups()
    return int(count), (int(multiple) if multiple else 1) * UNITS[unit.lower()]


def enabled() -> bool:
    return bool(current_app.config.get("CARELOOP_RATELIMIT_ENABLED", True))


def _window_start(now: datetime, window_seconds: int) -> datetime:
    return datetime.fromtimestamp(int(now.timestamp()) // window_seconds * window_seconds)


def _count(key: str, window_seconds: int) -> tuple[int, datetime]:
    """Add one to ``key``'s current window and return (its count, the window's start). Commits."""
    now = utcnow()
    start = _window_start(now, window_seconds)
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
    # This key's past windows are over; other keys' rows go once they are older than any window.
    db.session.execute(
        db.delete(RateLimitHit).where(
            (RateLimitHit.window_start < now - KEEP)
            | ((RateLimitHit.key == key) & (RateLimitHit.window_start < start))
        )
    )
    db.session.commit()
    return count, start


def allow(key: str, limit: int, window_seconds: int) -> bool:
    """Count one request for ``key``; False once ``limit`` is passed in this window. Commits.

    Always True (and nothing counted) when ``CARELOOP_RATELIMIT_ENABLED`` is off.
    """
    if not enabled():
        return True
    count, _ = _count(key, window_seconds)
    return count <= limit


def limit_for(name: str) -> tuple[int, int]:
    """The configured (limit, window seconds) of a named limit."""
    if name == "suggest":  # the older per-minute setting
        return int(current_app.config["CARELOOP_SUGGEST_PER_MINUTE"]), 60
    return parse_limit(current_app.config[f"CARELOOP_RATELIMIT_{name.upper()}"])


def hit(name: str, who: str) -> None:
    """Count one request against the named limit for ``who`` (an IP, an account);
    raise ``RateLimited`` once it is passed. Commits (call it before changing anything)."""
    if not enabled():
        return
    limit, window = limit_for(name)
    count, start = _count(f"{name}:{who}", window)
    if count > limit:
        wait = (start + timedelta(seconds=window) - utcnow()).total_seconds()
        raise RateLimited(name, math.ceil(wait))


def client_ip() -> str:
    """The client's address (the proxy's view of it when ``CARELOOP_PROXY_COUNT`` is set)."""

    return request.remote_addr or "unknown"
