"""Plain-data views of reports and problems, for exports (and later the API)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterator

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models import Problem, Report
from app.queries import problems_with_stats


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def report_dict(report: Report) -> dict[str, Any]:
    reporter = report.reporter
    return {
        "id": report.id,
        "problem_id": report.problem_id,
        "source": report.source,
        "external_id": report.external_id,
        "channel": report.channel,
        "locale": report.locale,  # the language the person wrote in (the page's language)
        "text": report.text,
        # A report whose remote ticket was deleted: its words and person are gone, the row
        # stays so its problem keeps its count. Never mistake it for a blank report.
        "deleted": report.removed_at is not None,
        "deleted_at": _iso(report.removed_at),
        "location": report.location,
        "occurred_on": _iso(report.occurred_on),
        "impact": report.impact,
        "created_at": _iso(report.created_at),
        "reporter": {
            "name": reporter.display_name,
            "email": reporter.email,
            "kind": reporter.kind,
            "contact_ok": reporter.contact_ok,
        },
        "filed_by": (
            {"id": report.filed_by.id, "name": report.filed_by.name, "email": report.filed_by.email}
            if report.filed_by
            else None
        ),
    }


def problem_dict(row, report_ids: list[int]) -> dict[str, Any]:
    problem: Problem = row.Problem
    return {
        "id": problem.id,
        "title": problem.title,
        "area": problem.area,
        "status": problem.status,
        "owner": (
            {"id": problem.owner.id, "name": problem.owner.name, "email": problem.owner.email}
            if problem.owner
            else None
        ),
        "due_on": _iso(problem.due_on),
        "people_affected": row.people,
        "report_ids": report_ids,
        "first_report_at": _iso(row.first_at),
        "latest_report_at": _iso(row.latest_at),
        "handoffs": row.handoffs,
        "change": (
            {
                "what": problem.change_what,
                "since": _iso(problem.change_since),
                "evidence_url": problem.change_evidence_url,
                "recorded_at": _iso(problem.changed_at),
            }
            if problem.changed_at
            else None
        ),
        "decline_reason": problem.decline_reason,
        "public_title": problem.public_title,
        "public_summary": problem.public_summary,
        "published_at": _iso(problem.published_at),
        "created_at": _iso(problem.created_at),
    }


def iter_reports(batch: int = 500) -> Iterator[dict[str, Any]]:
    query = (
        select(Report)
        .options(selectinload(Report.reporter), selectinload(Report.filed_by))
        .order_by(Report.id)
    )
    last_id = 0
    while True:
        page = db.session.scalars(query.where(Report.id > last_id).limit(batch)).all()
        if not page:
            return
        for report in page:
            yield report_dict(report)
        last_id = page[-1].id
        db.session.expunge_all()


def iter_problems() -> Iterator[dict[str, Any]]:
    report_ids: dict[int, list[int]] = defaultdict(list)
    for report_id, problem_id in db.session.execute(
        select(Report.id, Report.problem_id).order_by(Report.id)
    ):
        report_ids[problem_id].append(report_id)
    rows = db.session.execute(
        problems_with_stats().options(selectinload(Problem.owner)).order_by(Problem.id)
    )
    for row in rows:
        yield problem_dict(row, report_ids[row.Problem.id])
