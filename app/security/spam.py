"""Spam defences on the public form that cost a real person nothing.

* A honeypot field, hidden from sight (its label tells screen-reader users to leave it
  empty): a form that arrives with it filled in came from a bot. The bot is thanked as
  usual, nothing is stored, and one log line (never the text) counts it.
* A signed timestamp from when the form was shown: a form sent sooner than
  ``CARELOOP_SPAM_MIN_SECONDS`` (or without a valid timestamp) is shown again with the
  person's words kept and a request to send it again; never silently dropped.
"""

from __future__ import annotations

import logging
import time

from flask import current_app
from itsdangerous import BadSignature, TimestampSigner

log = logging.getLogger("careloop.spam")

HONEYPOT = "extra_notes"
_SALT = "careloop.public-form-shown"
_PAYLOAD = "public-report"


def _signer() -> TimestampSigner:
    return TimestampSigner(current_app.config["SECRET_KEY"], salt=_SALT)


def form_shown_token() -> str:
    """A signed "the form was shown now", for the form's hidden ``shown`` field."""
    return _signer().sign(_PAYLOAD).decode()


def seconds_since_shown(token: str | None) -> float | None:
    """How long ago the form with this token was shown; None when the token is missing or forged."""
    if not token:
        return None
    try:
        value, signed_at = _signer().unsign(token, return_timestamp=True)
    except BadSignature:
        return None
    if value != _PAYLOAD.encode():
        return None
    return time.time() - signed_at.timestamp()


def is_bot(honeypot_value: str | None) -> bool:
    return bool((honeypot_value or "").strip())


def too_quick(token: str | None) -> bool:
    """True when the form came back sooner than a person could have written it (or the
    timestamp is missing or forged)."""
    minimum = int(current_app.config.get("CARELOOP_SPAM_MIN_SECONDS") or 0)
    if minimum <= 0:
        return False
    elapsed = seconds_since_shown(token)
    return elapsed is None or elapsed < minimum


def record_discarded(reason: str, ip: str) -> None:
    """One log line per discarded submission (the reason and address, never the text)."""
    log.warning("public report discarded as spam: reason=%s ip=%s", reason, ip)
