from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from wtforms.fields.choices import SelectChoice

from app.extensions import db
from app.i18n import current_language, native_name, supported_languages
from app.models import Channel, Report, ReporterKind
from app.queries import latest_notices
from app.services.reports import file_report as file_report_service
from app.services.reports import new_reporter, reporter_for_user
from app.staff.blueprint import bp
from app.staff.forms import StaffReportForm
from app.staff.queries import search_reports_filed_by
from app.web import chosen_problem, run_service


def _language_choices(form: StaffReportForm) -> None:
    form.language.choices = [SelectChoice(code, native_name(code)) for code in supported_languages()]
    if not form.language.data:
        form.language.data = current_language()


@bp.route("/report", methods=["GET", "POST"])
@login_required
def file_report():
    form = StaffReportForm()
    _language_choices(form)
    offered = []
    if form.validate_on_submit():
        chosen, offered = chosen_problem(form, staff=True)
        for_customer = form.on_behalf.data != "self"

        def file():
            if not for_customer:
                reporter = reporter_for_user(current_user)
            else:
                reporter = new_reporter(
                    name=form.customer_name.data,
                    email=form.customer_email.data,
                    contact_ok=form.customer_contact_ok.data,
                    kind=ReporterKind.CUSTOMER,
                    language=form.language.data,
                )
            file_report_service(
                text=form.text.data,
                location=form.location.data,
                occurred_on=form.occurred_on.data,
                impact=form.impact.data,
                reporter=reporter,
                channel=Channel.STAFF,
                filed_by=current_user,
                problem=chosen,
                grouping="chosen" if chosen else None,
                language=form.language.data if for_customer else None,
                staff_note=form.staff_note.data if for_customer else None,
            )

        if not offered and not form.problem_choice.errors and run_service(form, file, fields={"email": "customer_email", "name": "customer_name"}):
            flash(_("Report filed. You can follow it under “My reports”."), "success")
            return redirect(url_for("staff.my_reports"))
    status = 422 if form.errors or form.problem_choice.errors else 200
    return render_template("staff/file_report.html", form=form, offered=offered), status


@bp.route("/reports")
@login_required
def my_reports():
    words = (request.args.get("q") or "").strip()[:200]
    page = search_reports_filed_by(current_user, words, request.args.get("page", 1, type=int))
    if page is None:
        abort(404)
    notices = latest_notices([(r.reporter_id, r.problem_id) for r in page.items])
    return render_template("staff/my_reports.html", page=page, reports=page.items, notices=notices, words=words)


def _filed_report_or_404(report_id: int) -> Report:
    """A report the signed-in person filed (leaders may open any); others get 404."""
    report = db.get_or_404(Report, report_id)
    if report.filed_by_id != current_user.id and not current_user.is_leader:
        abort(404)
    return report


def _private_url(report: Report) -> str:
    return current_app.config["CARELOOP_BASE_URL"] + url_for("public.my_report", token=report.reporter.token)


@bp.route("/reports/<int:report_id>")
@login_required
def report(report_id):
    report = _filed_report_or_404(report_id)
    notices = latest_notices([(report.reporter_id, report.problem_id)])
    return render_template("staff/report.html", report=report, notice=notices.get((report.reporter_id, report.problem_id)),
                           private_url=_private_url(report), language_name=native_name(report.reporter.locale))


@bp.route("/reports/<int:report_id>/sheet")
@login_required
def status_sheet(report_id):
    """One printable page for a customer without email: where their report stands and their
    private link. In the customer's language."""
    from app.i18n import language

    report = _filed_report_or_404(report_id)
    with language(report.reporter.locale):
        return render_template("staff/sheet.html", report=report, private_url=_private_url(report),
                               sheet_language=current_language())
