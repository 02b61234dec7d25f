"""Public reports held for moderation (``CARELOOP_MODERATE_PUBLIC``).

A held report is stored with its reporter and private link but belongs to no problem:
it is not grouped, not in triage, not counted anywhere. A leader approves it (it then
goes through the normal placement, exactly as if it had just been filed) or rejects it
as spam (its text and the person's details are removed; the audit events stay).
"""

from __future__ import annotations

from flask import current_app

from app.events import record_event
from app.extensions import db
from app.models import PROBLEM_CREATED, REPORT_FILED, Channel, Problem, Report, User, utcnow
from app.services.errors import ServiceError
from app.services.permissions import require_leader

HELD = "held"
REJECTED = "rejected"
REPORT_HELD = "report_held"
REPORT_APPROVED = "report_approved"
REPORT_REJECTED = "report_rejected"


def hold_report(*, text: str, reporter, channel, location, occurred_on, impact) -> Report:
    """Store an (already checked) public report as held; no problem, no grouping, no hooks."""
    report = Report(text=text, location=location, occurred_on=occurred_on, impact=impact,
                    channel=Channel(channel), reporter=reporter, problem=None, moderation=HELD)
    db.session.add(report)
    record_event(REPORT_HELD, None, report=report, channel=report.channel)
    db.session.flush()
    return report


def held_reports() -> list[Report]:
    """Reports waiting for a leader, oldest first."""
    return list(db.session.scalars(
        db.select(Report).where(Report.moderation == HELD).order_by(Report.created_at, Report.id)
    ))


def held_count() -> int:
    return db.session.scalar(db.select(db.func.count(Report.id)).where(Report.moderation == HELD)) or 0


def _require_held(report: Report) -> None:
    if report.moderation != HELD:
        raise ServiceError("That report is no longer waiting: someone has already decided on it.")


def approve_held_report(report: Report, actor: User) -> Problem:
    """Let a held report in: it is placed by the similarity engine like any new report
    (joins a matching problem, or starts one, possibly with a question for a leader)."""
    from app.events import after_commit, report_info
    from app.services.grouping import after_filing, place
    from app.services.reports import _configured_area, suggested_title

    require_leader(actor, "Only leaders can approve held reports.")
    _require_held(report)
    placement = place(report.text)
    problem = placement.problem
    if problem is None:
        problem = Problem(title=suggested_title(report.text), area=_configured_area(report.location))
        db.session.add(problem)
        record_event(PROBLEM_CREATED, actor, problem=problem, title=problem.title)
    report.problem = problem
    report.moderation = None
    report.grouping = placement.grouping
    report.grouping_score = placement.score
    record_event(REPORT_APPROVED, actor, problem=problem, report=report)
    record_event(REPORT_FILED, None, problem=problem, report=report, channel=report.channel, approved_by=actor.id)
    db.session.flush()
    after_filing(report, placement)
    after_commit("report_filed", report=report_info(report))
    return problem


def reject_held_report(report: Report, actor: User) -> None:
    """Spam: remove the words and the person's details; keep the row and the audit trail."""
    require_leader(actor, "Only leaders can reject held reports.")
    _require_held(report)
    report.moderation = REJECTED
    report.text = ""
    report.location = None
    report.impact = None
    report.occurred_on = None
    report.removed_at = utcnow()
    reporter = report.reporter
    if all(r.moderation == REJECTED for r in reporter.reports):
        reporter.display_name = None
        reporter.email = None
        reporter.contact_ok = False
    record_event(REPORT_REJECTED, actor, report=report)
    db.session.flush()


def moderation_on() -> bool:
    return bool(current_app.config.get("CARELOOP_MODERATE_PUBLIC"))
