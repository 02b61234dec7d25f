"""Admin pages for outgoing webhooks: register endpoints, read their deliveries."""

from flask import abort, flash, make_response, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.admin.blueprint import bp
from app.admin.webhook_forms import WebhookActionForm, WebhookForm
from app.extensions import db
from app.models.webhooks import WebhookDelivery, WebhookEndpoint
from app.web import admin_required, run_service
from app.webhooks import outgoing as hooks


def _endpoint(endpoint_id: int) -> WebhookEndpoint:
    return db.get_or_404(WebhookEndpoint, endpoint_id)


def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


def _render_endpoint(endpoint, form=None, new_secret=None, status=200):
    form = form or WebhookForm(formdata=None, obj=endpoint)
    response = make_response(render_template(
        "admin/webhook.html", endpoint=endpoint, form=form, action=WebhookActionForm(),
        deliveries=hooks.recent_deliveries(endpoint), new_secret=new_secret, events=hooks.EVENTS,
    ), status)
    return _no_store(response) if new_secret else response


@bp.route("/webhooks")
@admin_required
def webhooks(form=None, status=200):
    return render_template("admin/webhooks.html", rows=hooks.endpoint_overview(),
                           form=form or WebhookForm(formdata=None), events=hooks.EVENTS), status


@bp.post("/webhooks")
@admin_required
def webhook_create():
    form = WebhookForm()
    created = []
    if form.validate_on_submit() and run_service(form, lambda: created.append(hooks.create_endpoint(
        name=form.name.data, url=form.url.data, events=form.events.data or [], fmt=form.format.data,
        allow_private=form.allow_private.data, actor=current_user,
    ))):
        endpoint = db.session.get(WebhookEndpoint, created[0].id)
        flash(_("Webhook endpoint “%(name)s” created.", name=endpoint.name), "success")
        return _render_endpoint(endpoint, new_secret=endpoint.secret, status=201)
    return webhooks(form=form, status=422)


@bp.route("/webhooks/<int:endpoint_id>")
@admin_required
def webhook(endpoint_id):
    return _render_endpoint(_endpoint(endpoint_id))


@bp.post("/webhooks/<int:endpoint_id>")
@admin_required
def webhook_update(endpoint_id):
    endpoint = _endpoint(endpoint_id)
    form = WebhookForm()
    if form.validate_on_submit() and run_service(form, lambda: hooks.update_endpoint(
        endpoint, name=form.name.data, url=form.url.data, events=form.events.data or [], fmt=form.format.data,
        allow_private=form.allow_private.data, actor=current_user,
    )):
        flash(_("Saved."), "success")
        return redirect(url_for("admin.webhook", endpoint_id=endpoint_id))
    return _render_endpoint(endpoint, form=form, status=422)


def _action(endpoint_id, action, message):
    endpoint = _endpoint(endpoint_id)
    form = WebhookActionForm()
    if not form.validate_on_submit():
        abort(400)
    if run_service(form, lambda: action(endpoint)):
        flash(message, "success")
    else:
        flash(" ".join(form.form_errors), "error")
    return endpoint


@bp.post("/webhooks/<int:endpoint_id>/pause")
@admin_required
def webhook_pause(endpoint_id):
    _action(endpoint_id, lambda e: hooks.set_active(e, False, current_user),
            _("Paused: no new events are collected, and deliveries already waiting are held until you resume."))
    return redirect(url_for("admin.webhook", endpoint_id=endpoint_id))


@bp.post("/webhooks/<int:endpoint_id>/resume")
@admin_required
def webhook_resume(endpoint_id):
    _action(endpoint_id, lambda e: hooks.set_active(e, True, current_user),
            _("Resumed: waiting deliveries will be sent, and new events collected."))
    return redirect(url_for("admin.webhook", endpoint_id=endpoint_id))


@bp.post("/webhooks/<int:endpoint_id>/rotate")
@admin_required
def webhook_rotate(endpoint_id):
    endpoint = _endpoint(endpoint_id)
    form = WebhookActionForm()
    if not form.validate_on_submit():
        abort(400)
    if run_service(form, lambda: hooks.rotate_secret(endpoint, current_user)):
        endpoint = db.session.get(WebhookEndpoint, endpoint_id)
        flash(_("New secret made. Copy it now: it is shown only once."), "success")
        return _render_endpoint(endpoint, new_secret=endpoint.secret)
    return redirect(url_for("admin.webhook", endpoint_id=endpoint_id))


@bp.post("/webhooks/<int:endpoint_id>/delete")
@admin_required
def webhook_delete(endpoint_id):
    endpoint = _endpoint(endpoint_id)
    name = endpoint.name
    _action(endpoint_id, lambda e: hooks.delete_endpoint(e, current_user),
            _("Deleted the webhook endpoint “%(name)s”.", name=name))
    return redirect(url_for("admin.webhooks"))


def _send_now(delivery_id: int) -> None:
    """Try the one delivery at once (the same claim as the sender, so never twice)."""
    result = hooks.deliver_due(limit=1, ids=[delivery_id])
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if result.delivered:
        flash(_("Delivered: the receiver answered %(status)s.", status=delivery.response_status), "success")
    elif delivery is not None and delivery.attempts:
        flash(_("Not delivered yet: %(error)s. It will be retried.", error=delivery.last_error), "error")
    else:
        flash(_("Queued: `careloop send-webhooks` sends it when the endpoint is active."), "info")


@bp.post("/webhooks/<int:endpoint_id>/test")
@admin_required
def webhook_test(endpoint_id):
    endpoint = _endpoint(endpoint_id)
    form = WebhookActionForm()
    if not form.validate_on_submit():
        abort(400)
    queued = []
    if run_service(form, lambda: queued.append(hooks.send_test_event(endpoint, current_user).id)):
        _send_now(queued[0])
    return redirect(url_for("admin.webhook", endpoint_id=endpoint_id))


@bp.post("/webhooks/deliveries/<int:delivery_id>/redeliver")
@admin_required
def webhook_redeliver(delivery_id):
    delivery = db.get_or_404(WebhookDelivery, delivery_id)
    endpoint_id = delivery.endpoint_id
    form = WebhookActionForm()
    if not form.validate_on_submit():
        abort(400)
    queued = []
    if run_service(form, lambda: queued.append(hooks.redeliver(delivery, current_user).id)):
        _send_now(queued[0])
    else:
        flash(" ".join(form.form_errors), "error")
    return redirect(url_for("admin.webhook", endpoint_id=endpoint_id))
