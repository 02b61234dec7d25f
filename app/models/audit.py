"""The append-only audit trail: one ``Event`` row per thing that happened, and the verbs."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import utcnow

if TYPE_CHECKING:
    from app.models.people import User
    from app.models.problems import Problem
    from app.models.reports import Report


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



class AppendOnlyError(RuntimeError):
    pass


# Enforced by a listener registered per app (app/events.py, ``_events_are_append_only``).
