"""Ending someone's sessions: every session and remember cookie carries the account's
``session_version`` (``User.get_id``); raising it makes every earlier copy worthless.

Sign-out, a password change, deactivation and a role change raise it too (see
``User.set_password`` and ``update_user``); this module is the explicit "sign out
everywhere", for oneself or by an admin for any account.
"""

from __future__ import annotations

from flask_babel import gettext as _

from app.events import record_event
from app.extensions import db
from app.models import User
from app.services.errors import NotFound, PermissionDenied, ServiceError
from app.services.users import MIN_PASSWORD

SIGNED_OUT_EVERYWHERE = "signed_out_everywhere"


def sign_out_everywhere(user: User, actor: User) -> None:
    """End every session of ``user`` on every device. Oneself, or an admin for anyone. Flushes."""
    if actor.id != user.id and not actor.is_admin:
        raise PermissionDenied(_("Only admins can sign other people out."))
    user.end_sessions()
    if actor.id != user.id:  # one's own sign-out is routine; an admin's is worth the audit trail
        record_event(SIGNED_OUT_EVERYWHERE, actor, subject_user=user)
    db.session.flush()


def set_password(email: str, password: str) -> User:
    """The command line's password reset: a new password, and every session of the account
    ends (``User.set_password``). Flushes."""

    user = db.session.scalar(db.select(User).filter_by(email=User.normalise_email(email or "")))
    if user is None:
        raise NotFound(_("There is no account with that email."), field="email")
    if len(password or "") < MIN_PASSWORD:
        raise ServiceError(_("The password needs at least %(count)s characters.", count=MIN_PASSWORD),
                           field="password")
    user.set_password(password)
    db.session.flush()
    return user
