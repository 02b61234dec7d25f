"""JSON errors for everything under ``/api/``.

Every error has the same shape, documented in the OpenAPI document as ``Error``::

    {"error": {"status": 422, "code": "invalid_field", "message": "...", "field": "text"}}

``field`` names the request field or query parameter at fault, when there is one.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from app.errors import database_unavailable
from app.extensions import db

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    422: "invalid_field",
    429: "too_many_requests",
    500: "server_error",
    503: "database_unavailable",
}


def _default_message(status: int) -> str:
    return {
        400: _("The request could not be understood."),
        401: _("This needs an API token: send it as 'Authorization: Bearer <token>'."),
        403: _("This API token may not do that."),
        404: _("There is nothing at this address."),
        405: _("This address does not accept that method."),
        409: _("That conflicts with what is already stored."),
        413: _("The request body is too large."),
        414: _("The address is too long."),
        415: _("Send the body as JSON, with 'Content-Type: application/json'."),
        422: _("A field is not valid."),
        429: _("Too many requests; wait and try again."),
        500: _("Something went wrong on our side; nothing was stored. Please try again."),
    }.get(status, _("The request failed."))


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


def error_response(status: int, message: str | None = None, *, field: str | None = None,
                   code: str | None = None, headers: dict[str, str] | None = None, **extra: Any):
    body: dict[str, Any] = {
        "status": status,
        "code": code or CODES.get(status, "error"),
        "message": message or _default_message(status),
    }
    if field is not None:
        body["field"] = field
    body.update(extra)
    response = jsonify(error=body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    # A 405 found while routing names the methods this address accepts.
    valid = getattr(getattr(request, "routing_exception", None), "valid_methods", None)
    if status == 405 and valid:
        response.headers["Allow"] = ", ".join(sorted(valid))
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


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
