"""Who is calling: a bearer token or nobody; and how often they may call.

Runs before every API view. The session cookie is never consulted: a signed-in browser
calling the API is anonymous unless it sends a token.
"""

from __future__ import annotations

from datetime import datetime

from flask import current_app, g, request
from flask_babel import gettext as _

from app.api.blueprint import bp
from app.api.errors import ApiError
from app.extensions import db
from app.models import ApiToken, utcnow
from app.security.ratelimit import allow, parse_limit
from app.services.api_tokens import authenticate, note_use


def current_token() -> ApiToken | None:
    return g.get("api_token")


def seconds_left(window: int, now: datetime | None = None) -> int:
    """Seconds until the limiter's current fixed window ends (its windows start at
    multiples of ``window`` seconds, as in ``ratelimit.allow``)."""
    now = now or utcnow()
    return max(1, window - int(now.timestamp()) % window)


def limit_or_429(key: str, setting: str) -> None:
    """Count one request against ``setting`` for ``key``; a JSON 429 with Retry-After when over."""
    if not current_app.config.get("CARELOOP_RATELIMIT_ENABLED", True):
        return
    count, window = parse_limit(current_app.config[setting])
    if not allow(key, count, window):
        raise ApiError(429, _("Too many requests: the limit is %(count)d per %(seconds)d seconds. "
                              "Wait and try again.", count=count, seconds=window),
                       headers={"Retry-After": str(seconds_left(window))})


def max_body_bytes() -> int:
    """A report's longest text and impact, even fully \\u-escaped, plus room for the rest."""
    return 2 * 6 * current_app.config["CARELOOP_MAX_REPORT_CHARS"] + 64 * 1024


@bp.before_request
def authenticate_and_limit():
    g.api_token = None
    header = request.headers.get("Authorization")
    token = None
    if header is not None:
        scheme, _sep, secret = header.strip().partition(" ")
        token = authenticate(secret.strip()) if scheme.lower() == "bearer" else None
    g.api_token = token
    who = f"token:{token.id}" if token else f"ip:{request.remote_addr}"
    wrote = note_use(token) if token is not None else False  # at most once a minute
    try:
        limit_or_429(f"api:{who}", "CARELOOP_API_RATE_LIMIT" if token else "CARELOOP_API_ANONYMOUS_RATE_LIMIT")
    finally:
        # The limiter commits (the last-use write with it); either way no transaction, and
        # so no lock, stays open from here while the view runs.
        if wrote:
            db.session.commit()
        else:
            db.session.rollback()
    if header is not None and token is None:
        raise ApiError(401, _("The API token is missing, unknown or revoked."), code="invalid_token",
                       headers={"WWW-Authenticate": 'Bearer realm="careloop", error="invalid_token"'})
    limit = max_body_bytes()
    request.max_content_length = limit
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, _("The request body is larger than %(limit)d bytes.", limit=limit))


@bp.after_request
def api_headers(response):
    # Answers depend on the token; nothing here may be cached by shared caches.
    response.headers.setdefault("Cache-Control", "no-store" if g.get("api_token") else "no-cache")
    response.vary.add("Authorization")
    return response
