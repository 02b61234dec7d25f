"""The grouping panel: how well grouping works, month by month, from what leaders did.

Per month (of the event): automatic joins and how many were undone since; review
questions and how many were confirmed; manual merges per 100 reports filed; and the
measured precision of automatic joins (those not undone, of all made). A few grouped
queries; months with nothing are shown as zeros.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, select
from sqlalchemy.orm import aliased

from app.extensions import db
from app.models import GROUPED_AUTOMATICALLY, GROUPING_UNDONE, MERGED, Event, GroupingReview, Report, utcnow
from app.queries.dashboard import last_months, month_label, month_of, month_start


@dataclass
class PanelMonth:
    month: str  # 'YYYY-MM'
    label: str = ""  # the month in the page's language
    reports: int = 0
    auto: int = 0
    undone: int = 0
    questions: int = 0
    confirmed: int = 0
    rejected: int = 0
    merges: int = 0

    @property
    def precision(self) -> float | None:
        return (self.auto - self.undone) / self.auto if self.auto else None

    @property
    def merges_per_100(self) -> float | None:
        return 100 * self.merges / self.reports if self.reports else None

    @property
    def confirmed_share(self) -> float | None:
        return self.confirmed / self.questions if self.questions else None


def grouping_panel(months: int = 12) -> list[PanelMonth]:
    """The last ``months`` calendar months, oldest first."""

    keys = last_months(utcnow(), months)
    since = month_start(keys[0])
    rows = {key: PanelMonth(key, month_label(key)) for key in keys}

    def add(query, *fields):
        for values in db.session.execute(query):
            month = rows.get(values[0])
            if month is not None:
                for name, value in zip(fields, values[1:]):
                    setattr(month, name, getattr(month, name) + int(value or 0))

    month = month_of(Report.created_at)
    add(select(month, func.count(Report.id)).where(Report.created_at >= since, Report.problem_id.is_not(None))
        .group_by(month), "reports")
    undo = aliased(Event)
    month = month_of(Event.created_at)
    undone = select(undo.id).where(undo.verb == GROUPING_UNDONE, undo.report_id == Event.report_id).exists()
    add(select(month, func.count(Event.id), func.count(Event.id).filter(undone))
        .where(Event.verb == GROUPED_AUTOMATICALLY, Event.created_at >= since).group_by(month), "auto", "undone")
    month = month_of(GroupingReview.created_at)
    add(select(month, func.count(GroupingReview.id),
               func.count(GroupingReview.id).filter(GroupingReview.status == "confirmed"),
               func.count(GroupingReview.id).filter(GroupingReview.status == "rejected"))
        .where(GroupingReview.kind == "duplicate", GroupingReview.created_at >= since).group_by(month),
        "questions", "confirmed", "rejected")
    # A leader's merge writes one MERGED event on the problem merged away, naming its reports;
    # a problem emptied by a confirmed question is merged with no reports (not handwork).
    merged = db.session.execute(
        select(Event.created_at, Event.problem_id, Event.details)
        .where(and_(Event.verb == MERGED, Event.actor_id.is_not(None), Event.created_at >= since))
    ).all()
    for created_at, problem_id, details in merged:
        details = details or {}
        if (details.get("before") or {}).get("problem_id") == problem_id and details.get("reports"):
            key = f"{created_at:%Y-%m}"
            if key in rows:
                rows[key].merges += 1
    return [rows[key] for key in keys]
