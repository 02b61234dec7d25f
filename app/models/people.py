"""People: staff accounts (``User``) and their invitations, and the people who report
(``Person``, one per email address; ``Reporter``, one per filing)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from flask_babel import lazy_gettext as _l
from flask_login import UserMixin
from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, cast, func, literal
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from app.extensions import db
from app.models.base import check_in, new_token, utcnow

if TYPE_CHECKING:
    from app.models.reports import Report


class Role(StrEnum):
    STAFF = "staff"
    LEADER = "leader"
    ADMIN = "admin"



class ReporterKind(StrEnum):
    CUSTOMER = "customer"
    STAFF = "staff"



class User(UserMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (
        check_in("role", Role),
        # Single sign-on: one account per subject at each OpenID Connect provider.
        UniqueConstraint("oidc_issuer", "oidc_subject"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    # Kept lower-cased, so uniqueness is case-insensitive on every database.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(20), default=Role.STAFF)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set on the first single sign-on (app/auth/oidc.py): the provider's issuer and subject.
    oidc_issuer: Mapped[str | None] = mapped_column(String(255))
    oidc_subject: Mapped[str | None] = mapped_column(String(255))
    # Part of every session and remember cookie (``get_id``): raising it ends them all
    # (sign-out, password change, deactivation, role change, "sign out everywhere").
    session_version: Mapped[int] = mapped_column(default=1, server_default="1")

    @staticmethod
    def normalise_email(email: str) -> str:
        return email.strip().lower()

    def set_password(self, password: str) -> None:
        if self.password_hash is not None:  # a change, not the first password: end old sessions
            self.end_sessions()
        self.password_hash = generate_password_hash(password)

    def end_sessions(self) -> None:
        """Every session and remember cookie issued before this stops working."""
        self.session_version = (self.session_version or 1) + 1

    def get_id(self) -> str:
        """What Flask-Login keeps in the session and the remember cookie: id and session version."""
        return f"{self.id}:{self.session_version or 1}"

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive accounts
        return self.active

    @property
    def is_leader(self) -> bool:
        return self.role in (Role.LEADER, Role.ADMIN)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email} {self.role}>"


class Person(db.Model):
    """Everyone who filed with one email address (lower-cased), seen as one person.

    Each filing keeps its own ``Reporter`` (its name and the private link its browser was
    shown); messages go once per person and problem, and the person's own link (``token``,
    only ever sent to that address) shows every report filed with it."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    token: Mapped[str] = mapped_column(String(64), unique=True, default=new_token)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Reporter(db.Model):
    """A person who experienced the problem (a customer, or a member of staff)."""

    __tablename__ = "reporters"
    __table_args__ = (check_in("kind", ReporterKind), Index("ix_reporters_email", "email"))

    id: Mapped[int] = mapped_column(primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(120))
    email: Mapped[str | None] = mapped_column(String(254))
    kind: Mapped[str] = mapped_column(String(20), default=ReporterKind.CUSTOMER)
    contact_ok: Mapped[bool] = mapped_column(default=False)
    token: Mapped[str] = mapped_column(String(64), unique=True, default=new_token)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    unsubscribed_at: Mapped[datetime | None]
    # The language of their latest report (a locale code such as "de"); their messages use it.
    locale: Mapped[str] = mapped_column(String(16), default="en", server_default="en")

    user: Mapped[User | None] = relationship()
    reports: Mapped[list[Report]] = relationship(
        back_populates="reporter", order_by="Report.created_at"
    )

    @property
    def name_or_anonymous(self) -> str:
        return self.display_name or _l("Anonymous")  # lazy: translated where it is shown

    @hybrid_property
    def identity(self) -> str:
        """Who this is, for counting people: one address is one person however often they
        filed; someone who left no address is their own row."""
        return self.email or f"reporter:{self.id}"

    @identity.inplace.expression
    @classmethod
    def _identity_expression(cls):
        return func.coalesce(cls.email, literal("reporter:", String) + cast(cls.id, String))

    @property
    def can_be_emailed(self) -> bool:
        return bool(self.email and self.contact_ok and self.unsubscribed_at is None)

    @property
    def contact_state(self) -> str | None:
        """Why this person cannot be emailed, or None when they can."""
        if self.unsubscribed_at is not None:
            return "unsubscribed"
        if not (self.email and self.contact_ok):
            return "no contact given"
        return None



class Invitation(db.Model):
    """A one-time, expiring link for a new user to set a password. Only its SHA-256 is kept."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
