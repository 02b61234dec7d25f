"""Leaders' queue of public reports held for moderation (CARELOOP_MODERATE_PUBLIC)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.extensions import db
from app.leaders.blueprint import bp
from app.leaders.forms import ActionForm
from app.models import Report
from app.services.moderation import HELD, approve_held_report, held_reports, moderation_on, reject_held_report
from app.web import leader_required, run_service


def _render(form=None, status=200):
    return render_template("leaders/held.html", reports=held_reports(), moderation_on=moderation_on(),
                           action=form or ActionForm(formdata=None)), status


@bp.route("/held")
@leader_required
def held():
    return _render()


def _decide(report_id: int, action, message: str):
    report = db.session.get(Report, report_id)
    if report is None or report.moderation is None:
        abort(404)
    form = ActionForm()
    if form.validate_on_submit() and run_service(form, lambda: action(report, current_user)):
        flash(message, "success")
        return redirect(url_for("leaders.held"))
    return _render(form, 422 if report.moderation == HELD else 409)


@bp.post("/held/<int:report_id>/approve")
@leader_required
def approve_held(report_id):
    return _decide(report_id, approve_held_report,
                   _("Report approved: it is now in a problem, like any new report."))


@bp.post("/held/<int:report_id>/reject")
@leader_required
def reject_held(report_id):
    return _decide(report_id, reject_held_report,
                   _("Report rejected as spam: its words and the person's details are removed."))


@bp.app_template_global()
def held_report_count() -> int:
    """How many public reports wait for a leader (the triage page links to them)."""
    from app.services.moderation import held_count

    return held_count()
