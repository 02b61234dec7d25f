"""Links that leave the app (emails, webhooks, feeds, plugins, the API), built in one place.

Every such link comes from the route table, so renaming a route cannot silently break an
email or a webhook. It works with or without a request (the mail sender runs from the CLI).
"""

from __future__ import annotations

from flask import current_app


def external_url(endpoint: str, _anchor: str | None = None, **values) -> str:
    """The absolute address of ``endpoint`` under ``CARELOOP_BASE_URL`` (which may carry a path)."""
    base = current_app.config["CARELOOP_BASE_URL"].rstrip("/")
    path = current_app.url_map.bind("careloop.invalid").build(endpoint, values)
    return f"{base}{path}" + (f"#{_anchor}" if _anchor else "")


def init_app(app) -> None:
    app.jinja_env.globals["external_url"] = external_url
