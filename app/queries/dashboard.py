"""The leaders' view, read side: the backlog, the dashboard's figures, a leader's record,
and what goes into a leader's weekly digest.

Every figure is aggregated in the database (GROUP BY, COUNT, MIN/MAX) in one query.
Percentiles too on PostgreSQL (``percentile_cont``); SQLite has none, so there the same
one query returns each problem's time and ``percentile`` (the same linear interpolation)
finishes the job in Python. Per-problem figures on a page (people affected, last action,
handoffs) are correlated subqueries, each a short lookup in an index of migration 0005.

A ``Figure`` is plain data: a title, a one-sentence takeaway, column names and rows.
The page draws it as a chart with its numbers in a table, and the CSV export writes
the same rows, so the picture, the table and the file can never disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

from babel.dates import format_date
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import (
    Float,
    String,
    and_,
    case,
    cast,
    distinct,
    func,
    literal,
    literal_column,
    or_,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import selectinload
from sqlalchemy.sql.functions import FunctionElement

from app.extensions import db
from app.i18n import current_language
from app.labels import channel_label
from app.models import (
    CHANGE_RECORDED,
    CLOSING_KINDS,
    COMMENTED,
    DECLINED,
    HANDED_OVER,
    LINKED,
    MARKED_UNREACHABLE,
    OPEN_STATUSES,
    PROBLEM_EDITED,
    PUBLISHED,
    REOPENED,
    REPORT_MOVED,
    STATUS_CHANGED,
    STILL_HAPPENING,
    TOOK_OWNERSHIP,
    UNPUBLISHED,
    Channel,
    Event,
    Message,
    MessageKind,
    MessageStatus,
    Problem,
    Report,
    Reporter,
    Status,
    User,
    utcnow,
)
from app.queries import NOTICE_KINDS, Page, awaiting_close_out, handoff_counts
from app.templating import format_number

# What counts as somebody acting on a problem (for "time since last action" and "stale").
# Reports arriving, or a reporter saying it is still happening, are not action on it.
ACTION_VERBS = (
    TOOK_OWNERSHIP, HANDED_OVER, STATUS_CHANGED, CHANGE_RECORDED, DECLINED, REOPENED, PUBLISHED,
    UNPUBLISHED, PROBLEM_EDITED, COMMENTED, REPORT_MOVED, LINKED, MARKED_UNREACHABLE,
)
MONTHS_SHOWN = 12
STALE_DAYS = 14  # an open problem nobody has acted on for this long is stale
HANDOFFS_STAND_OUT = 3  # "passed along more than twice"
LEADER_ROLES = ("leader", "admin")


# --- small helpers --------------------------------------------------------------------


class month_of(FunctionElement):  # noqa: N801 - reads like the SQL function it is
    """``'YYYY-MM'`` of a timestamp, on SQLite and PostgreSQL."""

    type = String()
    name = "month_of"
    inherit_cache = True


@compiles(month_of)
def _month_of_sqlite(element, compiler, **kw):
    return "strftime('%Y-%m', " + compiler.process(element.clauses, **kw) + ")"


@compiles(month_of, "postgresql")
def _month_of_postgresql(element, compiler, **kw):
    return "to_char(%s, 'YYYY-MM')" % compiler.process(element.clauses, **kw)


class days_between_sql(FunctionElement):  # noqa: N801
    """Days (fractional) from the first timestamp to the second, on SQLite and PostgreSQL."""

    type = Float()
    name = "days_between"
    inherit_cache = True


@compiles(days_between_sql)
def _days_between_sqlite(element, compiler, **kw):
    start, end = list(element.clauses)
    return f"(julianday({compiler.process(end, **kw)}) - julianday({compiler.process(start, **kw)}))"


@compiles(days_between_sql, "postgresql")
def _days_between_postgresql(element, compiler, **kw):
    start, end = list(element.clauses)
    return f"(EXTRACT(EPOCH FROM ({compiler.process(end, **kw)} - {compiler.process(start, **kw)})) / 86400.0)"


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0..1) of values, interpolating linearly between the two
    nearest ranks, exactly as PostgreSQL's ``percentile_cont``. None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def days_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max((end - start).total_seconds(), 0) / 86400


def last_months(now: datetime, count: int = MONTHS_SHOWN) -> list[str]:
    """The last ``count`` calendar months as 'YYYY-MM', oldest first, this month last."""
    year, month = now.year, now.month
    months = []
    for _step in range(count):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months[::-1]


def month_label(key: str, pattern: str = "MMM y") -> str:
    """'2025-03' -> 'Mar 2025' (in the page's language: 'März 2025', 'مارس 2025')."""
    return format_date(datetime.strptime(key, "%Y-%m"), pattern, locale=current_language())


def month_start(key: str) -> datetime:
    return datetime.strptime(key, "%Y-%m")


def nobody_answering():
    """SQL condition: the problem waits for an owner (the same rule as the Triage page):
    new and unowned, or open with an owner whose account was deactivated."""
    inactive_owner = select(User.id).where(User.id == Problem.owner_id, User.active.is_(False)).exists()
    return ((Problem.status == Status.NEW) & Problem.owner_id.is_(None) & Problem.merged_into_id.is_(None)) | (
        Problem.is_open & inactive_owner
    )


# Per-problem figures as correlated subqueries: with the indexes of migration 0005 each is
# a short index lookup, so a page needs them only for the problems it shows or sorts.


def people_of():
    return (select(func.count(distinct(Reporter.identity))).join(Report, Report.reporter_id == Reporter.id)
            .where(Report.problem_id == Problem.id).correlate(Problem).scalar_subquery())


def reports_of():
    return select(func.count(Report.id)).where(Report.problem_id == Problem.id).correlate(Problem).scalar_subquery()


def first_report_of():
    return select(func.min(Report.created_at)).where(Report.problem_id == Problem.id).correlate(Problem).scalar_subquery()


def latest_report_of():
    return select(func.max(Report.created_at)).where(Report.problem_id == Problem.id).correlate(Problem).scalar_subquery()


def acted_at_of():
    """When somebody last acted on the problem; before anybody has, its first report."""
    acted = (select(func.max(Event.created_at)).where(Event.problem_id == Problem.id, Event.verb.in_(ACTION_VERBS))
             .correlate(Problem).scalar_subquery())
    return func.coalesce(acted, first_report_of())


def handoffs_of():
    return (select(func.count(Event.id)).where(Event.problem_id == Problem.id, Event.verb == HANDED_OVER)
            .correlate(Problem).scalar_subquery())


def first_channel_of():
    """Where a problem's first report came from (its ``Report.origin``)."""
    return (select(Report.origin).where(Report.problem_id == Problem.id)
            .order_by(Report.created_at, Report.id).limit(1).correlate(Problem).scalar_subquery())


def problem_rows(*where, order_by=()) -> list:
    """Rows of (Problem, people, reports, first_at, latest_at, acted_at, handoffs): the shape
    templates/leaders/_problem_table.html expects, plus when somebody last acted."""
    return db.session.execute(
        select(Problem, people_of().label("people"), reports_of().label("reports"),
               first_report_of().label("first_at"), latest_report_of().label("latest_at"),
               acted_at_of().label("acted_at"), handoffs_of().label("handoffs"))
        .where(*where).order_by(*order_by).options(selectinload(Problem.owner))
    ).all()


# --- figures ----------------------------------------------------------------------------


@dataclass
class Figure:
    """The numbers behind one chart."""

    key: str  # used in the CSV's URL: /dashboard/<key>.csv
    title: str
    takeaway: str  # one sentence a leader reads first
    columns: list[str]
    rows: list[tuple]
    extra: dict[str, Any] = field(default_factory=dict)  # what the chart needs beyond the rows


def open_per_owner(now: datetime | None = None) -> Figure:
    """Open problems per owner, with how many are overdue. Every active leader is listed
    (owning nothing is worth seeing too), and anyone else who still owns open problems."""
    today = (now or utcnow()).date()
    per_owner = (
        select(
            Problem.owner_id.label("owner_id"),
            func.count(Problem.id).label("open"),
            func.sum(case((Problem.due_on < today, 1), else_=0)).label("overdue"),
        )
        .where(Problem.is_open, Problem.owner_id.is_not(None))
        .group_by(Problem.owner_id)
        .subquery()
    )
    open_count = func.coalesce(per_owner.c.open, 0)
    rows = db.session.execute(
        select(User.id, User.name, User.active, open_count.label("open"),
               func.coalesce(per_owner.c.overdue, 0).label("overdue"))
        .outerjoin(per_owner, per_owner.c.owner_id == User.id)
        .where(or_(and_(User.role.in_(LEADER_ROLES), User.active.is_(True)), per_owner.c.open > 0))
        .order_by(open_count.desc(), User.name)
    ).all()
    table = [(r.name if r.active else _("%(name)s (account deactivated)", name=r.name), r.open, r.overdue,
              r.open - r.overdue) for r in rows]
    overdue_total = sum(r.overdue for r in rows)
    if not rows or not any(r.open for r in rows):
        takeaway = _("Nobody owns an open problem.")
    elif overdue_total:
        worst = max(rows, key=lambda r: (r.overdue, r.open))
        takeaway = ngettext("%(num)d owned problem is overdue; %(name)s has the most (%(most)d).",
                            "%(num)d owned problems are overdue; %(name)s has the most (%(most)d).",
                            overdue_total, name=worst.name, most=worst.overdue)
    else:
        busiest = rows[0]
        takeaway = _("Nothing owned is overdue. %(name)s owns the most open problems (%(num)d).",
                     name=busiest.name, num=busiest.open)
    return Figure(
        "owners", _("Open problems per owner"), takeaway,
        [_("Owner"), _("Open problems"), _("Overdue"), _("Not overdue")], table,
        extra={"user_ids": [r.id for r in rows], "overdue_total": overdue_total},
    )


WAIT_BUCKETS = ((7, _l("Under a week")), (28, _l("1 to 4 weeks")), (91, _l("1 to 3 months")), (None, _l("Over 3 months")))


def waiting_for_owner(now: datetime | None = None) -> Figure:
    """Problems nobody answers for, by how long since they were first reported."""
    now = now or utcnow()
    waiting = (
        select(Report.problem_id.label("id"), func.min(Report.created_at).label("first_at"))
        .where(Report.problem_id.in_(select(Problem.id).where(nobody_answering())))
        .group_by(Report.problem_id)
        .subquery()
    )
    bucket = case(
        *[(waiting.c.first_at >= now - timedelta(days=days), i) for i, (days, _) in enumerate(WAIT_BUCKETS) if days],
        else_=len(WAIT_BUCKETS) - 1,
    ).label("bucket")
    found = {
        r.bucket: (r.problems, r.oldest)
        for r in db.session.execute(
            select(bucket, func.count().label("problems"), func.min(waiting.c.first_at).label("oldest"))
            .group_by(literal_column("bucket"))
        )
    }
    rows = [(str(label), found.get(i, (0, None))[0]) for i, (_days, label) in enumerate(WAIT_BUCKETS)]
    total = sum(n for _, n in rows)
    oldest = min((o for _, o in found.values() if o is not None), default=None)
    longest = days_between(oldest, now)
    if total:
        takeaway = ngettext("%(num)d problem waits for an owner; the longest for %(days)s.",
                            "%(num)d problems wait for an owner; the longest for %(days)s.",
                            total, days=whole_days(longest))
    else:
        takeaway = _("Every problem has an owner.")
    return Figure("waiting-for-owner", _("Problems waiting for an owner"), takeaway,
                  [_("Waiting since first report"), _("Problems")], rows,
                  extra={"total": total, "longest_days": longest, "alert_from": 2})


def whole_days(days: float | None) -> str:
    if days is None:
        return _("no time")
    n = int(days)
    return ngettext("%(num)d day", "%(num)d days", n) if n >= 1 else _("less than a day")


def _durations(start: datetime) -> dict[tuple[str, str | None], tuple[int, float | None, float | None]]:
    """(measure, 'YYYY-MM' or None for all months) -> (problems, median days, 90th percentile
    days), for the first owner ("owner") and the first recorded change ("change") since start.

    One query. PostgreSQL computes the percentiles itself (``percentile_cont``, with grouping
    sets for each month and for the whole window). SQLite has no percentiles: there the same
    query, without the grouping, returns each problem's days and month (computed in SQL, so
    no timestamp is parsed in Python) and ``percentile`` does the same arithmetic."""
    firsts = (
        select(Event.problem_id.label("problem_id"), Event.verb.label("verb"),
               func.min(Event.created_at).label("at"))
        .where(Event.verb.in_((TOOK_OWNERSHIP, CHANGE_RECORDED)), Event.problem_id.is_not(None))
        .group_by(Event.problem_id, Event.verb)
        .having(func.min(Event.created_at) >= start)
        .subquery()
    )
    first_report = (
        select(func.min(Report.created_at)).where(Report.problem_id == firsts.c.problem_id)
        .correlate(firsts).scalar_subquery()
    )
    timed = select(
        case((firsts.c.verb == TOOK_OWNERSHIP, "owner"), else_="change").label("measure"),
        month_of(firsts.c.at).label("month"),
        days_between_sql(first_report, firsts.c.at).label("days"),
    )
    if db.session.get_bind().dialect.name == "postgresql":
        t = timed.subquery()
        days = func.greatest(t.c.days, 0)
        return {
            (m, month): (n, _round(median), _round(p90))
            for m, month, n, median, p90 in db.session.execute(
                select(t.c.measure, t.c.month, func.count(t.c.days),
                       func.percentile_cont(0.5).within_group(days), func.percentile_cont(0.9).within_group(days))
                .group_by(func.grouping_sets(tuple_(t.c.measure, t.c.month), tuple_(t.c.measure)))
            )
        }
    samples: dict[tuple[str, str | None], list[float]] = {}
    for m, month, days in db.session.execute(timed):
        if days is not None:
            samples.setdefault((m, month), []).append(max(days, 0.0))
            samples.setdefault((m, None), []).append(max(days, 0.0))
    return {key: (len(v), _round(percentile(v, 0.5)), _round(percentile(v, 0.9))) for key, v in samples.items()}


def time_to_owner_and_change(now: datetime | None = None) -> Figure:
    """Days from a problem's first report to its first owner, and to its first recorded
    change: median and 90th percentile per month (the month of the ownership or change),
    and over the last 12 months."""
    now = now or utcnow()
    months = last_months(now)
    stats = _durations(month_start(months[0]))
    rows, overall, measures = [], {}, []  # measures: each row's "owner" or "change"
    for measure, label in (("owner", _("To an owner")), ("change", _("To a change"))):
        for month in months:
            n, median, p90 = stats.get((measure, month), (0, None, None))
            rows.append((label, month_label(month), n, median, p90))
            measures.append(measure)
        overall[measure] = stats.get((measure, None), (0, None, None))
    owner, change = overall["owner"], overall["change"]
    parts = []
    if owner[0]:
        parts.append(_("half of problems got an owner within %(median)s (90%% within %(p90)s)",
                       median=_days_text(owner[1]), p90=_days_text(owner[2])))
    if change[0]:
        parts.append(_("half were changed within %(median)s of the first report (90%% within %(p90)s)",
                       median=_days_text(change[1]), p90=_days_text(change[2])))
    if parts:
        takeaway = _("Over the last 12 months, %(parts)s.", parts=_("; ").join(parts))
    else:
        takeaway = _("No owners or changes in the last 12 months.")
    recent = [r for r, m in zip(rows, measures) if m == "change" and r[2]]
    latest_change = (recent[-1][1], recent[-1][3]) if recent else None
    if len(recent) > 1 and recent[-1][3] != change[1]:
        takeaway += " " + _("In %(month)s the median time to a change was %(days)s.",
                            month=recent[-1][1], days=_days_text(recent[-1][3]))
    return Figure(
        "time-to-owner-and-change", _("How long from the first report to an owner, and to a change"), takeaway,
        [_("Measure"), _("Month"), _("Problems"), _("Median days"), _("90th percentile days")], rows,
        extra={"months": [month_label(m) for m in months], "overall": overall, "latest_change": latest_change,
               "measures": measures, "labels": {"owner": _("To an owner"), "change": _("To a change")}},
    )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _days_text(days: float | None) -> str:
    if days is None:
        return "—"
    shown = f"{days:.1f}".rstrip("0").rstrip(".")
    # A whole number chooses its plural form; a fraction ("2.5 days") takes the general
    # plural form, which 100 selects in every language we ship.
    return ngettext("%(days)s day", "%(days)s days", int(shown) if shown.isdigit() else 100, days=shown)


WAITING_GROUPS = (
    ("open", _l("Problem still open")),
    ("unpublished", _l("Changed, not published yet")),
    ("pending", _l("Message waiting to go out")),
    ("failed", _l("Message failed or bounced")),
)


def person_key():
    """The person behind a reporter row, as telling counts them (``app.services.telling.person_key``):
    an address we may write to is one person however often they filed; anyone else is their row."""
    emailable = Reporter.email.is_not(None) & Reporter.contact_ok.is_(True) & Reporter.unsubscribed_at.is_(None)
    return case((emailable, Reporter.email), else_=literal("reporter:", String) + cast(Reporter.id, String))


def people_waiting() -> Figure:
    """People waiting to hear back, by why; a person may wait for more than one reason, and
    the total counts each person once (one address filed twice is one person, as telling counts).
    Everyone who reported counts, as in "people affected".

    One statement, one pass: every (person, reason) pair (the reports of open and of
    changed-but-unpublished problems; notices waiting to go out; latest notices that failed
    or bounced, found through the outbox's status index) is grouped per person, then the
    reasons and the people are summed."""
    still_open = Problem.is_open
    unpublished = (Problem.status == Status.CHANGED) & Problem.published_at.is_(None)
    # Notice kinds are only ever sent to reporters (staff copies have a kind of their own),
    # so the latest one is found in the index on (reporter_id, problem_id, kind) alone.
    later = db.aliased(Message)
    latest_notice = select(func.max(later.id)).where(
        later.reporter_id == Message.reporter_id, later.problem_id == Message.problem_id,
        later.kind.in_(NOTICE_KINDS),
    ).scalar_subquery()
    notices = (Message.reporter_id.is_not(None), Message.kind.in_(NOTICE_KINDS))

    def flags(open_, unpublished_, pending, failed):
        return [open_.label("open"), unpublished_.label("unpublished"), literal_column(pending).label("pending"),
                literal_column(failed).label("failed")]

    pairs = union_all(
        select(Report.reporter_id, *flags(case((still_open, 1), else_=0), case((still_open, 0), else_=1), "0", "0"))
        .join(Problem, Problem.id == Report.problem_id).where(still_open | unpublished),
        select(Message.reporter_id, *flags(literal_column("0"), literal_column("0"), "1", "0"))
        .where(*notices, Message.status.in_((MessageStatus.PENDING, MessageStatus.SENDING))),
        select(Message.reporter_id, *flags(literal_column("0"), literal_column("0"), "0", "1"))
        .where(*notices, Message.status.in_((MessageStatus.FAILED, MessageStatus.BOUNCED)), Message.id == latest_notice),
    ).subquery()
    keys = ("open", "unpublished", "pending", "failed")
    per_person = (
        select(*[func.max(pairs.c[k]).label(k) for k in keys])
        .select_from(pairs.join(Reporter, Reporter.id == pairs.c.reporter_id)).group_by(person_key()).subquery()
    )
    by_open, by_unpublished, by_pending, by_failed, total = db.session.execute(
        select(*[func.coalesce(func.sum(per_person.c[k]), 0) for k in keys], func.count())
        .select_from(per_person)
    ).one()
    by_key = {"open": by_open, "unpublished": by_unpublished, "pending": by_pending, "failed": by_failed}
    rows = [(str(label), by_key[key]) for key, label in WAITING_GROUPS]
    if total:
        stuck = by_key["failed"]
        if stuck:
            takeaway = ngettext(
                "%(num)d person is waiting to hear back; %(stuck)d of them could not be reached (failed or bounced).",
                "%(num)d people are waiting to hear back; %(stuck)d of them could not be reached (failed or bounced).",
                total, stuck=stuck)
        else:
            takeaway = ngettext("%(num)d person is waiting to hear back.", "%(num)d people are waiting to hear back.", total)
    else:
        takeaway = _("Nobody is waiting to hear back.")
    return Figure("people-waiting", _("People waiting to hear back"), takeaway,
                  [_("Why they are waiting"), _("People")], rows, extra={"total": total, "alert_keys": [3]})


def handoffs_per_problem(limit: int = 10) -> Figure:
    """How often problems with an owner were handed over; more than twice stands out."""
    counts = handoff_counts()
    n = func.coalesce(counts.c.handoffs, 0).label("n")
    found = dict(db.session.execute(
        select(n, func.count(Problem.id))
        .outerjoin(counts, counts.c.problem_id == Problem.id)
        .where(Problem.owner_id.is_not(None))
        .group_by(literal_column("n"))
    ).all())
    buckets = [(_("Never"), found.get(0, 0)), (_("Once"), found.get(1, 0)), (_("Twice"), found.get(2, 0)),
               (_("3 times or more"), sum(v for k, v in found.items() if k >= HANDOFFS_STAND_OUT))]
    standouts = db.session.execute(
        select(Problem, counts.c.handoffs)
        .join(counts, counts.c.problem_id == Problem.id)
        .where(counts.c.handoffs >= HANDOFFS_STAND_OUT)
        .order_by(Problem.is_open.desc(), counts.c.handoffs.desc(), Problem.id)
        .limit(limit)
    ).all()
    many = buckets[-1][1]
    takeaway = (ngettext("%(num)d problem was passed along more than twice.",
                         "%(num)d problems were passed along more than twice.", many)
                if many else _("No problem was passed along more than twice."))
    return Figure("handoffs", _("Handoffs per problem"), takeaway, [_("Handed over"), _("Problems")], buckets,
                  extra={"standouts": standouts, "alert_from": 3})


def changes_per_month(now: datetime | None = None) -> Figure:
    """Changes recorded per calendar month, the last 12 months."""
    now = now or utcnow()
    months = last_months(now)
    month = month_of(Event.created_at).label("month")
    found = dict(db.session.execute(
        select(month, func.count(Event.id))
        .where(Event.verb == CHANGE_RECORDED, Event.created_at >= month_start(months[0]))
        .group_by(literal_column("month"))
    ).all())
    rows = [(month_label(m), found.get(m, 0)) for m in months]
    total = sum(n for _, n in rows)
    this_month = rows[-1][1]
    takeaway = ngettext("%(num)d change made in the last 12 months, %(this_month)d so far this month.",
                        "%(num)d changes made in the last 12 months, %(this_month)d so far this month.",
                        total, this_month=this_month)
    return Figure("changes-per-month", _("Changes made per month"), takeaway, [_("Month"), _("Changes")], rows,
                  extra={"total": total, "months": months})


def reports_per_channel() -> Figure:
    """Reports by the channel they came in through (an import by its source), most first (all time)."""
    origin = Report.origin.label("origin")
    rows = [(channel, n) for channel, n in db.session.execute(
        select(origin, func.count().label("n"))
        .group_by(origin).order_by(literal_column("n").desc(), origin)
    )]
    total = sum(n for _, n in rows)
    if total:
        top, top_n = rows[0]
        takeaway = ngettext("%(total)s report in all; most came through %(channel)s (%(percent)d%%).",
                            "%(total)s reports in all; most came through %(channel)s (%(percent)d%%).",
                            total, total=format_number(total), channel=channel_label(top),
                            percent=round(100 * top_n / total))
    else:
        takeaway = _("No reports yet.")
    return Figure("channels", _("Reports per channel"), takeaway, [_("Channel"), _("Reports")],
                  [(str(channel_label(c)), n) for c, n in rows], extra={"total": total})

FIGURES: dict[str, Callable[[], Figure]] = {
    "owners": open_per_owner,
    "waiting-for-owner": waiting_for_owner,
    "time-to-owner-and-change": time_to_owner_and_change,
    "people-waiting": people_waiting,
    "handoffs": handoffs_per_problem,
    "changes-per-month": changes_per_month,
    "channels": reports_per_channel,
}


@dataclass
class Headline:
    open_problems: int
    overdue: int


def headline(now: datetime | None = None) -> Headline:
    """Open problems and overdue ones (owned or not), in one query."""
    today = (now or utcnow()).date()
    open_problems, overdue = db.session.execute(
        select(func.count(Problem.id), func.coalesce(func.sum(case((Problem.due_on < today, 1), else_=0)), 0))
        .where(Problem.is_open)
    ).one()
    return Headline(open_problems, overdue)


# --- the backlog -------------------------------------------------------------------------


SORTS = ("people", "age", "idle", "due", "owner", "area", "status", "channel")
DUE_FILTERS = ("overdue", "week", "set", "none")


@dataclass
class BacklogFilter:
    """What a leader asked to see; every field comes from (and goes back to) the URL."""

    q: str = ""
    owner: str = ""  # "" anyone, "none", or a user id
    area: str = ""  # "" any, "none", or an area
    status: str = ""  # "" any open status
    channel: str = ""
    due: str = ""  # "", overdue, week, set, none
    people: int | None = None  # at least this many people affected
    age: int | None = None  # first reported at least this many days ago
    idle: int | None = None  # nobody acted for at least this many days
    sort: str = "people"
    order: str = "desc"

    def words(self) -> list[str]:
        return [w for w in self.q.split() if w][:8]


def _backlog_conditions(f: BacklogFilter, now: datetime) -> list:
    today = now.date()
    conditions = [Problem.is_open]
    for word in f.words():
        conditions.append(or_(_contains(Problem.title, word), select(Report.id).where(
            Report.problem_id == Problem.id, _contains(Report.text, word)).exists()))
    if f.owner == "none":
        conditions.append(Problem.owner_id.is_(None))
    elif f.owner.isdigit():
        conditions.append(Problem.owner_id == int(f.owner))
    if f.area == "none":
        conditions.append(Problem.area.is_(None))
    elif f.area:
        conditions.append(Problem.area == f.area)
    if f.status:
        conditions.append(Problem.status == f.status)
    if f.channel:
        conditions.append(select(Report.id).where(Report.problem_id == Problem.id, Report.origin == f.channel).exists())
    conditions += {
        "overdue": [Problem.due_on < today],
        "week": [Problem.due_on >= today, Problem.due_on <= today + timedelta(days=7)],
        "set": [Problem.due_on.is_not(None)],
        "none": [Problem.due_on.is_(None)],
    }.get(f.due, [])
    if f.people:
        conditions.append(people_of() >= f.people)
    if f.age:
        conditions.append(first_report_of() <= now - timedelta(days=f.age))
    if f.idle:
        conditions.append(acted_at_of() <= now - timedelta(days=f.idle))
    return conditions


def _contains(column, word: str):
    """Case-insensitive "contains": SQLite's LIKE already ignores case (and lower() would
    stop it using its fast path); PostgreSQL needs ILIKE."""
    pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    if db.session.get_bind().dialect.name == "sqlite":
        return column.like(pattern, escape="\\")
    return column.ilike(pattern, escape="\\")


def _backlog_order(f: BacklogFilter) -> list:
    """ORDER BY for a sort. 'desc' means most first: most people, oldest, longest idle,
    latest due; blanks (no due date, no owner, no area) always go last."""
    desc = f.order != "asc"

    def way(expression):
        return expression.desc() if desc else expression.asc()

    owner_name = select(User.name).where(User.id == Problem.owner_id).correlate(Problem).scalar_subquery()
    status_rank = case({s.value: i for i, s in enumerate(OPEN_STATUSES)}, value=Problem.status)
    keys = {
        "people": lambda: [way(people_of())],
        # Oldest first when "desc" (the largest age), so the timestamps run the other way.
        "age": lambda: [first_report_of().asc() if desc else first_report_of().desc()],
        "idle": lambda: [acted_at_of().asc() if desc else acted_at_of().desc()],
        "due": lambda: [Problem.due_on.is_(None), way(Problem.due_on)],
        "owner": lambda: [Problem.owner_id.is_(None), way(owner_name)],
        "area": lambda: [Problem.area.is_(None), way(Problem.area)],
        "status": lambda: [way(status_rank)],
        "channel": lambda: [way(first_channel_of())],
    }[f.sort if f.sort in SORTS else "people"]()
    return [*keys, way(Problem.id)]


def backlog_page(f: BacklogFilter, page: int, per_page: int, now: datetime | None = None) -> Page | None:
    """One page of the backlog, or None when the page number is out of range. One query
    chooses and orders the page's problems and counts them all (a window count); a second
    gives just those problems their figures."""
    now = now or utcnow()
    if page < 1:
        return None
    chosen = db.session.execute(
        select(Problem.id, func.count().over().label("total"))
        .where(*_backlog_conditions(f, now)).order_by(*_backlog_order(f))
        .limit(per_page).offset((page - 1) * per_page)
    ).all()
    if not chosen:
        return Page(items=[], page=1, per_page=per_page, total=0) if page == 1 else None
    position = {row.id: i for i, row in enumerate(chosen)}
    rows = sorted(problem_rows(Problem.id.in_(list(position))), key=lambda row: position[row.Problem.id])
    return Page(items=rows, page=page, per_page=per_page, total=chosen[0].total)


def backlog_ids(f: BacklogFilter, now: datetime | None = None):
    """A select of the ids of every problem of the filtered backlog."""
    return select(Problem.id).where(*_backlog_conditions(f, now or utcnow()))


def backlog_rows(f: BacklogFilter, now: datetime | None = None) -> list:
    """Every problem of the filtered backlog, in order, with its figures (for the CSV)."""
    now = now or utcnow()
    return problem_rows(*_backlog_conditions(f, now), order_by=_backlog_order(f))


def channels_of(problem_ids) -> dict[int, list[tuple[str, int]]]:
    """Per problem (a list of ids, or a select of them): its channels (``Report.origin``: an
    import by its source) with their report counts, in the order they were first used."""
    if isinstance(problem_ids, list) and not problem_ids:
        return {}
    found: dict[int, list[tuple[str, int]]] = {}
    origin = Report.origin.label("origin")
    for problem_id, channel, n, _first in db.session.execute(
        select(Report.problem_id, origin, func.count(Report.id), func.min(Report.created_at).label("first"))
        .where(Report.problem_id.in_(problem_ids))
        .group_by(Report.problem_id, origin)
        .order_by(Report.problem_id, literal_column("first"))
    ):
        found.setdefault(problem_id, []).append((channel, n))
    return found


def backlog_choices() -> dict[str, list]:
    """The owners, areas and channels a leader can filter by: the owners and areas of open
    problems, plus every active leader and configured area; the channels, each loaded ticket
    source, and each source imported from before."""

    areas = set(current_app.config["CARELOOP_AREAS"]) | {
        a for a in db.session.scalars(
            select(Problem.area).distinct().where(Problem.is_open, Problem.area.is_not(None))
        )
    }
    owners = db.session.execute(
        select(User.id, User.name, User.active).where(or_(
            and_(User.role.in_(LEADER_ROLES), User.active.is_(True)),
            User.id.in_(select(Problem.owner_id).where(Problem.is_open)),
        )).order_by(User.name)
    ).all()
    sources = set(current_app.extensions.get("careloop.sources", {})) | set(db.session.scalars(
        select(Report.source).distinct().where(Report.channel == Channel.IMPORT, Report.source.is_not(None))))
    origins = [c.value for c in Channel if c != Channel.IMPORT] + sorted(sources)
    return {"areas": sorted(areas, key=str.lower), "owners": owners, "origins": origins}


# --- a leader's page ---------------------------------------------------------------------


@dataclass
class LeaderRecord:
    owned: list  # open problems they own (rows of problem_rows)
    overdue: list
    not_closed_out: list  # changed or declined, somebody not told yet
    changes_made: int
    median_days_to_change: float | None
    people_told: int


def leader_record(user: User, now: datetime | None = None) -> LeaderRecord:
    today = (now or utcnow()).date()
    owned = problem_rows(Problem.owner_id == user.id, Problem.is_open,
                         order_by=(Problem.due_on.is_(None), Problem.due_on, "first_at", Problem.id))
    overdue = [row for row in owned if row.Problem.due_on is not None and row.Problem.due_on < today]
    # Their changed and declined problems first, so the close-out check (lookups per problem)
    # runs on those alone rather than as joins over the whole outbox.
    closing = db.session.scalars(
        select(Problem.id).where(Problem.owner_id == user.id, Problem.status.in_(CLOSING_KINDS))).all()
    not_closed = problem_rows(Problem.id.in_(closing), awaiting_close_out(),
                              order_by=(Problem.updated_at, Problem.id)) if closing else []
    first_report = (
        select(func.min(Report.created_at)).where(Report.problem_id == Event.problem_id)
        .correlate(Event).scalar_subquery()
    )
    durations = [days_between(first, at) for at, first in db.session.execute(
        select(Event.created_at, first_report).where(Event.verb == CHANGE_RECORDED, Event.actor_id == user.id)
    ) if first is not None]
    told = db.session.scalar(
        select(func.count(distinct(Message.reporter_id)))
        .join(Event, Event.id == Message.event_id)
        .where(Event.actor_id == user.id, Message.user_id.is_(None), Message.reporter_id.is_not(None),
               Message.kind.in_((*NOTICE_KINDS, MessageKind.WRITE_BACK)),  # replies on tickets tell too
               Message.status == MessageStatus.SENT)
    ) or 0
    return LeaderRecord(owned, overdue, not_closed, len(durations), _round(percentile(durations, 0.5)), told)


# --- the weekly digest ---------------------------------------------------------------------


@dataclass
class DigestContent:
    overdue: list  # rows of problem_rows
    stale: list
    new_in_areas: list
    recurrences: list  # rows of (Problem, times, latest_at)
    areas: list[str]
    since: datetime

    @property
    def empty(self) -> bool:
        return not (self.overdue or self.stale or self.new_in_areas or self.recurrences)


def digest_for(user: User, now: datetime | None = None, days: int = 7) -> DigestContent:
    """What a leader should look at this week: their overdue and stale problems, new
    problems in their areas (those of problems they own or have owned), and problems
    of theirs that people say are still happening."""
    now = now or utcnow()
    since = now - timedelta(days=days)
    today = now.date()
    mine = (Problem.owner_id == user.id, Problem.is_open)
    overdue = problem_rows(*mine, Problem.due_on < today, order_by=(Problem.due_on, Problem.id))
    stale = problem_rows(
        *mine, acted_at_of() <= now - timedelta(days=STALE_DAYS), or_(Problem.due_on.is_(None), Problem.due_on >= today),
        order_by=("acted_at", Problem.id))
    ever_owned = select(Event.problem_id).where(
        Event.verb.in_((TOOK_OWNERSHIP, HANDED_OVER)), Event.subject_user_id == user.id)
    areas = sorted(db.session.scalars(
        select(Problem.area).distinct().where(
            Problem.area.is_not(None), or_(Problem.owner_id == user.id, Problem.id.in_(ever_owned)))
    ).all())
    new_in_areas = []
    if areas:
        new_in_areas = problem_rows(Problem.area.in_(areas), Problem.created_at >= since,
                                    order_by=(Problem.area, Problem.created_at, Problem.id))
    recurrences = db.session.execute(
        select(Problem, func.count(Event.id).label("times"), func.max(Event.created_at).label("latest_at"))
        .join(Event, Event.problem_id == Problem.id)
        .where(Event.verb == STILL_HAPPENING, Event.created_at >= since, Problem.owner_id == user.id)
        .group_by(Problem.id)
        .order_by(literal_column("times").desc(), Problem.id)
    ).all()
    return DigestContent(overdue, stale, new_in_areas, recurrences, areas, since)
