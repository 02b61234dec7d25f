"""When to answer in JSON, and the one shape of a JSON error.

``wants_json()`` is the one rule every error answer follows (the error pages, the 503 while the
database is away, the 429 of a limit): the API, a caller that sent JSON, or one that asks for
JSON before HTML gets JSON; everybody else gets the styled page. ``error_response`` builds the
API's error body, documented in the OpenAPI document as ``Error``::

    {"error": {"status": 422, "code": "invalid_field", "message": "...", "field": "text"}}

``field`` names the request field or query parameter at fault, when there is one.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from flask_babel import gettext as _

JSON = "application/json"
HTML = "text/html"


def wants_json() -> bool:
    """Whether this request's errors are answered in JSON: anything under ``/api/``, a request
    whose body is JSON, and a client that ranks JSON above HTML in ``Accept`` (or names it first
    at the same rank, as ``fetch`` callers and HTTP libraries do). ``*/*`` and browsers get HTML."""
    if request.path.startswith("/api/") or request.is_json:
        return True
    accept = request.accept_mimetypes
    json_q, html_q = accept[JSON], accept[HTML]
    return json_q > html_q or (json_q > 0 and json_q == html_q and accept.best == JSON)


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
