"""Read-side queries shared by pages, exports and the CLI.

Figures such as "people affected" are derived from reports in one grouped
query, never stored twice and never counted row by row.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.orm import aliased, selectinload

from app.extensions import db
from app.messaging.mail import WITHDRAWN
from app.models import (
    CLOSING_KINDS,
    HANDED_OVER,
    Event,
    Message,
    MessageKind,
    MessageStatus,
    Problem,
    Report,
    Reporter,
    Status,
    User,
)
from app.services.people import still_happening_problems

NOTICE_KINDS = (MessageKind.OWNED, *CLOSING_KINDS, MessageKind.MOVED)


def report_stats(only: Select | None = None):
    """Per problem: people affected, reports, first and latest report time.
    ``only``: a select of problem ids to count for (else every problem)."""
    query = (
        select(
            Report.problem_id.label("problem_id"),
            func.count(func.distinct(Reporter.identity)).label("people"),
            func.count(Report.id).label("reports"),
            func.min(Report.created_at).label("first_at"),
            func.max(Report.created_at).label("latest_at"),
        )
        .join(Reporter, Reporter.id == Report.reporter_id)
        .group_by(Report.problem_id)
    )
    return (query.where(Report.problem_id.in_(only)) if only is not None else query).subquery()


def handoff_counts(only: Select | None = None):
    query = (
        select(Event.problem_id.label("problem_id"), func.count(Event.id).label("handoffs"))
        .where(Event.verb == HANDED_OVER)
        .group_by(Event.problem_id)
    )
    return (query.where(Event.problem_id.in_(only)) if only is not None else query).subquery()


def problems_with_stats(only: Select | None = None) -> Select:
    """Rows of (Problem, people, reports, first_at, latest_at, handoffs); ``only`` limits the
    counting to some problems (a select of their ids) where a page shows few of many."""
    stats = report_stats(only)
    handoffs = handoff_counts(only)
    return (
        select(
            Problem,
            func.coalesce(stats.c.people, 0).label("people"),
            func.coalesce(stats.c.reports, 0).label("reports"),
            stats.c.first_at,
            stats.c.latest_at,
            func.coalesce(handoffs.c.handoffs, 0).label("handoffs"),
        )
        .outerjoin(stats, stats.c.problem_id == Problem.id)
        .outerjoin(handoffs, handoffs.c.problem_id == Problem.id)
    )


def awaiting_close_out():
    """SQL condition: the problem is changed or declined but somebody is not yet told
    (or marked unreachable). A changed problem is told when its change is published."""
    notice, later, merged = aliased(Message), aliased(Message), aliased(Problem)
    not_delivered = (
        select(notice.id)
        .where(
            notice.problem_id == Problem.id, notice.kind.in_(CLOSING_KINDS), notice.user_id.is_(None),
            notice.status.in_([MessageStatus.PENDING, MessageStatus.SENDING, MessageStatus.FAILED,
                               MessageStatus.BOUNCED]),
            ~select(later.id).where(
                later.problem_id == notice.problem_id,
                (later.reporter_id == notice.reporter_id) | (later.to_address == notice.to_address),
                later.kind.in_(CLOSING_KINDS), later.id > notice.id,
                later.status.in_([MessageStatus.SENT, MessageStatus.UNREACHABLE]),
            ).exists(),
        )
        .exists()
    )
    never_told = (
        select(Report.id)
        .join(Reporter, Reporter.id == Report.reporter_id)
        .where(
            Report.problem_id == Problem.id, Report.removed_at.is_(None), Reporter.email.is_not(None),
            Reporter.contact_ok.is_(True), Reporter.unsubscribed_at.is_(None),
            # Told as a person (their address), about this problem or one merged into it.
            ~select(Message.id).where(
                Message.problem_id.in_(select(merged.id).where(
                    (merged.id == Problem.id) | (merged.merged_into_id == Problem.id))),
                (Message.reporter_id == Report.reporter_id) | (Message.to_address == Reporter.email),
                Message.kind.in_(CLOSING_KINDS), Message.user_id.is_(None),
            ).exists(),
        )
        .exists()
    )
    return Problem.status.in_(CLOSING_KINDS) & (
        ((Problem.status == Status.CHANGED) & Problem.published_at.is_(None)) | not_delivered | never_told
        | ticket_reply_open()
    )


def ticket_reply_open():
    """SQL condition: a reply on an imported ticket (write-back) for this problem, or one
    merged into it, is still waiting to be posted, or failed (refused for good, or retries
    ran out) while its person was told no other way (no delivered notice or posted reply,
    not marked unreachable). Withdrawn replies (write-back switched off) do not hold
    close-out: the person is then told by email if they can be, as anyone else."""
    reply, other, merged = aliased(Message), aliased(Message), aliased(Problem)
    family = select(merged.id).where((merged.id == Problem.id) | (merged.merged_into_id == Problem.id))
    told_otherwise = select(other.id).where(
        other.problem_id.in_(family), other.id != reply.id, other.user_id.is_(None),
        (other.reporter_id == reply.reporter_id) | (other.to_address == reply.to_address),
        other.kind.in_((*CLOSING_KINDS, MessageKind.WRITE_BACK, MessageKind.TOLD_IN_PERSON)),
        other.status.in_([MessageStatus.SENT, MessageStatus.UNREACHABLE]),
    ).exists()
    return select(reply.id).where(
        reply.problem_id.in_(family), reply.kind == MessageKind.WRITE_BACK,
        reply.status.in_([MessageStatus.PENDING, MessageStatus.SENDING])
        | ((reply.status == MessageStatus.FAILED) & ~func.coalesce(reply.last_error, "").startswith(WITHDRAWN)
           & ~told_otherwise),
    ).exists()


def is_closed_out(problem: Problem) -> bool:
    if problem.status not in CLOSING_KINDS:
        return False
    return not db.session.scalar(select(awaiting_close_out()).where(Problem.id == problem.id))


def not_closed_out():
    """Changed or declined problems whose people are not all told yet, oldest change first."""
    return db.session.execute(
        problems_with_stats().where(awaiting_close_out()).order_by(Problem.updated_at, Problem.id)
    ).all()


def latest_notices(pairs: list[tuple[int, int]]) -> dict[tuple[int, int], Message]:
    """The latest personal notice (receipts included) per (reporter id, problem id): to the
    reporter, or to their address (a person is told once for all their filings)."""
    if not pairs:
        return {}
    reporter_ids = {r for r, _ in pairs}
    emails = dict(db.session.execute(select(Reporter.id, Reporter.email).where(Reporter.id.in_(reporter_ids))).all())
    addresses = {e for e in emails.values() if e}
    by_reporter: dict[tuple[int, int], Message] = {}
    by_address: dict[tuple[str, int], Message] = {}
    for message in db.session.scalars(
        select(Message)
        .where(Message.reporter_id.in_(reporter_ids) | Message.to_address.in_(addresses),
               Message.user_id.is_(None), Message.kind.in_((*NOTICE_KINDS, MessageKind.TOLD_IN_PERSON)))
        .order_by(Message.id)
    ):
        by_reporter[(message.reporter_id, message.problem_id)] = message
        by_address[(message.to_address, message.problem_id)] = message
    latest: dict[tuple[int, int], Message] = {}
    for reporter_id, problem_id in pairs:
        found = [m for m in (by_reporter.get((reporter_id, problem_id)),
                             by_address.get((emails.get(reporter_id), problem_id))) if m is not None]
        if found:
            latest[(reporter_id, problem_id)] = max(found, key=lambda m: m.id)
    return latest


def triage_queue():
    """Problems nobody is answering for, oldest first: those without an owner, and open
    ones whose owner's account was deactivated."""
    inactive_owner = select(User.id).where(User.id == Problem.owner_id, User.active.is_(False)).exists()
    query = (
        problems_with_stats()
        .where(
            ((Problem.status == Status.NEW) & Problem.owner_id.is_(None) & Problem.merged_into_id.is_(None))
            | (Problem.is_open & inactive_owner)
        )
        .where(select(Report.id).where(Report.problem_id == Problem.id).exists())
    )
    return db.session.execute(query.order_by("first_at", Problem.id)).all()


