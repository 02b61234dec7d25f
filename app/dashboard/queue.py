"""A leader's own queue, shown first on her first page: what is overdue, due soon, who is
waiting on her, and what people say is still happening."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select

from app.extensions import db
from app.models import CLOSING_KINDS, OPEN_STATUSES, STILL_HAPPENING, Event, OwnershipRequest, Problem, User, utcnow
from app.queries import awaiting_close_out
from app.queries.dashboard import problem_rows

DUE_SOON_DAYS = 7
STILL_HAPPENING_DAYS = 30


@dataclass
class Queue:
    overdue: list  # rows of problem_rows
    due_soon: list
    waiting_to_tell: list  # changed or declined, somebody not yet told
    requests: list[OwnershipRequest]  # questions and offers waiting for her answer
    still_happening: list  # rows of (Problem, times, latest_at)

    @property
    def empty(self) -> bool:
        return not (self.overdue or self.due_soon or self.waiting_to_tell or self.requests or self.still_happening)


def queue_for(user: User) -> Queue:
    today = utcnow().date()
    mine = (Problem.owner_id == user.id, Problem.status.in_(OPEN_STATUSES))
    overdue = problem_rows(*mine, Problem.due_on < today, order_by=(Problem.due_on, Problem.id))
    due_soon = problem_rows(*mine, Problem.due_on >= today, Problem.due_on <= today + timedelta(days=DUE_SOON_DAYS),
                            order_by=(Problem.due_on, Problem.id))
    closing = db.session.scalars(
        select(Problem.id).where(Problem.owner_id == user.id, Problem.status.in_(CLOSING_KINDS))).all()
    waiting_to_tell = problem_rows(Problem.id.in_(closing), awaiting_close_out(),
                                   order_by=(Problem.updated_at, Problem.id)) if closing else []
    requests = list(db.session.scalars(
        select(OwnershipRequest).join(Problem, Problem.id == OwnershipRequest.problem_id)
        .where(OwnershipRequest.status == "open", OwnershipRequest.to_user_id == user.id, Problem.owner_id == user.id)
        .order_by(OwnershipRequest.id)))
    since = utcnow() - timedelta(days=STILL_HAPPENING_DAYS)
    still = db.session.execute(
        select(Problem, func.count(Event.id).label("times"), func.max(Event.created_at).label("latest_at"))
        .join(Event, Event.problem_id == Problem.id)
        .where(Event.verb == STILL_HAPPENING, Event.created_at >= since, Problem.owner_id == user.id)
        .group_by(Problem.id)
        .order_by(func.max(Event.created_at).desc(), Problem.id)
    ).all()
    return Queue(overdue, due_soon, waiting_to_tell, requests, still)
