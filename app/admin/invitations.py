"""Invitations: the admin invites a person (or sends a new link); the person follows the
one-time link from the email and sets a password. The link page needs no account."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import PasswordField
from wtforms.validators import Optional

from app.admin.blueprint import bp
from app.admin.forms import RunImportForm
from app.extensions import db
from app.models import User
from app.services.errors import ServiceError
from app.services.invitations import accept_invitation, invitation_for, send_invitation
from app.web import admin_required, run_service

invite_bp = Blueprint("invite", __name__, url_prefix="/invitations")


class SetPasswordForm(FlaskForm):
    password = PasswordField(_l("Choose a password (at least 10 characters)"), validators=[Optional()])
    confirm = PasswordField(_l("The same password again"), validators=[Optional()])


@bp.post("/users/<int:user_id>/invite")
@admin_required
def resend_invitation(user_id):
    user = db.get_or_404(User, user_id)
    form = RunImportForm()  # only its CSRF token
    if form.validate_on_submit() and run_service(form, lambda: send_invitation(user, current_user)):
        flash(_("Invitation sent to %(email)s. Earlier links no longer work.", email=user.email), "success")
    else:
        flash(" ".join(form.form_errors) or _("The form expired; please try again."), "info")
    return redirect(url_for("admin.users"))


@invite_bp.route("/<token>", methods=["GET", "POST"])
def accept(token):
    try:
        invitation = invitation_for(token)
    except ServiceError as error:
        response = render_template("admin/invitation.html", refused=error.message, form=None)
        return response, 410
    form = SetPasswordForm()
    if form.validate_on_submit() and run_service(
        form, lambda: accept_invitation(token, form.password.data, form.confirm.data)
    ):
        flash(_("Your password is set. Sign in with %(email)s and your new password.", email=invitation.user.email),
              "success")
        return redirect(url_for("auth.login"))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("admin/invitation.html", invitation=invitation, form=form, refused=None), status


bp.register_blueprint(invite_bp)
