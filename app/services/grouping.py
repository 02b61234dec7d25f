"""Grouping reports about the same problem, and regrouping them by hand.

Every new report (web, staff, API, imports) asks the similarity engine where it belongs:
above CARELOOP_GROUPING_AUTO it joins the matching open problem automatically (recorded,
with its score, and reversible); above CARELOOP_GROUPING_REVIEW a leader is asked to
confirm; a match with a changed or declined problem is never swallowed by it: the report
starts a new problem and the owner is asked whether it is still happening.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _

from app.events import record_event
from app.extensions import db
from app.grouping import AUTO, REVIEW, decide, similarity_index
from app.grouping.learning import calibration, forget
from app.grouping.rules import score
from app.imports.ids import pending_problem
from app.messaging.compose import add_message, render_message
from app.models import (
    DUPLICATE_CONFIRMED,
    DUPLICATE_REJECTED,
    DUPLICATE_SUGGESTED,
    GROUPED_AUTOMATICALLY,
    GROUPING_UNDONE,
    MERGED,
    OPEN_STATUSES,
    RECURRENCE_SUSPECTED,
    GroupingReview,
    MessageKind,
    Problem,
    Report,
    User,
    utcnow,
)
from app.models.grouping import GroupingDecision
from app.observability import grouping_timer
from app.services.errors import ServiceError
from app.services.permissions import require_leader, require_owner_or_admin
from app.services.problems import reopen
from app.services.reports import REGROUP, move_report


@dataclass
class Placement:
    problem: Problem | None  # an existing problem to join, or None for a new one
    grouping: str | None = None
    score: float | None = None
    review: tuple[str, int, float] | None = None  # (kind, candidate problem's id, score) to ask about
    alternatives: list[list] | None = None  # other candidates for the question: [[problem_id, score], ...]


def enabled() -> bool:
    return bool(current_app.config.get("CARELOOP_GROUPING_ENABLED", True))


def place(text: str) -> Placement:
    """Where a new report should go, before it is stored."""
    if not enabled():
        return Placement(None)

    with grouping_timer():  # careloop_grouping_decision_seconds
        decision = decide(text)
    if decision.kind not in (AUTO, REVIEW) or decision.problem_id is None:
        return Placement(None)
    with db.session.no_autoflush:
        candidate = _as_it_stands(decision.problem_id)
    if candidate is None:
        return Placement(None)
    problem_id, status = candidate
    if status not in OPEN_STATUSES:
        return Placement(None, review=("recurrence", problem_id, decision.score))
    if decision.kind == AUTO:
        return Placement(_in_hand(problem_id), grouping="auto", score=decision.score)
    others = [[m.problem_id, m.score] for m in decision.candidates[1:] if m.problem_id != problem_id]
    return Placement(None, review=("duplicate", problem_id, decision.score), alternatives=others or None)


def _as_it_stands(problem_id: int) -> tuple[int, str] | None:
    """The candidate's id and status once merges are followed, without loading the problem
    (nearly every new report is a review question, and loading its candidate was a tenth of
    an import's storing thread), and without flushing an import page: a problem the page
    made a moment ago is pending, one this session changed is in its identity map, and any
    other is read as stored."""
    session = db.session()
    seen: set[int] = set()
    while problem_id not in seen:
        seen.add(problem_id)
        problem = pending_problem(session, problem_id)
        if problem is not None:
            merged_into_id, status = problem.merged_into_id, problem.status
        else:
            in_hand = session.identity_map.get(session.identity_key(Problem, problem_id))
            known = in_hand.__dict__ if in_hand is not None else {}  # loaded, or changed here
            if "merged_into_id" in known and "status" in known:
                merged_into_id, status = known["merged_into_id"], known["status"]
            else:
                row = session.connection().execute(_STANDING, {"id": problem_id}).first()
                if row is None:
                    return None
                merged_into_id = known.get("merged_into_id", row.merged_into_id)
                status = known.get("status", row.status)
        if merged_into_id is None:
            return problem_id, status
        problem_id = merged_into_id
    return None  # merged in a circle: nothing to join


_STANDING = db.select(Problem.merged_into_id, Problem.status).where(Problem.id == db.bindparam("id"))


def _in_hand(problem_id: int) -> Problem:
    with db.session.no_autoflush:
        return pending_problem(db.session(), problem_id) or db.session.get(Problem, problem_id)


def after_filing(report: Report, placement: Placement) -> None:
    """Index the stored report and record how it was grouped (same transaction)."""
    problem_id = report.problem.id if report.problem is not None else report.problem_id  # before a flush too
    similarity_index().index_report(report.id, problem_id, report.text)
    if placement.grouping == "auto":
        record_event(GROUPED_AUTOMATICALLY, None, problem=report.problem, report=report,
               score=round(placement.score, 3))
    if placement.review is not None:
        kind, candidate_id, score = placement.review
        review = GroupingReview(kind=kind, report=report, candidate_problem_id=candidate_id, score=score,
                                alternatives=placement.alternatives)
        db.session.add(review)
        verb = RECURRENCE_SUSPECTED if kind == "recurrence" else DUPLICATE_SUGGESTED
        record_event(verb, None, problem=report.problem, report=report, candidate=candidate_id, score=round(score, 3))
        if kind == "recurrence":
            candidate = _in_hand(candidate_id)
            record_event(verb, None, problem=candidate, report=report, score=round(score, 3))
            _tell_owner_it_may_still_happen(candidate, report)


def _tell_owner_it_may_still_happen(problem: Problem, report: Report) -> None:

    owner = problem.owner
    if owner is None or not owner.active:
        return
    rendered = render_message(MessageKind.OWNER_FLAG, problem, reports=[report],
                              flagged_by=report.reporter, recurrence=True)
    add_message(MessageKind.OWNER_FLAG, problem, None, rendered, to=owner.email, user=owner, reports=[report])


def pending_reviews(problem: Problem | None = None) -> list[GroupingReview]:
    query = db.select(GroupingReview).where(GroupingReview.status == "pending").order_by(GroupingReview.created_at)
    if problem is not None:
        query = query.where((GroupingReview.candidate_problem_id == problem.id)
                            | GroupingReview.report.has(Report.problem_id == problem.id))
    return db.session.scalars(query).all()


def _decide_review(review: GroupingReview, actor: User, status: str) -> None:
    require_leader(actor, REGROUP)
    if review.status != "pending":
        raise ServiceError(_("Someone already answered this question."))
    # The same rule as moving by hand: the report's problem, once owned, is its owner's to
    # regroup; a closed candidate (a recurrence question) is its owner's to answer.
    involved = [review.report.problem]
    if review.kind == "recurrence" or review.candidate.status not in OPEN_STATUSES:
        involved.append(review.candidate)
    for problem in involved:
        if problem is not None and problem.owner_id is not None:
            require_owner_or_admin(problem, actor, _("Only the owner of #%(id)s or an admin can answer this.",
                                                     id=problem.id))
    review.status, review.decided_by, review.decided_at = status, actor, utcnow()


def confirm_review(review: GroupingReview, actor: User, candidate: Problem | None = None) -> Problem:
    """Yes, the same problem: the report joins the candidate (a recurrence reopens it).
    ``candidate`` may name one of the question's other candidates instead."""

    if candidate is not None and candidate.id != review.candidate_problem_id:
        if candidate.id not in {int(a[0]) for a in review.alternatives or ()}:
            raise ServiceError(_("That problem was not one of the candidates."))
        review.candidate = candidate
    _decide_review(review, actor, "confirmed")
    candidate, report = review.candidate, review.report
    _learn(report, candidate.id, True, "confirmed", actor)
    if review.kind == "recurrence" and candidate.status not in OPEN_STATUSES:
        reopen(candidate, actor, reason=f"Still happening: report #{report.id}")
    start = report.problem
    move_report(report, actor, candidate, grouping="confirmed", owner_check=False)
    record_event(DUPLICATE_CONFIRMED, actor, problem=candidate, report=report, kind=review.kind, score=review.score)
    _merge_if_emptied(start, candidate, actor)
    db.session.flush()
    return candidate


def reject_review(review: GroupingReview, actor: User) -> None:
    """No, a different problem: the report stays where it is."""
    _decide_review(review, actor, "rejected")
    _learn(review.report, review.candidate_problem_id, False, "rejected", actor)
    for problem_id, _score in review.alternatives or ():
        _learn(review.report, int(problem_id), False, "rejected", actor)
    record_event(DUPLICATE_REJECTED, actor, problem=review.report.problem, report=review.report,
           candidate=review.candidate_problem_id, kind=review.kind)
    db.session.flush()


def undo_auto_grouping(report: Report, actor: User) -> Problem:
    """Take an automatically grouped report out again, into a problem of its own."""

    require_leader(actor, REGROUP)
    if report.grouping != "auto":
        raise ServiceError(_("This report was not grouped automatically."))
    before = report.problem_id
    _learn(report, before, False, "undone", actor)
    new_problem = move_report(report, actor, None, grouping=None)  # the owner's (or an admin's) to undo
    record_event(GROUPING_UNDONE, actor, problem=new_problem, report=report, before={"problem_id": before})
    return new_problem


def merge_problems(source: Problem, target: Problem, actor: User) -> Problem:
    """Merge ``source`` into ``target``: every report and person moves; the old URL redirects."""

    require_leader(actor, REGROUP)
    if source.id == target.id:
        raise ServiceError(_("A problem cannot be merged into itself."), field="target")
    if target.merged_into_id is not None:
        raise ServiceError(_("Problem #%(id)s was itself merged; merge into #%(into)s.",
                             id=target.id, into=target.merged_into_id), field="target")
    if source.merged_into_id is not None:
        raise ServiceError(_("This problem is already merged."))
    for problem in (source, target):
        if problem.owner_id is not None:
            require_owner_or_admin(problem, actor, _("Only the owner of #%(id)s or an admin can merge it.", id=problem.id))
    moved = list(source.reports)
    for report in moved[:LEARN_PER_MERGE]:
        _learn(report, target.id, True, "merged", actor, ignore=(source.id,))
    for report in moved:
        report.problem = target
        report.grouping = "moved"
    source.merged_into = target
    db.session.flush()
    similarity_index().move_problem(source.id, target.id)
    record_event(MERGED, actor, problem=source, before={"problem_id": source.id}, after={"problem_id": target.id},
           reports=[r.id for r in moved])
    record_event(MERGED, actor, problem=target, before={"problem_id": source.id},
                   after={"problem_id": target.id}, reports=[r.id for r in moved])
    db.session.execute(db.update(GroupingReview).where(GroupingReview.candidate_problem_id == source.id)
                       .values(candidate_problem_id=target.id))
    db.session.flush()  # who is told what follows from the events (services/telling.py)
    return target


def merge_many(sources: list[Problem], target: Problem, actor: User) -> Problem:
    """Merge several problems into ``target`` in one step (each as :func:`merge_problems`)."""
    require_leader(actor, REGROUP)
    chosen = [p for p in dict.fromkeys(sources) if p.id != target.id]
    if not chosen:
        raise ServiceError(_("Choose at least one other problem to merge into #%(id)s.", id=target.id),
                           field="sources")
    for source in chosen:
        merge_problems(source, target, actor)
    return target


LEARN_PER_MERGE = 20  # a merge's reports stored as labelled decisions (the first ones)


def _learn(report: Report, problem_id: int | None, same: bool, source: str, actor: User | None,
           ignore: tuple[int, ...] = ()) -> None:
    """Store a leader's decision with the evidence the engine has for it (same transaction)."""

    if problem_id is None or report.removed_at is not None or not (report.text or "").strip():
        return
    features = similarity_index().features_for(report.text, problem_id, exclude_report_id=report.id,
                                               ignore_problem_ids=ignore)
    if features is None:
        return
    db.session.add(GroupingDecision(source=source, same=same, report_id=report.id, problem_id=problem_id,
                                    actor_id=actor.id if actor else None, features=features))
    forget()


def learn_from_move(report: Report, source: Problem, target: Problem | None, actor: User) -> None:
    """A leader moved a report by hand: it was not about ``source``, and is about ``target``."""
    _learn(report, source.id, False, "moved", actor)
    if target is not None:
        _learn(report, target.id, True, "moved", actor)


def candidate_problems(problem: Problem, limit: int = 3) -> list[tuple[Problem, float]]:
    """The open problems most likely to be the same as ``problem`` (for triage), with scores:
    its first report decided against every other open problem."""

    first = db.session.scalar(db.select(Report).where(Report.problem_id == problem.id, Report.removed_at.is_(None))
                              .order_by(Report.id).limit(1))
    if first is None or not enabled():
        return []
    allowed = [i for i in visible_open_problem_ids(staff=True) if i != problem.id]
    if not allowed:
        return []
    decision = decide(first.text, problem_ids=allowed, exclude_report_id=first.id)
    matches = [m for m in decision.matches[:limit] if m.score >= float(current_app.config["CARELOOP_SUGGEST_MIN"])]
    problems = {p.id: p for p in db.session.scalars(db.select(Problem).where(
        Problem.id.in_([m.problem_id for m in matches])))}
    return [(problems[m.problem_id], m.score) for m in matches if m.problem_id in problems]


TRIAGE_CANDIDATES = 20  # new problems in triage that get candidates computed


def triage_candidates(problems: list[Problem]) -> dict[int, list[tuple[Problem, float]]]:
    """For the first new problems in triage, their best candidate problems with scores."""
    out: dict[int, list[tuple[Problem, float]]] = {}
    for problem in problems[:TRIAGE_CANDIDATES]:
        found = candidate_problems(problem)
        if found:
            out[problem.id] = found
    return out


def _merge_if_emptied(problem: Problem, into: Problem, actor: User) -> None:
    """A problem left with no reports by a confirmation is merged away, so its URL still works."""
    db.session.flush()
    remaining = db.session.scalar(db.select(db.func.count(Report.id)).where(Report.problem_id == problem.id))
    if remaining == 0 and problem.merged_into_id is None and problem.id != into.id:
        problem.merged_into = into
        record_event(MERGED, actor, problem=problem, before={"problem_id": problem.id}, after={"problem_id": into.id},
               reports=[])


def split_reports(problem: Problem, report_ids: list[int], actor: User, target: Problem | None = None) -> Problem:
    """Move the chosen reports of ``problem`` to ``target``, or to one new problem."""

    require_leader(actor, REGROUP)
    chosen = [r for r in problem.reports if r.id in set(report_ids)]
    if not chosen:
        raise ServiceError(_("Choose at least one report to move."), field="reports")
    if target is None and len(chosen) == len(problem.reports):
        raise ServiceError(_("Leave at least one report here, or merge the problem instead."), field="reports")
    destination = target
    for report in chosen:
        destination = move_report(report, actor, destination)
    return destination


def _visible(*columns, staff: bool):
    """Problems a filer may be shown as suggestions: staff see every open problem;
    customers only those whose public title a leader has approved (public_title set)."""
    query = db.select(*columns).where(Problem.is_open, Problem.merged_into_id.is_(None))
    return query if staff else query.where(Problem.public_title.is_not(None))


def visible_open_problem_ids(*, staff: bool) -> list[int]:
    return list(db.session.scalars(_visible(Problem.id, staff=staff)))


def visible_public_titles() -> dict[int, str]:
    """The problems customers may be shown, with their public titles (one query)."""
    return dict(db.session.execute(_visible(Problem.id, Problem.public_title, staff=False)).all())


def suggestions(text: str, *, staff: bool, limit: int = 5) -> list[dict]:
    """Up to ``limit`` similar open problems for a filer, with the same visibility rules
    everywhere (form, JSON endpoint, confirmation step). Scored like the grouping decision,
    against the whole problem and, for customers, against its public title too, with the
    suggestion threshold of its own (``CARELOOP_SUGGEST_MIN``)."""

    text = (text or "").strip()
    if len(text) < 12:
        return []
    titles = {} if staff else visible_public_titles()
    allowed = visible_open_problem_ids(staff=True) if staff else list(titles)
    if not allowed:
        return []
    index = similarity_index()
    chosen = calibration()
    evidence = index.evidence(text, problem_ids=allowed, limit=limit)
    score(chosen.weights, evidence.candidates)
    scores = {c.problem_id: c.score for c in evidence.candidates}
    if not staff:
        titled = index.title_candidates(text, titles, keep=limit)
        score(chosen.weights, titled)
        for candidate in titled:
            scores[candidate.problem_id] = max(scores.get(candidate.problem_id, 0.0), candidate.score)
    best = sorted(scores.items(), key=lambda item: -item[1])[:limit]
    threshold = chosen.thresholds.suggest
    problems = {p.id: p for p in db.session.scalars(db.select(Problem).where(
        Problem.id.in_([problem_id for problem_id, _ in best])))}
    return [
        {"id": problem_id, "title": problems[problem_id].title if staff else problems[problem_id].public_title,
         "score": round(value, 2)}
        for problem_id, value in best if value >= threshold and problem_id in problems
    ]
