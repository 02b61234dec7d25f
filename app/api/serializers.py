"""Rows to JSON, in the shapes the OpenAPI document names (``Problem``, ``PublicProblem``,
``Event``, ``Report``). Times are UTC, ISO 8601 with ``Z``; dates are ``YYYY-MM-DD``."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import url_for

from app.models import Event, Problem, Report, User
from app.urls import external_url


def when(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") + "Z" if value is not None else None


def day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def person(user: User | None) -> dict[str, Any] | None:
    return {"id": user.id, "name": user.name} if user is not None else None


def _change(problem: Problem) -> dict[str, Any] | None:
    if not problem.change_what:
        return None
    return {
        "what": problem.change_what,
        "since": day(problem.change_since),
        "evidence_url": problem.change_evidence_url,
        "changed_at": when(problem.changed_at),
    }


def public_problem(row) -> dict[str, Any]:
    """Exactly what "We changed this" shows: no reporter, no internal title or notes."""
    problem: Problem = row.Problem
    return {
        "id": problem.id,
        "public_title": problem.public_title,
        "public_summary": problem.public_summary,
        "status": problem.status,
        "owner_name": problem.owner.name if problem.owner else None,
        "people": row.people,
        "change": _change(problem),
        "published_at": when(problem.published_at),
        "links": {
            "self": url_for("api.problem", problem_id=problem.id),
            "html": external_url("public.change", problem_id=problem.id),
        },
    }


def full_problem(row) -> dict[str, Any]:
    """A problem as a leader sees it."""
    problem: Problem = row.Problem
    return {
        "id": problem.id,
        "title": problem.title,
        "public_title": problem.public_title,
        "public_summary": problem.public_summary,
        "area": problem.area,
        "status": problem.status,
        "owner": person(problem.owner),
        "due_on": day(problem.due_on),
        "created_at": when(problem.created_at),
        "updated_at": when(problem.updated_at),
        "people": row.people,
        "reports": row.reports,
        "handoffs": row.handoffs,
        "first_report_at": when(row.first_at),
        "latest_report_at": when(row.latest_at),
        "change": _change(problem),
        "decline_reason": problem.decline_reason,
        "published_at": when(problem.published_at),
        "merged_into_id": problem.merged_into_id,
        "links": {
            "self": url_for("api.problem", problem_id=problem.id),
            "events": url_for("api.problem_events", problem_id=problem.id),
            "reports": url_for("api.reports", problem_id=problem.id),
            "html": external_url("leaders.problem", problem_id=problem.id),
        },
    }


def event(item: Event) -> dict[str, Any]:
    return {
        "id": item.id,
        "verb": item.verb,
        "created_at": when(item.created_at),
        "problem_id": item.problem_id,
        "report_id": item.report_id,
        "actor": person(item.actor),
        "subject_user": person(item.subject_user),
        "details": item.details or {},
    }


def report(item: Report) -> dict[str, Any]:
    reporter = item.reporter
    return {
        "id": item.id,
        "problem_id": item.problem_id,
        "text": None if item.removed_at else item.text,
        "location": item.location,
        "occurred_on": day(item.occurred_on),
        "impact": item.impact,
        "channel": item.channel,
        "source": item.source,
        "external_id": item.external_id,
        "external_url": item.external_url,
        "grouping": item.grouping,
        "grouping_score": item.grouping_score,
        "moderation": item.moderation,
        "locale": item.locale,
        "created_at": when(item.created_at),
        "removed_at": when(item.removed_at),
        "deleted": item.removed_at is not None,
        "reporter": {
            "id": reporter.id,
            "kind": reporter.kind,
            "name": reporter.display_name,
            "email": reporter.email,
            "contact_ok": reporter.contact_ok,
            "can_be_emailed": reporter.can_be_emailed,
        },
        "filed_by": person(item.filed_by),
        "links": {
            "self": url_for("api.report", report_id=item.id),
            "problem": url_for("api.problem", problem_id=item.problem_id) if item.problem_id else None,
        },
    }
