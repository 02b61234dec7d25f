"""Inviting a person: an account, and an email with a one-time link to set a password (or to
sign in by single sign-on where that is on). Only the link's SHA-256 is stored; it expires."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import current_app, render_template
from flask_babel import gettext as _

from app.auth.oidc import password_login_enabled, sso_enabled
from app.events import record_event
from app.extensions import db
from app.i18n import language
from app.messaging.compose import Rendered, add_message, render_subject
from app.models import USER_INVITED, USER_UPDATED, Invitation, MessageKind, Role, User, utcnow
from app.services.branding import org_name as branded_org_name
from app.services.errors import PermissionDenied, ServiceError
from app.services.users import MIN_PASSWORD, create_user
from app.urls import external_url


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invite_user(*, name: str, email: str, role: Role | str, actor: User) -> User:
    """Create the account with no usable password and email the person a link to set one."""
    if not actor.is_admin:
        raise PermissionDenied(_("Only admins can invite people."))
    user = create_user(name=name, email=email, role=role, password=secrets.token_urlsafe(32), actor=actor)
    send_invitation(user, actor)
    return user


def send_invitation(user: User, actor: User) -> Invitation:
    """A new one-time link for ``user`` (earlier unused ones stop working), in the outbox."""

    if not actor.is_admin:
        raise PermissionDenied(_("Only admins can invite people."))
    if not user.active:
        raise ServiceError(_("%(name)s is deactivated; reactivate the account first.", name=user.name))
    now = utcnow()
    for old in db.session.scalars(db.select(Invitation).filter_by(user_id=user.id, used_at=None)):
        old.expires_at = min(old.expires_at, now)
    token = secrets.token_urlsafe(32)
    hours = current_app.config["CARELOOP_INVITATION_HOURS"]
    invitation = Invitation(user=user, token_hash=_hash(token), expires_at=now + timedelta(hours=hours),
                            created_by_id=actor.id)
    db.session.add(invitation)
    event = record_event(USER_INVITED, actor, subject_user=user, expires_at=invitation.expires_at)
    with language(None):  # staff mail is in the organisation's language
        context = dict(user=user, org_name=branded_org_name(), hours=hours, sso=sso_enabled(),
                       passwords=password_login_enabled(),
                       link=external_url("admin.invite.accept", token=token),
                       login_url=external_url("auth.login"))
        rendered = Rendered(subject=render_subject(MessageKind.INVITATION, **context),
                            text=render_template("mail/invitation.txt", **context),
                            html=render_template("mail/invitation.html", **context))
    add_message(MessageKind.INVITATION, None, event, rendered, to=user.email, user=user)
    db.session.flush()
    return invitation


def invitation_for(token: str) -> Invitation:
    """The invitation a link belongs to, if it still works; else a ServiceError saying why."""
    invitation = db.session.scalar(db.select(Invitation).filter_by(token_hash=_hash(token or "")))
    if invitation is None or invitation.used_at is not None:
        raise ServiceError(_("This invitation link has already been used or is not valid. Ask an admin for a new one."))
    if invitation.expires_at <= utcnow():
        raise ServiceError(_("This invitation link has expired. Ask an admin to send a new one."))
    if not invitation.user.active:
        raise ServiceError(_("This account is deactivated."))
    return invitation


def accept_invitation(token: str, password: str, confirm: str) -> User:
    """Set the person's password from their link; the link then stops working."""
    invitation = invitation_for(token)
    if len(password or "") < MIN_PASSWORD:
        raise ServiceError(_("The password needs at least %(count)s characters.", count=MIN_PASSWORD), field="password")
    if password != confirm:
        raise ServiceError(_("The two passwords are not the same."), field="confirm")
    user = invitation.user
    user.set_password(password)
    invitation.used_at = utcnow()
    record_event(USER_UPDATED, user, subject_user=user, password_set="invitation")
    db.session.flush()
    return user
