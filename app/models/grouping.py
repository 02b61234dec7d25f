"""The similarity index's tables: one vector per report, and the log of changes.

Every app process keeps a copy of the vectors in memory for fast search and brings it
up to date from ``similarity_changes`` before each search, so the index survives
restarts and is shared by every worker and machine on one database.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import utcnow
from app.models.problems import Problem

if TYPE_CHECKING:
    from app.models.people import User
    from app.models.reports import Report


class SimilarityVector(db.Model):
    """A report's text as a vector of the configured backend (``model`` names it)."""

    __tablename__ = "similarity_vectors"

    report_id: Mapped[int] = mapped_column(
        ForeignKey("reports.id"), primary_key=True, autoincrement=False
    )
    problem_id: Mapped[int] = mapped_column(ForeignKey("problems.id"), index=True)
    model: Mapped[str] = mapped_column(String(80))
    # int8 components followed by their float32 scale (see app.grouping.index.pack_vector).
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    # A 64-bit signature of the identifiers in the text (version numbers, ticket keys):
    # two reports citing different identifiers are rarely the same problem.
    marks: Mapped[int] = mapped_column(BigInteger, default=0)


class SimilarityChange(db.Model):
    """Append-only log of index changes; processes replay it to refresh their copy.

    ``kind`` is ``index`` (report added or re-encoded), ``remove``, ``move`` (report to
    ``problem_id``) or ``merge`` (every report of ``old_problem_id`` to ``problem_id``).
    """

    __tablename__ = "similarity_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    report_id: Mapped[int | None]
    problem_id: Mapped[int | None]
    old_problem_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class GroupingDecision(db.Model):
    """A leader's labelled decision about a report and a problem, which the grouping
    learns from (see :mod:`app.grouping.learning`).

    ``source`` says where the label came from: ``confirmed`` / ``rejected`` (a review
    question), ``undone`` (an automatic join taken back), ``merged``, ``moved``, ``split``.
    ``same`` is the label: the report is about ``problem_id`` (True) or not (False).
    ``features`` are the evidence of the report for that problem when it was decided
    (app.grouping.rules.FEATURES), so the calibration can be fitted again without the texts.
    """

    __tablename__ = "grouping_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(20))
    same: Mapped[bool]
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"), index=True)
    problem_id: Mapped[int | None] = mapped_column(ForeignKey("problems.id"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    score: Mapped[float | None]
    features: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


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
