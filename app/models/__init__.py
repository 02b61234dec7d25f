"""Careloop's tables, with the rules that concern a single row.

Rules that span rows or need the acting user live in ``app/services``.
Times are stored as naive UTC (SQLite keeps no zone); ``utcnow`` makes them.
"""

from __future__ import annotations

import secrets
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime, timezone
from enum import StrEnum
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    and_,
    false,
    func,
    select,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from app.extensions import db

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


class Role(StrEnum):
    STAFF = "staff"
    LEADER = "leader"
    ADMIN = "admin"


class Status(StrEnum):
    NEW = "new"
    OWNED = "owned"
    IN_PROGRESS = "in_progress"
    CHANGED = "changed"
    DECLINED = "declined"

    @property
    def label(self) -> str:
        return str(STATUS_LABELS[self])


# Lazy: each label is translated when shown, in the language of the page or message.
STATUS_LABELS = {
    Status.NEW: _l("New, waiting for an owner"),
    Status.OWNED: _l("Owned"),
    Status.IN_PROGRESS: _l("Being changed"),
    Status.CHANGED: _l("Changed"),
    Status.DECLINED: _l("Declined"),
}

OPEN_STATUSES = (Status.NEW, Status.OWNED, Status.IN_PROGRESS)

# The workflow: which status may follow which. Owners may record a change straight
# from "owned" when the fix needed no separate work phase.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.NEW: frozenset({Status.OWNED, Status.DECLINED}),
    Status.OWNED: frozenset({Status.IN_PROGRESS, Status.CHANGED, Status.DECLINED}),
    Status.IN_PROGRESS: frozenset({Status.CHANGED, Status.DECLINED}),
    Status.CHANGED: frozenset({Status.OWNED}),
    Status.DECLINED: frozenset({Status.OWNED}),
}


class Channel(StrEnum):
    WEB = "web"
    STAFF = "staff"
    API = "api"
    ZENDESK = "zendesk"
    JIRA = "jira"


class ReporterKind(StrEnum):
    CUSTOMER = "customer"
    STAFF = "staff"


def _check_in(column: str, values: type[StrEnum]) -> CheckConstraint:
    allowed = ", ".join(f"'{v.value}'" for v in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=f"{column}_allowed")


