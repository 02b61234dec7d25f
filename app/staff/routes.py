from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.models import Channel
from app.queries import latest_notices, reports_filed_by
from app.services.filing import ChooseFirst, Filed, Person, submit_report
from app.services.people import in_person_tasks
from app.services.people import told_in_person as told_in_person_service
from app.staff.blueprint import bp
from app.staff.forms import StaffReportForm, ToldInPersonForm
from app.web import run_service


@bp.route("/report", methods=["GET", "POST"])
@login_required
def file_report():
    form = StaffReportForm()
    offered = []
    if form.validate_on_submit():
        person = None if form.on_behalf.data == "self" else Person(
            form.customer_name.data, form.customer_email.data, form.customer_contact_ok.data)
        result = run_service(form, lambda: submit_report(form.submission(person), channel=Channel.STAFF,
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
    reports = reports_filed_by(current_user)
    notices = latest_notices([(r.reporter_id, r.problem_id) for r in reports])
    return render_template("staff/my_reports.html", reports=reports, notices=notices,
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
