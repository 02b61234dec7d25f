"""Finding a problem by words or number, for the merge and move forms."""

from __future__ import annotations

from sqlalchemy import case, func, or_, select

from app.extensions import db
from app.models import OPEN_STATUSES, Problem, Report

LIMIT = 10


def find_problems(words: str, *, exclude_id: int | None = None, limit: int = LIMIT) -> list[Problem]:
    """Problems whose number is typed ("12" or "#12"), or whose title, public title, area or
    reports contain every word; open ones first, then the newest. Merged problems are left out."""
    words = " ".join(words.split())[:200]
    if not words:
        return []
    query = select(Problem).where(Problem.merged_into_id.is_(None))
    if exclude_id is not None:
        query = query.where(Problem.id != exclude_id)
    number = words.lstrip("#")
    if number.isdigit() and len(number) < 10:
        query = query.where(Problem.id == int(number))
    else:
        for word in words.split()[:8]:
            like = f"%{word.lower()}%"
            in_reports = select(Report.id).where(Report.problem_id == Problem.id, Report.removed_at.is_(None),
                                                 func.lower(Report.text).like(like)).exists()
            query = query.where(or_(func.lower(Problem.title).like(like), func.lower(Problem.public_title).like(like),
                                    func.lower(Problem.area).like(like), in_reports))
    order = case((Problem.status.in_(OPEN_STATUSES), 0), else_=1)
    return list(db.session.scalars(query.order_by(order, Problem.id.desc()).limit(limit)))
