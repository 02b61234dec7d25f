"""Admins see which accounts are locked after failed sign-ins, and unlock them."""

from __future__ import annotations

from flask import abort, flash, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm

from app.admin.blueprint import bp
from app.extensions import db
from app.models import User
from app.security import logins
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
