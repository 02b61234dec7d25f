from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from wtforms.fields.choices import SelectChoice

from app.extensions import db
from app.i18n import current_language, language, native_name, supported_languages
from app.models import Channel, Report
from app.queries import latest_notices
from app.services.filing import ChooseFirst, Filed, Person, submit_report
from app.services.people import in_person_tasks
from app.services.people import told_in_person as told_in_person_service
from app.staff.blueprint import bp
from app.staff.forms import StaffReportForm, ToldInPersonForm
from app.staff.queries import search_reports_filed_by
from app.urls import external_url
from app.web import run_service


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
        for_customer = form.on_behalf.data != "self"
        person = Person(form.customer_name.data, form.customer_email.data,
                        form.customer_contact_ok.data) if for_customer else None
        extra = {"language": form.language.data, "staff_note": form.staff_note.data} if for_customer else {}
        result = run_service(form, lambda: submit_report(form.submission(person, **extra), channel=Channel.STAFF,
                                                         filed_by=current_user),
                             fields={"email": "customer_email", "name": "customer_name"})
        if isinstance(result, Filed):
            flash(_("Report filed. You can follow it under “My reports”."), "success")
            return redirect(url_for("staff.my_reports"))
        if isinstance(result, ChooseFirst):
            offered = result.suggestions
            if result.refused_choice:
                form.problem_choice.errors = [_("That problem cannot be chosen; pick another or file as new.")]
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
    return render_template("staff/my_reports.html", page=page, reports=page.items, notices=notices, words=words,
                           tasks=in_person_tasks(current_user), form=ToldInPersonForm(formdata=None))


@bp.post("/reports/told/<int:reporter_id>/<int:problem_id>")
@login_required
def told_in_person(reporter_id, problem_id):
    """Tick off a "tell them in person" task."""
    form = ToldInPersonForm()
    if form.validate_on_submit() and run_service(form, lambda: told_in_person_service(current_user, reporter_id,
                                                                                      problem_id)):
        flash(_("Recorded: you told them in person."), "success")
    else:
        for error in form.form_errors:
            flash(error, "error")
    return redirect(url_for("staff.my_reports"))


def _filed_report_or_404(report_id: int) -> Report:
    """A report the signed-in person filed (leaders may open any); others get 404."""
    report = db.get_or_404(Report, report_id)
    if report.filed_by_id != current_user.id and not current_user.is_leader:
        abort(404)
    return report


def _private_url(report: Report) -> str:
    return external_url("public.my_report", token=report.reporter.token)


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

    report = _filed_report_or_404(report_id)
    with language(report.reporter.locale):
        return render_template("staff/sheet.html", report=report, private_url=_private_url(report),
                               sheet_language=current_language())
