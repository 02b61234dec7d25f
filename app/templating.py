"""Template helpers and response headers used by every page."""

from __future__ import annotations

from datetime import date, datetime

from flask import Flask

from .models import STATUS_LABELS, Status, utcnow


def format_date(value: date | datetime | None) -> str:
    if value is None:
        return ""
    return f"{value.day} {value:%B %Y}"


def format_datetime(value: datetime | None) -> str:
    if value is None:
        return ""
    return f"{value.day} {value:%b %Y, %H:%M} UTC"


def format_duration(start: datetime | None, end: datetime | None) -> str:
    """A person's sense of how long: "3 days", "5 weeks", "under an hour"."""
    if start is None or end is None:
        return ""
    seconds = max((end - start).total_seconds(), 0)
    hours = seconds / 3600
    if hours < 1:
        return "under an hour"
    if hours < 48:
        n = round(hours)
        return f"{n} hour{'s' if n != 1 else ''}"
    days = hours / 24
    if days < 14:
        n = round(days)
        return f"{n} days"
    if days < 90:
        return f"{round(days / 7)} weeks"
    return f"{round(days / 30.4)} months"


def age(value: datetime | None) -> str:
    return format_duration(value, utcnow())


def init_templating(app: Flask) -> None:
    app.jinja_env.filters.update(
        date=format_date, datetime=format_datetime, age=age, duration=format_duration
    )
    app.jinja_env.globals.update(Status=Status, STATUS_LABELS=STATUS_LABELS)

    @app.context_processor
    def inject_org():
        return {"org_name": app.config["CARELOOP_ORG_NAME"]}

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        )
        return response
