"""API tokens for integrations: created by admins, shown once, stored as a SHA-256 hash.

A token is ``cl_`` followed by 43 URL-safe characters (256 random bits). The database
keeps only its SHA-256 (a fast hash is right for a random secret of that size: there is
nothing to guess) and a short visible prefix so people can tell tokens apart. Tokens are
scoped (``read`` or ``read_write``), revocable, and remember when they were last used
(written at most once a minute per token, so reading the API does not write every time).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask_babel import gettext as _
from sqlalchemy.orm.attributes import set_committed_value

from app.events import record_event
from app.extensions import db
from app.models import API_TOKEN_CREATED, API_TOKEN_REVOKED, ApiScope, ApiToken, User, utcnow
from app.services.errors import NotFound, PermissionDenied, ServiceError

TOKEN_PREFIX = "cl_"
PREFIX_LENGTH = len(TOKEN_PREFIX) + 8  # what lists show: "cl_" and 8 characters
LAST_USED_EVERY = timedelta(minutes=1)
NAME_LIMIT = 120


@dataclass(frozen=True)
class NewToken:
    """A token just created: ``secret`` exists only here, never in the database."""

    token: ApiToken
    secret: str


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_token(*, name: str, scope: ApiScope | str, actor: User | None) -> NewToken:
    """Make a token for an integration. ``actor`` is the admin (None from the CLI)."""
    if actor is not None and not actor.is_admin:
        raise PermissionDenied(_("Only admins can create API tokens."))
    name = (name or "").strip()
    if not name:
        raise ServiceError(_("Give the token a name, for example the integration that uses it."), field="name")
    if len(name) > NAME_LIMIT:
        raise ServiceError(_("The name is too long (at most %(limit)d characters).", limit=NAME_LIMIT), field="name")
    try:
        scope = ApiScope(scope)
    except ValueError:
        raise ServiceError(_("Choose a scope: read, or read and write."), field="scope") from None
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(name=name, prefix=secret[:PREFIX_LENGTH], token_hash=hash_token(secret),
                     scope=scope, created_by=actor)
    db.session.add(token)
    db.session.flush()
    record_event(API_TOKEN_CREATED, actor, token_id=token.id, name=name, scope=str(scope), prefix=token.prefix)
    return NewToken(token=token, secret=secret)


def revoke_token(token_id: int, *, actor: User | None) -> ApiToken:
    """Stop a token working at once (kept in the list, marked revoked)."""
    if actor is not None and not actor.is_admin:
        raise PermissionDenied(_("Only admins can revoke API tokens."))
    token = db.session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(_("There is no API token %(id)s.", id=token_id))
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        record_event(API_TOKEN_REVOKED, actor, token_id=token.id, name=token.name, prefix=token.prefix)
        db.session.flush()
    return token


def list_tokens() -> list[ApiToken]:
    """Active tokens first, newest first."""
    return db.session.scalars(
        db.select(ApiToken).order_by(ApiToken.revoked_at.is_not(None), ApiToken.id.desc())
    ).all()


def authenticate(secret: str | None) -> ApiToken | None:
    """The active token for this secret, or None. The lookup is by hash (the secret itself
    is never compared or stored), and the hashes are compared in constant time."""
    if not secret or not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    digest = hash_token(secret)
    token = db.session.scalar(db.select(ApiToken).where(ApiToken.token_hash == digest))
    if token is None or not hmac.compare_digest(token.token_hash, digest) or token.revoked_at is not None:
        return None
    return token


def note_use(token: ApiToken) -> bool:
    """Record that the token was used, at most once a minute (one conditional UPDATE).
    Returns True when a write happened. Flushes; the caller commits."""
    now = utcnow()
    if token.last_used_at is not None and token.last_used_at >= now - LAST_USED_EVERY:
        return False  # no statement at all: on SQLite even a no-op UPDATE takes the write lock
    updated = db.session.execute(
        db.update(ApiToken)
        .where(ApiToken.id == token.id,
               (ApiToken.last_used_at.is_(None)) | (ApiToken.last_used_at < now - LAST_USED_EVERY))
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if updated:  # mirror the row without marking the object changed (no second UPDATE)
        set_committed_value(token, "last_used_at", now)
    return bool(updated)
