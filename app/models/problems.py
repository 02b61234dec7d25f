"""Problems and what hangs on them: the workflow of statuses, internal comments, links to
remote work items, and leaders' questions about ownership."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
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

from app.extensions import db
from app.models.audit import HANDED_OVER, Event
from app.models.base import check_in, utcnow
from app.models.people import Reporter
from app.models.reports import Report

if TYPE_CHECKING:
    from app.models.people import User


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



class Problem(db.Model):
    __tablename__ = "problems"
    __table_args__ = (check_in("status", Status),)

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
            select(func.count(func.distinct(Reporter.identity)))
            .join(Report, Report.reporter_id == Reporter.id)
            .where(Report.problem_id == self.id)
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