class User(UserMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (
        _check_in("role", Role),
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
    __table_args__ = (_check_in("kind", ReporterKind), Index("ix_reporters_email", "email"))

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


class Problem(db.Model):
    __tablename__ = "problems"
    __table_args__ = (_check_in("status", Status),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    area: Mapped[str | None] = mapped_column(String(120))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default=Status.NEW, index=True)
    due_on: Mapped[date | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    # The change record.
    change_what: Mapped[str | None] = mapped_column(Text)
    change_since: Mapped[date | None]
    change_evidence_url: Mapped[str | None] = mapped_column(String(500))
    changed_at: Mapped[datetime | None]
    decline_reason: Mapped[str | None] = mapped_column(Text)
    public_title: Mapped[str | None] = mapped_column(String(200))
    public_summary: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None] = mapped_column(index=True)
    # Set when a leader merged this problem into another; its URL then redirects there.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("problems.id"), index=True)
    # The owner's personal note sent with the change or the answer; people without email
    # read it on their private page.
    closing_note: Mapped[str | None] = mapped_column(Text)

    owner: Mapped[User | None] = relationship()
    merged_into: Mapped[Problem | None] = relationship(remote_side="Problem.id")
    reports: Mapped[list[Report]] = relationship(
        back_populates="problem", order_by="Report.created_at"
    )
    comments: Mapped[list[Comment]] = relationship(
        back_populates="problem", order_by="Comment.created_at"
    )
    events: Mapped[list[Event]] = relationship(order_by="Event.id", viewonly=True)

    @property
    def status_enum(self) -> Status:
        return Status(self.status)

    @hybrid_property
    def is_open(self) -> bool:
        """The one definition of open, in Python and in SQL (``Problem.is_open``): an open
        status, and not merged into another problem (a merged problem is empty and its URL
        redirects; counting it would count its reports twice)."""
        return self.status in OPEN_STATUSES and self.merged_into_id is None

    @is_open.inplace.expression
    @classmethod
    def _is_open_expression(cls):
        return and_(cls.status.in_(OPEN_STATUSES), cls.merged_into_id.is_(None))

    def can_transition_to(self, status: Status | str) -> bool:
        return Status(status) in TRANSITIONS[Status(self.status)]

    @property
    def is_overdue(self) -> bool:
        return self.is_open and self.due_on is not None and self.due_on < utcnow().date()

    # Derived figures: computed from reports and events, never stored twice.
    @property
    def people_affected(self) -> int:
        return db.session.scalar(
            select(func.count(func.distinct(Report.reporter_id))).where(
                Report.problem_id == self.id
            )
        ) or 0

    @property
    def first_report_at(self) -> datetime | None:
        return db.session.scalar(
            select(func.min(Report.created_at)).where(Report.problem_id == self.id)
        )

    @property
    def handoffs(self) -> list[Event]:
        return [e for e in self.events if e.verb == HANDED_OVER]

    @property
    def handoff_count(self) -> int:
        return db.session.scalar(
            select(func.count(Event.id)).where(
                Event.problem_id == self.id, Event.verb == HANDED_OVER
            )
        ) or 0


class Report(db.Model):
    """One person's report, in their own words."""

    __tablename__ = "reports"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        _check_in("channel", Channel),
        Index("ix_reports_problem_created", "problem_id", "created_at"),
        # The dashboard's figures (migration 0005): people affected per problem, reports per channel.
        Index("ix_reports_problem_reporter", "problem_id", "reporter_id"),
        Index("ix_reports_channel_problem", "channel", "problem_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(String(200))
    occurred_on: Mapped[date | None]
    impact: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(20), default=Channel.WEB)
    source: Mapped[str | None] = mapped_column(String(50))
    external_id: Mapped[str | None] = mapped_column(String(200))
    external_url: Mapped[str | None] = mapped_column(String(500))
    # An imported ticket's last remote update, so an unchanged ticket is not rewritten.
    external_updated_at: Mapped[datetime | None]
    # The external id of the ticket this one was merged into remotely (it follows that one).
    merged_into: Mapped[str | None] = mapped_column(String(200))
    # How the report came to be in its problem, when not by starting it: "auto" (the
    # similarity engine, with its score), "chosen" (the person said "me too"),
    # "confirmed" (a leader confirmed a suggested duplicate), "moved" (a leader moved it).
    grouping: Mapped[str | None] = mapped_column(String(20))
    grouping_score: Mapped[float | None]
    # Set when the remote ticket was deleted: the text is gone, the count and history stay.
    removed_at: Mapped[datetime | None]
    # Why an imported ticket is no longer a report (it stopped matching the source's filter);
    # the report stays, with this note. None while it matches.
    import_note: Mapped[str | None] = mapped_column(String(500))
    # The remote ticket that groups this one (a Zendesk incident's problem ticket), and its address.
    linked_to: Mapped[str | None] = mapped_column(String(200))
    linked_url: Mapped[str | None] = mapped_column(String(500))
    # The language the report was filed in (the page's language; imports: the default).
    locale: Mapped[str] = mapped_column(String(16), default="en", server_default="en")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # None for a public report held for moderation (CARELOOP_MODERATE_PUBLIC) until a leader approves it.
    problem_id: Mapped[int | None] = mapped_column(ForeignKey("problems.id"))
    # "held" (waiting for a leader), "rejected" (spam: text and personal details removed), or None.
    moderation: Mapped[str | None] = mapped_column(String(20), index=True)
    reporter_id: Mapped[int] = mapped_column(ForeignKey("reporters.id"), index=True)
    filed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    # Staff filing for a customer: their own note, kept apart from the customer's words
    # (``text``), so it is never quoted back to the customer.
    staff_note: Mapped[str | None] = mapped_column(Text)

    problem: Mapped[Problem] = relationship(back_populates="reports")
    reporter: Mapped[Reporter] = relationship(back_populates="reports")
    filed_by: Mapped[User | None] = relationship()

    def quote(self, limit: int = 300) -> str:
        """The person's words, trimmed at a word boundary to about ``limit`` characters."""
        text = " ".join(self.text.split())
        if len(text) <= limit:
            return text
        cut = text[:limit].rsplit(" ", 1)[0]
        return cut.rstrip(",.;:") + "…"


class Comment(db.Model):
    """An internal note by a staff account on a problem; never shown publicly."""

    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problems.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    problem: Mapped[Problem] = relationship(back_populates="comments")
    author: Mapped[User] = relationship()


# Event verbs. The handoff count is the number of HANDED_OVER events.
REPORT_FILED = "report_filed"
PROBLEM_CREATED = "problem_created"
PROBLEM_EDITED = "problem_edited"
TOOK_OWNERSHIP = "took_ownership"
HANDED_OVER = "handed_over"
STATUS_CHANGED = "status_changed"
CHANGE_RECORDED = "change_recorded"
DECLINED = "declined"
REOPENED = "reopened"
PUBLISHED = "published"
UNPUBLISHED = "unpublished"
REPORT_MOVED = "report_moved"
COMMENTED = "commented"
USER_CREATED = "user_created"
USER_UPDATED = "user_updated"
REPORT_UPDATED = "report_updated"
GROUPED_AUTOMATICALLY = "grouped_automatically"
GROUPING_UNDONE = "grouping_undone"
DUPLICATE_SUGGESTED = "duplicate_suggested"
DUPLICATE_CONFIRMED = "duplicate_confirmed"
DUPLICATE_REJECTED = "duplicate_rejected"
RECURRENCE_SUSPECTED = "recurrence_suspected"
MERGED = "merged"
STILL_HAPPENING = "still_happening"
MARKED_UNREACHABLE = "marked_unreachable"
UNSUBSCRIBED = "unsubscribed"
LINKED = "linked"
LINKED_WORK_DONE = "linked_work_done"
REPORT_REMOVED = "report_removed"
OWNER_ASKED = "owner_asked"  # a leader asked the owner about the problem
TAKEOVER_OFFERED = "takeover_offered"  # a leader offered to take it over
REQUEST_ANSWERED = "request_answered"  # the owner accepted or declined, with a reason
PERSON_ANSWERED = "person_answered"  # the owner wrote to one reporter
USER_INVITED = "user_invited"


class Event(db.Model):
    """Append-only audit trail, written in the same transaction as what it records."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_problem_verb", "problem_id", "verb"),
        # The dashboard's figures (migration 0005): last action per problem; handoffs,
        # first owner and changes by verb.
        Index("ix_events_problem_verb_created", "problem_id", "verb", "created_at"),
        Index("ix_events_verb_problem_created", "verb", "problem_id", "created_at"),
        Index("ix_events_actor_verb", "actor_id", "verb"),  # a leader's record
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    verb: Mapped[str] = mapped_column(String(40))
    problem_id: Mapped[int | None] = mapped_column(ForeignKey("problems.id"))
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"), index=True)
    subject_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    actor: Mapped[User | None] = relationship(foreign_keys=[actor_id])
    subject_user: Mapped[User | None] = relationship(foreign_keys=[subject_user_id])
    problem: Mapped[Problem | None] = relationship()
    report: Mapped[Report | None] = relationship()


class GroupingReview(db.Model):
    """A question for a leader: is this new report a duplicate of that problem (``duplicate``),
    or is that changed/declined problem still happening (``recurrence``)?"""

    __tablename__ = "grouping_reviews"
    __table_args__ = (Index("ix_grouping_reviews_status", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # duplicate | recurrence
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    candidate_problem_id: Mapped[int] = mapped_column(ForeignKey("problems.id"), index=True)
    score: Mapped[float]
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | confirmed | rejected
    # Other likely problems, best first, as [[problem_id, score], ...] (migration 0017).
    alternatives: Mapped[list | None] = mapped_column(JSON)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    report: Mapped[Report] = relationship()
    candidate: Mapped[Problem] = relationship()
    decided_by: Mapped[User | None] = relationship()

    def other_candidates(self) -> list[tuple[Problem, float]]:
        """The question's other candidate problems (still there), best first, with scores."""
        found = []
        for problem_id, score in self.alternatives or ():
            problem = db.session.get(Problem, int(problem_id))
            if problem is not None and problem.merged_into_id is None and problem.id != self.candidate_problem_id:
                found.append((problem, float(score)))
        return found


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
    __table_args__ = (_check_in("scope", ApiScope),)

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


class AppendOnlyError(RuntimeError):
    pass


# Enforced by a listener registered per app (app/events.py, ``_events_are_append_only``).


class SourceState(db.Model):
    """Where an import source stands: its cursor, saved with the page it covers."""

    __tablename__ = "source_states"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    cursor: Mapped[str | None] = mapped_column(Text)
    running_since: Mapped[datetime | None]
    last_run_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class ImportRun(db.Model):
    """One run of an importer, with its counts and error (the Sources page shows them)."""

    __tablename__ = "import_runs"
    __table_args__ = (Index("ix_import_runs_source_started", "source", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(50))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    created: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    unchanged: Mapped[int] = mapped_column(default=0)
    removed: Mapped[int] = mapped_column(default=0)
    errors: Mapped[int] = mapped_column(default=0)
    error_message: Mapped[str | None] = mapped_column(Text)
    cursor_before: Mapped[str | None] = mapped_column(Text)
    cursor_after: Mapped[str | None] = mapped_column(Text)
    trigger: Mapped[str] = mapped_column(String(20), default="command")


class WebhookReceipt(db.Model):
    """Webhook invocations already handled, so a replayed call is refused."""

    __tablename__ = "webhook_receipts"
    __table_args__ = (UniqueConstraint("source", "invocation_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(50))
    invocation_id: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class MessageKind(StrEnum):
    OWNED = "owned"  # the problem got its first owner
    CHANGED = "changed"  # the change was published
    DECLINED = "declined"
    MOVED = "moved"  # their report moved to another problem by a merge
    STAFF_COPY = "staff_copy"  # to staff who filed for a customer
    OWNER_FLAG = "owner_flag"  # to the owner: "this is still happening"
    WRITE_BACK = "write_back"  # a public reply on an imported ticket
    DIGEST = "digest"  # a leader's weekly digest
    WORK_DONE = "work_done"  # to the owner: the linked work is done, record the change
    RECEIPT = "receipt"  # "we have your report": their words, their private link, the owner once there is one
    LINK_AGAIN = "link_again"  # their private link again, asked for by email address
    TOLD_IN_PERSON = "told_in_person"  # a record, never sent: staff told a person without email
    ANSWER = "answer"  # the owner writes to one reporter, quoting their words
    OWNERSHIP = "ownership"  # to a leader: asked about, offered or answered about ownership
    INVITATION = "invitation"  # to a new user: a one-time link to set a password


class MessageStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"  # gave up after MAX_ATTEMPTS, or a permanent refusal
    BOUNCED = "bounced"  # the receiving server refused the address
    UNREACHABLE = "unreachable"  # a leader marked the person unreachable (with a reason)


CLOSING_KINDS = (MessageKind.CHANGED, MessageKind.DECLINED)


class Message(db.Model):
    """The outbox: written in the same transaction as the event that causes it, sent
    later by ``careloop send-mail``. Bodies are rendered when written, so this is also
    the record of what each person received."""

    __tablename__ = "messages"
    __table_args__ = (
        _check_in("kind", MessageKind),
        _check_in("status", MessageStatus),
        Index("ix_messages_due", "status", "next_attempt_at"),
        Index("ix_messages_problem_kind", "problem_id", "kind"),
        # The dashboard (migration 0005): a leader's record (people told after their actions),
        # and each person's latest notice about a problem (people waiting to hear back).
        Index("ix_messages_event", "event_id"),
        Index("ix_messages_reporter_problem_kind", "reporter_id", "problem_id", "kind"),
        Index("ix_messages_to_problem", "to_address", "problem_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default=MessageStatus.PENDING)
    problem_id: Mapped[int | None] = mapped_column(ForeignKey("problems.id"))
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("reporters.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id"))
    report_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    # An email address, or "source:external_id" for a write-back.
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    # What the message told the person (app/services/telling.py), e.g. "owned:5" or
    # "changed:2026-05-01T10:00:00": nobody is told the same thing about a problem twice.
    notice_key: Mapped[str | None] = mapped_column(String(80))
    attempts: Mapped[int] = mapped_column(default=0)
    # When an admin last sent it again (its retry window starts then, not at created_at).
    retry_from: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    problem: Mapped[Problem | None] = relationship()
    reporter: Mapped[Reporter | None] = relationship()
    user: Mapped[User | None] = relationship()


class ProblemLink(db.Model):
    """A problem linked to the remote issue that carries the work (for example in Jira).

    When the remote issue is done, the owner is asked to record the change; nobody is
    told anything until the owner has written it."""

    __tablename__ = "problem_links"
    __table_args__ = (UniqueConstraint("problem_id", "source", "external_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problems.id"), index=True)
    source: Mapped[str] = mapped_column(String(50))
    external_key: Mapped[str] = mapped_column(String(200))
    url: Mapped[str | None] = mapped_column(String(500))
    status_category: Mapped[str | None] = mapped_column(String(40))
    checked_at: Mapped[datetime | None]
    done_at: Mapped[datetime | None]
    # Careloop created the item (it carries a fix; never imported back as a report).
    created_here: Mapped[bool] = mapped_column(default=False, server_default=false())
    # When the owner was asked to record the change (None: done while nobody owned it).
    owner_asked_at: Mapped[datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    problem: Mapped[Problem] = relationship()
    created_by: Mapped[User | None] = relationship()


BRANDING_CHANGED = "branding_changed"


class Branding(db.Model):
    """The organisation's look, set by an admin at /admin/branding: at most one row (id 1).

    Empty columns mean "the default" (``CARELOOP_ORG_NAME``, the stylesheet's colours, no logo).
    ``version`` grows with every save; pages link the theme stylesheet and logo by it."""

    __tablename__ = "branding"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False, default=1)
    org_name: Mapped[str | None] = mapped_column(String(120))
    welcome_text: Mapped[str | None] = mapped_column(Text)
    primary_colour: Mapped[str | None] = mapped_column(String(7))  # header and main buttons, white text on it
    accent_colour: Mapped[str | None] = mapped_column(String(7))  # links, on the page background
    logo: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    logo_type: Mapped[str | None] = mapped_column(String(20))  # image/png, image/jpeg or image/webp
    logo_width: Mapped[int | None]
    logo_height: Mapped[int | None]
    logo_sha256: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class OwnershipRequest(db.Model):
    """A leader who is not the owner asks the owner about a problem (``ask``) or offers to
    take it over (``offer``); the owner answers with a reason (app/services/ownership.py)."""

    __tablename__ = "ownership_requests"
    __table_args__ = (
        CheckConstraint("kind IN ('ask', 'offer')", name="kind_allowed"),
        CheckConstraint("status IN ('open', 'accepted', 'declined', 'closed')", name="status_allowed"),
        Index("ix_ownership_requests_problem_status", "problem_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problems.id"))
    kind: Mapped[str] = mapped_column(String(10))
    from_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    to_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    note: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="open")
    answer: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    problem: Mapped[Problem] = relationship()
    from_user: Mapped[User] = relationship(foreign_keys=[from_user_id])
    to_user: Mapped[User] = relationship(foreign_keys=[to_user_id])


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


# The similarity index's tables live with the engine; imported here so every model is
# known wherever ``app.models`` is (migrations, compare_metadata, create_all in tools).
from app.deploy_models import CacheVersion, ScheduledRun  # noqa: E402,F401
from app.models.grouping import SimilarityChange, SimilarityVector  # noqa: E402,F401

# Outgoing webhooks' endpoints and delivery outbox (app/webhooks/outgoing.py).
from app.models.webhooks import WebhookDelivery, WebhookEndpoint  # noqa: E402,F401
