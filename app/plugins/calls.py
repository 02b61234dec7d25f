"""Plugin event hooks, called only once the transaction that caused them commits.

Services call ``after_commit(hook, **kwargs)`` with plain data; a rollback drops the
calls, so plugins never hear of something that did not happen.
"""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import Problem, Report
from app.plugin_api import ProblemInfo, ReportInfo
from app.plugins.manager import call_event_hook
from app.urls import external_url

_KEY = "careloop.after_commit"


def after_commit(hook: str, **kwargs) -> None:
    db.session.info.setdefault(_KEY, []).append((hook, kwargs))


@event.listens_for(Session, "after_commit")
def _call_hooks(session: Session) -> None:

    for hook, kwargs in session.info.pop(_KEY, []):
        call_event_hook(hook, **kwargs)


@event.listens_for(Session, "after_rollback")
def _drop_hooks(session: Session) -> None:
    session.info.pop(_KEY, None)


def report_info(report: Report) -> ReportInfo:
    return ReportInfo(
        id=report.id,
        problem_id=report.problem_id,
        channel=report.channel,
        source=report.source,
        external_id=report.external_id,
        text=report.text,
        reporter_name=report.reporter.display_name,
        reporter_email=report.reporter.email,
        created_at=report.created_at,
    )


def problem_info(problem: Problem) -> ProblemInfo:

    url = None
    if problem.published_at is not None:  # built by hand: there may be no request (CLI, imports)
        url = external_url("public.change", problem_id=problem.id)
    return ProblemInfo(
        id=problem.id,
        title=problem.title,
        status=problem.status,
        owner_name=problem.owner.name if problem.owner else None,
        public_title=problem.public_title,
        change_what=problem.change_what,
        decline_reason=problem.decline_reason,
        url=url,
    )