def problems_owned_by(user: User):
    """What a leader owns and still has to finish: open, or changed or declined but not
    yet closed out (somebody is still to be told), or changed while someone says it is
    still happening."""

    query = problems_with_stats().where(
        Problem.owner_id == user.id,
        Problem.is_open | awaiting_close_out() | still_happening_problems(),
    )
    return db.session.execute(
        query.order_by(Problem.due_on.is_(None), Problem.due_on, "first_at")
    ).all()


def still_happening_queue():
    """Changed problems someone says are still happening since the change (until the owner
    reopens or records a new change), oldest change first."""

    return db.session.execute(
        problems_with_stats().where(still_happening_problems()).order_by(Problem.changed_at, Problem.id)
    ).all()


def all_problems(status: str | None = None):
    """Every problem (merged ones are gone: their reports are counted where they went)."""
    query = problems_with_stats().where(Problem.merged_into_id.is_(None))
    if status:
        query = query.where(Problem.status == status)
    return db.session.execute(query.order_by(Problem.id.desc())).all()


def published_changes_query() -> Select:
    published = select(Problem.id).where(Problem.published_at.is_not(None))
    return (
        problems_with_stats(only=published)
        .where(Problem.published_at.is_not(None))
        .options(selectinload(Problem.owner))
        .order_by(Problem.published_at.desc(), Problem.id.desc())
    )


def published_change(problem_id: int):
    return db.session.execute(
        published_changes_query().where(Problem.id == problem_id)
    ).first()


def reports_filed_by(user: User):
    return db.session.scalars(
        select(Report)
        .where(Report.filed_by_id == user.id)
        .order_by(Report.created_at.desc(), Report.id.desc())
    ).all()


def leaders():
    return db.session.scalars(
        select(User).where(User.role.in_(("leader", "admin")), User.active.is_(True)).order_by(User.name)
    ).all()


@dataclass
class Page:
    """One page of result rows (Flask-SQLAlchemy's paginate yields only scalars)."""

    items: list
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int:
        return self.page - 1

    @property
    def next_num(self) -> int:
        return self.page + 1


def paginate_rows(query: Select, page: int, per_page: int) -> Page | None:
    """A page of rows, or None when the page number is out of range."""
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    if page < 1 or (page > 1 and (page - 1) * per_page >= total):
        return None
    items = db.session.execute(query.limit(per_page).offset((page - 1) * per_page)).all()
    return Page(items=items, page=page, per_page=per_page, total=total)
