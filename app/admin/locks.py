"""Admins see which accounts are locked after failed sign-ins, and unlock them; and sign an
account out on every device."""

from __future__ import annotations

from flask import abort, flash, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm

from app.admin.blueprint import bp
from app.extensions import db
from app.models import User
from app.security import logins
from app.services.sessions import sign_out_everywhere
from app.web import admin_required


@bp.app_template_global()
def login_locks() -> dict:
    """Email → locked until, for the users page."""
    return logins.lock_states()


@bp.post("/users/<int:user_id>/unlock")
@admin_required
def unlock_user(user_id):
    user = db.get_or_404(User, user_id)
    if not FlaskForm().validate_on_submit():  # a button: only its CSRF token
        abort(400)
    logins.unlock(user, current_user)
    db.session.commit()
    flash(_("%(name)s can sign in again.", name=user.name), "success")
    return redirect(url_for("admin.users"))


@bp.post("/users/<int:user_id>/sign-out")
@admin_required
def sign_out_user(user_id):
    """End every session and remember cookie of an account, on every device."""

    user = db.get_or_404(User, user_id)
    if not FlaskForm().validate_on_submit():  # a button: only its CSRF token
        abort(400)
    sign_out_everywhere(user, current_user)
    db.session.commit()
    if user.id == current_user.id:
        return redirect(url_for("auth.login"))
    flash(_("%(name)s is signed out on every device.", name=user.name), "success")
    return redirect(url_for("admin.users"))
