"""Who may come in, and how often: rate-limit counters, API tokens, failed sign-ins."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import check_in, utcnow

if TYPE_CHECKING:
    from app.models.people import User


class RateLimitHit(db.Model):
    """Requests counted per key and time window, in the database so every app process
    shares the limit."""

    __tablename__ = "rate_limit_hits"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(primary_key=True)
    count: Mapped[int] = mapped_column(default=0)


class ApiScope(StrEnum):
    READ = "read"  # read problems, their history and reports, as a leader sees them
    READ_WRITE = "read_write"  # also file reports on behalf of a named person, as staff do


API_TOKEN_CREATED = "api_token_created"
API_TOKEN_REVOKED = "api_token_revoked"


class ApiToken(db.Model):
    """A token an admin made for an integration. Only its SHA-256 is stored; ``prefix``
    (its first characters) lets people recognise it in lists and logs."""

    __tablename__ = "api_tokens"
    __table_args__ = (check_in("scope", ApiScope),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[str] = mapped_column(String(20), default=ApiScope.READ)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    created_by: Mapped[User | None] = relationship()

    @property
    def can_write(self) -> bool:
        return self.scope == ApiScope.READ_WRITE

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class LoginFailure(db.Model):
    """Failed sign-ins per email address and client address (whether or not an account has
    the email, so a lock says nothing about which accounts exist); a lock holds across app
    processes, and binds only the address that failed, so nobody can lock someone else out."""

    __tablename__ = "login_failures"

    email: Mapped[str] = mapped_column(String(254), primary_key=True)
    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    first_failed_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None]
