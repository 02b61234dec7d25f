"""The similarity index's tables: one vector per report, and the log of changes.

Every app process keeps a copy of the vectors in memory for fast search and brings it
up to date from ``similarity_changes`` before each search, so the index survives
restarts and is shared by every worker and machine on one database.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db


def _utcnow() -> datetime:
    from app.models import utcnow

    return utcnow()


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
    created_at: Mapped[datetime] = mapped_column(default=_utcnow)
