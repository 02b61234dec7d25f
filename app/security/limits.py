"""The "too many requests" answer: a styled page, or JSON for JSON endpoints."""

from __future__ import annotations

import math

from flask import Flask, jsonify, render_template
from flask_babel import gettext as _
from flask_babel import ngettext

from app.json_errors import wants_json
from app.security.ratelimit import RateLimited


def wait_phrase(seconds: int) -> str:
    """"about 40 seconds", "about 12 minutes", "about 2 hours": when to try again."""
    if seconds < 60:
        return ngettext("about %(num)d second", "about %(num)d seconds", max(seconds, 1))
    if seconds < 3600:
        return ngettext("about %(num)d minute", "about %(num)d minutes", math.ceil(seconds / 60))
    return ngettext("about %(num)d hour", "about %(num)d hours", math.ceil(seconds / 3600))


def too_many_message(retry_after: int) -> str:
    return _("Too many requests in a short time. To keep this service working for everyone, "
             "please try again in %(wait)s.", wait=wait_phrase(retry_after))


def json_too_many(error: RateLimited):
    """The JSON answer of a JSON endpoint whose limit was reached."""
    return rate_limited(jsonify(error=too_many_message(error.retry_after), retry_after=error.retry_after),
                        error.retry_after)


def rate_limited(response, retry_after: int):
    """Mark a response as a 429 that says when to come back."""
    response.status_code = 429
    response.headers["Retry-After"] = str(retry_after)
    return response


def init_app(app: Flask) -> None:
    @app.errorhandler(RateLimited)
    def too_many(error: RateLimited):
        message = too_many_message(error.retry_after)
        if wants_json():
            return json_too_many(error)
        response = app.make_response(render_template(
            "errors/error.html", code=429, title=_("Please wait a little"), message=message))
        return rate_limited(response, error.retry_after)
