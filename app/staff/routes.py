from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.models import Channel, ReporterKind
from app.queries import latest_notices, reports_filed_by
from app.services.reports import file_report as file_report_service
from app.services.reports import new_reporter, reporter_for_user
from app.staff.blueprint import bp
from app.staff.forms import StaffReportForm
from app.web import chosen_problem, run_service


@bp.route("/report", methods=["GET", "POST"])
@login_required
def file_report():
    form = StaffReportForm()
    offered = []
    if form.validate_on_submit():
        chosen, offered = chosen_problem(form, staff=True)

        def file():
            if form.on_behalf.data == "self":
                reporter = reporter_for_user(current_user)
            else:
                reporter = new_reporter(
                    name=form.customer_name.data,
                    email=form.customer_email.data,
                    contact_ok=form.customer_contact_ok.data,
                    kind=ReporterKind.CUSTOMER,
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
            )

        if not offered and not form.problem_choice.errors and run_service(form, file, fields={"email": "customer_email", "name": "customer_name"}):
            flash(_("Report filed. You can follow it under “My reports”."), "success")
            return redirect(url_for("staff.my_reports"))
    status = 422 if form.errors or form.problem_choice.errors else 200
    return render_template("staff/file_report.html", form=form, offered=offered), status


@bp.route("/reports")
@login_required
def my_reports():
    reports = reports_filed_by(current_user)
    notices = latest_notices([(r.reporter_id, r.problem_id) for r in reports])
    return render_template("staff/my_reports.html", reports=reports, notices=notices)
