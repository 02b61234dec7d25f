"""Hostile requests to the API get a JSON 4xx, never a 500 or someone else's HTML page.

Checked before any view runs (registered on the API blueprint):

- a request line longer than ``CARELOOP_API_MAX_REQUEST_LINE`` bytes: 414 ``uri_too_long``
  (the app server's own limit must be higher for this to be reached: gunicorn's
  ``limit_request_line``, see docs/security.md; above that limit gunicorn answers itself);
- a query parameter given more than once: 400 ``invalid_parameter`` (which copy would count
  is not guessed);
- a JSON body nested deeper than ``CARELOOP_API_MAX_JSON_DEPTH``: 400 ``invalid_json``,
  found by a scan of the bytes before the parser (whose recursion would otherwise fail with
  ``RecursionError``, a 500).
"""

from __future__ import annotations

from flask import current_app, request
from flask_babel import gettext as _

from app.api.blueprint import bp
from app.api.errors import ApiError, error_response

_OPEN, _CLOSE, _QUOTE, _BACKSLASH = frozenset(b"[{"), frozenset(b"]}"), ord('"'), ord("\\")


def json_depth_exceeds(data: bytes, limit: int) -> bool:
    """True when arrays/objects in ``data`` nest deeper than ``limit`` (brackets inside
    strings do not count). Reads the bytes once; never recurses."""
    depth, in_string, escaped = 0, False, False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == _BACKSLASH:
                escaped = True
            elif byte == _QUOTE:
                in_string = False
        elif byte == _QUOTE:
            in_string = True
        elif byte in _OPEN:
            depth += 1
            if depth > limit:
                return True
        elif byte in _CLOSE:
            depth -= 1
    return False


def request_line_length() -> int:
    """The request line's length in bytes: ``METHOD SP target SP HTTP/x.y``."""
    environ = request.environ
    target = environ.get("RAW_URI") or environ.get("REQUEST_URI") or (
        environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""))
    query = environ.get("QUERY_STRING", "")
    if query and "?" not in target:  # some servers (and test clients) leave the query out
        target = f"{target}?{query}"
    return len(request.method) + 1 + len(target.encode("latin-1", "replace")) + 1 + len(
        environ.get("SERVER_PROTOCOL", "HTTP/1.1"))


@bp.before_request
def refuse_hostile_requests():
    config = current_app.config
    longest = int(config.get("CARELOOP_API_MAX_REQUEST_LINE", 4094))
    if request_line_length() > longest:
        raise ApiError(414, _("The address is longer than %(limit)d bytes. Send fewer or shorter query "
                              "parameters.", limit=longest), code="uri_too_long")
    for name, values in request.args.lists():
        if len(values) > 1:
            raise ApiError(400, _("'%(name)s' is given more than once; give each parameter once.", name=name),
                           field=name, code="invalid_parameter")
    if request.is_json:  # also without a Content-Length (chunked)
        deepest = int(config.get("CARELOOP_API_MAX_JSON_DEPTH", 32))
        if json_depth_exceeds(request.get_data(cache=True), deepest):
            raise ApiError(400, _("The JSON body is nested more than %(limit)d levels deep.", limit=deepest),
                           code="invalid_json")


@bp.errorhandler(RecursionError)
def too_deep(error):
    """A last line behind the scan above: whatever recursed too deep was the caller's input."""

    return error_response(400, _("The JSON body is nested too deeply."), code="invalid_json")
