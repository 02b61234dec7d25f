"""JSON errors for everything under ``/api/``, in the one shape of ``app/json_errors.py``
(``error_response``, re-exported here for the API's modules)."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from app.errors import database_unavailable
from app.extensions import db
from app.json_errors import CODES, error_response

__all__ = ["CODES", "ApiError", "error_response", "handle_database_unavailable", "handle_http_exception"]


class ApiError(HTTPException):
    """Raise from API code: becomes a JSON error with this status, message and field."""

    def __init__(self, status: int, message: str | None = None, *, field: str | None = None,
                 code: str | None = None, headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(message)
        self.code = status
        self.message = message
        self.field = field
        self.error_code = code
        self.extra_headers = headers or {}
        self.extra = extra


def handle_http_exception(error: HTTPException):
    """The API blueprint's handler for every HTTP error raised while serving it."""
    if isinstance(error, ApiError):
        return error_response(error.code, error.message, field=error.field, code=error.error_code,
                              headers=error.extra_headers, **error.extra)
    status = error.code or 500
    if status >= 500:
        db.session.rollback()
        return error_response(500)
    headers = {k: v for k, v in error.get_headers() if k in ("Allow", "WWW-Authenticate", "Retry-After")}
    return error_response(status, headers=headers)



def handle_database_unavailable(error):
    """The database cannot be reached: the app's 503 (``app.errors.database_unavailable``
    decides, rolls back and logs), answered in the API's error shape."""

    response = database_unavailable(error)  # re-raises anything that is not "no connection" (then a 500)
    return error_response(503, _("The database is unavailable; nothing was stored. Try again in a minute."),
                          code="database_unavailable",
                          headers={"Retry-After": response.headers.get("Retry-After", "30")})
