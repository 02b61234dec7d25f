"""What staff read: the reports they filed, searched and paged."""

from __future__ import annotations

from sqlalchemy import func, or_, select

from app.extensions import db
from app.models import Report, Reporter, User
from app.queries import Page

PER_PAGE = 20


def search_reports_filed_by(user: User, words: str = "", page: int = 1, per_page: int = PER_PAGE) -> Page | None:
    """A page of the reports ``user`` filed, newest first; ``words`` narrows them to those whose
    words, place, person's name or email contain every word, or whose report or problem number
    is the one typed ("#12" or "12"). None when the page is out of range."""
    query = (
        select(Report)
        .join(Reporter, Reporter.id == Report.reporter_id)
        .where(Report.filed_by_id == user.id)
    )
    for word in words.split()[:8]:
        number = word.lstrip("#")
        like = f"%{word.lower()}%"
        matches = [func.lower(Report.text).like(like), func.lower(Report.location).like(like),
                   func.lower(Reporter.display_name).like(like), func.lower(Reporter.email).like(like),
                   func.lower(Report.staff_note).like(like)]
        if number.isdigit() and len(number) < 10:
            matches += [Report.id == int(number), Report.problem_id == int(number)]
        query = query.where(or_(*matches))
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    if page < 1 or (page > 1 and (page - 1) * per_page >= total):
        return None
    items = db.session.scalars(
        query.order_by(Report.created_at.desc(), Report.id.desc()).limit(per_page).offset((page - 1) * per_page)
    ).all()
    return Page(items=list(items), page=page, per_page=per_page, total=total)
