from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user

from ..extensions import db
from ..models import User
from ..services import ServiceError, create_user, update_user
from ..web import admin_required, run_service
from . import bp
from .forms import CreateUserForm, RunImportForm, UpdateUserForm


def _render_users(create_form=None, failed=None, status=200):
    users = db.session.scalars(db.select(User).order_by(User.active.desc(), User.name)).all()
    update_forms = {
        u.id: failed[1] if failed and failed[0] == u.id else UpdateUserForm(formdata=None, obj=u)
        for u in users
    }
    return render_template(
        "admin/users.html",
        users=users,
        create=create_form or CreateUserForm(formdata=None),
        update_forms=update_forms,
    ), status


@bp.route("/users")
@admin_required
def users():
    return _render_users()


@bp.post("/users")
@admin_required
def create():
    form = CreateUserForm()
    if form.validate_on_submit() and run_service(
        form,
        lambda: create_user(
            name=form.name.data, email=form.email.data, role=form.role.data,
            password=form.password.data, actor=current_user,
        ),
    ):
        flash(f"Account created for {form.name.data}.", "success")
        return redirect(url_for("admin.users"))
    return _render_users(create_form=form, status=422)


@bp.post("/users/<int:user_id>")
@admin_required
def update(user_id):
    user = db.get_or_404(User, user_id)
    form = UpdateUserForm()
    if form.validate_on_submit() and run_service(
        form, lambda: update_user(user, current_user, role=form.role.data, active=form.active.data)
    ):
        flash(f"Saved {user.name}.", "success")
        return redirect(url_for("admin.users"))
    return _render_users(failed=(user.id, form), status=422)


@bp.route("/sources")
@admin_required
def sources():
    from ..services.imports import source_overview

    return render_template("admin/sources.html", sources=source_overview(), run=RunImportForm())


@bp.post("/sources/<name>/run")
@admin_required
def run_source(name):
    from ..services.imports import get_source, start_import_in_background

    form = RunImportForm()
    if form.validate_on_submit():
        try:
            get_source(name)
        except ServiceError:
            abort(404)
        start_import_in_background(current_app._get_current_object(), name)
        flash(f"Import of {name} started. Reload this page to see it finish.", "success")
    return redirect(url_for("admin.sources"))
