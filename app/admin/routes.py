from flask import abort, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.admin.blueprint import bp
from app.admin.forms import CreateUserForm, RunImportForm, UpdateUserForm
from app.extensions import db
from app.imports.importer import get_source, source_overview, start_import_in_background, test_source_connection
from app.imports.importer import preview_source as preview
from app.messaging.mail import retry_failed
from app.models import Message, MessageStatus, User
from app.services.errors import ServiceError
from app.services.invitations import invite_user
from app.services.users import create_user, update_user
from app.web import admin_required, run_service


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
    invite = not form.password.data
    if form.validate_on_submit() and run_service(
        form,
        lambda: invite_user(name=form.name.data, email=form.email.data, role=form.role.data, actor=current_user)
        if invite else create_user(
            name=form.name.data, email=form.email.data, role=form.role.data,
            password=form.password.data, actor=current_user,
        ),
    ):
        if invite:
            flash(_("Invitation sent to %(email)s: a one-time link to set a password.", email=form.email.data), "success")
        else:
            flash(_("Account created for %(name)s.", name=form.name.data), "success")
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
        flash(_("Saved %(name)s.", name=user.name), "success")
        return redirect(url_for("admin.users"))
    return _render_users(failed=(user.id, form), status=422)


def _render_sources(results=None, status=200):

    return render_template("admin/sources.html", sources=source_overview(), run=RunImportForm(),
                           results=results or {}), status


def _known_source_or_404(name):

    try:
        return get_source(name)
    except ServiceError:
        abort(404)


@bp.route("/sources")
@admin_required
def sources():
    return _render_sources()


@bp.post("/sources/<name>/run")
@admin_required
def run_source(name):

    _known_source_or_404(name)
    form = RunImportForm()
    if form.validate_on_submit():
        start_import_in_background(current_app._get_current_object(), name)
        flash(_("Import of %(source)s started. Reload this page to see it finish.", source=name), "success")
    return redirect(url_for("admin.sources"))


@bp.post("/sources/<name>/test")
@admin_required
def test_source(name):
    """Test connection: one authenticated call, answered on the page."""

    _known_source_or_404(name)
    form = RunImportForm()
    if not form.validate_on_submit():
        return redirect(url_for("admin.sources"))
    worked, said = test_source_connection(name)
    return _render_sources({name: {"test": (worked, said)}}, 200 if worked else 502)


@bp.post("/sources/<name>/preview")
@admin_required
def preview_source(name):
    """Dry run: how many tickets the settings would bring in, with a sample; stores nothing."""

    _known_source_or_404(name)
    form = RunImportForm()
    if not form.validate_on_submit():
        return redirect(url_for("admin.sources"))
    result = preview(name, max_pages=current_app.config["CARELOOP_PREVIEW_PAGES"])
    return _render_sources({name: {"preview": result}}, 502 if result.error else 200)


@bp.route("/outbox")
@admin_required
def outbox():
    """What people receive: every message, newest first (also how `make run` shows mail)."""

    status = request.args.get("status") or None
    query = db.select(Message).order_by(Message.id.desc()).limit(200)
    if status in set(MessageStatus):
        query = query.where(Message.status == status)
    return render_template("admin/outbox.html", messages=db.session.scalars(query).all(),
                           status=status, statuses=list(MessageStatus),
                           mail_server=current_app.config["MAIL_SERVER"])


@bp.route("/outbox/<int:message_id>")
@admin_required
def outbox_message(message_id):

    return render_template("admin/outbox_message.html", message=db.get_or_404(Message, message_id))


@bp.post("/outbox/retry")
@admin_required
def outbox_retry():
    """Send failed email again: one message (``message_id``) or every failed one."""

    one = request.form.get("message_id", type=int)
    count = retry_failed([one] if one else None)
    db.session.commit()
    flash(_("%(num)s message(s) back in the outbox; they go out with the next send.", num=count), "success")
    return redirect(url_for("admin.outbox_message", message_id=one) if one else url_for("admin.outbox"))


@bp.route("/outbox/<int:message_id>/html")
@admin_required
def outbox_message_html(message_id):
    """The HTML part on its own, for a sandboxed frame: email HTML carries inline styles."""

    message = db.get_or_404(Message, message_id)
    if not message.body_html:
        abort(404)
    response = make_response(message.body_html)
    # img-src 'self': the organisation's logo (/branding/logo), which emails show.
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'self'; sandbox"
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response
