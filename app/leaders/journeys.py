"""The problem page for everyone who is not (only) its owner: ask the owner or offer to take
over, the owner's answers, why it is stuck, writing to one person, finding a problem to merge
into or move to by words, and previewing every recipient's message."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.extensions import db
from app.leaders.blueprint import bp
from app.leaders.forms import AnswerPersonForm, AnswerRequestForm, AskOwnerForm, FindProblemForm
from app.leaders.search import find_problems
from app.models import OwnershipRequest, Problem, Report
from app.services import ownership
from app.services.answers import answer_person
from app.web import leader_required, run_service


def journey_context(problem: Problem, forms: dict) -> dict:
    """What the problem page shows beyond the owner's workflow; a failed form is kept."""
    requests = ownership.open_requests(problem)
    failed_request_id = forms.get("request_id")
    answer_forms = {
        r.id: forms["answer_request"] if failed_request_id == r.id else AnswerRequestForm(formdata=None, prefix=f"request-{r.id}")
        for r in requests
    }
    find = FindProblemForm(request.args, meta={"csrf": False})
    words = (find.q.data or "").strip()
    move_find = FindProblemForm(request.args, meta={"csrf": False}, prefix="move")
    move_words = (move_find.q.data or "").strip()
    move_report_id = request.args.get("move-report", type=int)
    if move_report_id not in {r.id for r in problem.reports}:
        move_report_id, move_words = None, ""
    return dict(
        stuck=ownership.why_stuck(problem),
        requests=requests,
        answer_forms=answer_forms,
        ask=forms.get("ask") or AskOwnerForm(formdata=None, prefix="ask"),
        answer_person=forms.get("answer_person") or AnswerPersonForm(formdata=None, prefix="answer"),
        failed_answer_report_id=forms.get("answer_report_id"),
        find=find,
        found=find_problems(words, exclude_id=problem.id) if words else None,
        # The same search in one report's "Move" box: its results are listed in that box.
        move_find=move_find,
        move_search_report_id=move_report_id,
        move_found=find_problems(move_words, exclude_id=problem.id) if move_words else None,
    )


def _render(problem: Problem, status: int = 200, **forms):
    from app.leaders.routes import _render_problem

    db.session.refresh(problem)
    return _render_problem(problem, status, **forms)


@bp.post("/problems/<int:problem_id>/ask")
@leader_required
def ask_owner(problem_id):
    problem = db.get_or_404(Problem, problem_id)
    form = AskOwnerForm(prefix="ask")
    offer = bool(form.offer.data)
    if form.validate_on_submit() and run_service(form, lambda: ownership.ask_owner(problem, current_user, form.note.data, offer=offer)):
        flash(_("Sent to %(name)s, who will see it on this page and by email. Their answer will be in the history.",
                name=problem.owner.name) if not offer else
              _("Your offer is with %(name)s, who will see it on this page and by email.", name=problem.owner.name), "success")
        return redirect(url_for("leaders.problem", problem_id=problem.id) + "#requests")
    if not form.errors and not form.form_errors and not form.note.errors:
        form.form_errors.append(_("The form expired; please try again."))
    return _render(problem, 422, ask=form)


@bp.post("/ownership-requests/<int:request_id>/answer")
@leader_required
def answer_request(request_id):
    req = db.get_or_404(OwnershipRequest, request_id)
    problem = req.problem
    form = AnswerRequestForm(prefix=f"request-{req.id}")
    accept = bool(form.accept.data)
    if form.validate_on_submit() and run_service(
        form, lambda: ownership.answer_request(req, current_user, accept=accept, reason=form.reason.data)
    ):
        if accept and req.kind == "offer":
            message = _("Handed over to %(name)s, with your answer.", name=req.from_user.name)
        else:
            message = _("Your answer is sent to %(name)s and kept in the history.", name=req.from_user.name)
        flash(message, "success")
        return redirect(url_for("leaders.problem", problem_id=problem.id))
    if not form.errors and not form.form_errors and not form.reason.errors:
        form.form_errors.append(_("The form expired; please try again."))
    return _render(problem, 422, answer_request=form, request_id=req.id)


@bp.post("/reports/<int:report_id>/answer")
@leader_required
def answer_reporter(report_id):
    report = db.get_or_404(Report, report_id)
    if report.problem is None:
        abort(404)
    form = AnswerPersonForm(prefix="answer")
    if form.validate_on_submit() and run_service(form, lambda: answer_person(report, current_user, form.words.data)):
        flash(_("Your message to %(name)s is in the outbox, quoting their words; it is in the history.",
                name=report.reporter.name_or_anonymous), "success")
        return redirect(url_for("leaders.problem", problem_id=report.problem_id) + f"#report-{report.id}")
    if not form.errors and not form.form_errors and not form.words.errors:
        form.form_errors.append(_("The form expired; please try again."))
    return _render(report.problem, 422, answer_person=form, answer_report_id=report.id)
