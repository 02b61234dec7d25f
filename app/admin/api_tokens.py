"""Admin pages for API tokens: list, create (the token is shown once), revoke."""

from __future__ import annotations

from flask import flash, make_response, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import RadioField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length

from app.admin.blueprint import bp
from app.models import ApiScope
from app.services import api_tokens
from app.web import admin_required, run_service


class ApiTokenForm(FlaskForm):
    name = StringField(_l("Name (which integration uses it)"),
                       validators=[InputRequired(_l("Give the token a name.")), Length(max=api_tokens.NAME_LIMIT)])
    scope = RadioField(
        _l("What may it do?"),
        choices=[SelectChoice(ApiScope.READ.value, _l("Read problems, their history and reports")),
                 SelectChoice(ApiScope.READ_WRITE.value, _l("Read, and file reports on behalf of people"))],
        default=ApiScope.READ.value,
        validators=[InputRequired(_l("Choose what the token may do."))],
    )


class RevokeTokenForm(FlaskForm):
    """The "Revoke" button: only its CSRF token."""


def _page(form=None, new_token=None, status=200):
    response = make_response(render_template(
        "admin/api_tokens.html", tokens=api_tokens.list_tokens(), form=form or ApiTokenForm(formdata=None),
        revoke=RevokeTokenForm(formdata=None), new_token=new_token,
    ), status)
    response.headers["Cache-Control"] = "no-store"  # the new token must not stay in any cache
    return response


@bp.route("/api-tokens")
@admin_required
def api_tokens_page():
    return _page()


@bp.post("/api-tokens")
@admin_required
def api_token_create():
    form = ApiTokenForm()
    created = []
    if form.validate_on_submit() and run_service(form, lambda: created.append(api_tokens.create_token(
        name=form.name.data, scope=form.scope.data, actor=current_user,
    ))):
        # Shown in this answer only: never flashed, stored in the session or redirected to.
        return _page(new_token=created[0], status=201)
    return _page(form=form, status=422)


@bp.post("/api-tokens/<int:token_id>/revoke")
@admin_required
def api_token_revoke(token_id):
    form = RevokeTokenForm()
    revoked = []
    if form.validate_on_submit() and run_service(
        form, lambda: revoked.append(api_tokens.revoke_token(token_id, actor=current_user))
    ):
        flash(_("Token “%(name)s” revoked: it no longer works.", name=revoked[0].name), "success")
    return redirect(url_for("admin.api_tokens_page"))
