"""Leaders' pages: triage, a problem and its workflow, what I own."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from app import services
from app.extensions import db
from app.imports.importer import remote_groups, ticket_replies
from app.imports.linked_work import create_work, link_work, work_sources
from app.labels import label
from app.leaders.blueprint import bp
from app.leaders.forms import (
    ActionForm,
    ChangeForm,
    CommentForm,
    DeclineForm,
    EditProblemForm,
    HandOverForm,
    LinkWorkForm,
    MergeForm,
    MergeManyForm,
    MoveReportForm,
    PublishForm,
    ReopenForm,
    SplitForm,
    UnreachableForm,
)
from app.leaders.journeys import journey_context
from app.messaging.compose import mark_unreachable, notice_states
from app.models import (
    LINKED_WORK_DONE,
    STILL_HAPPENING,
    GroupingReview,
    MessageKind,
    Problem,
    ProblemLink,
    Report,
    Reporter,
    Status,
    User,
)
from app.queries import (
    all_problems,
    is_closed_out,
    leaders,
    not_closed_out,
    problems_owned_by,
    still_happening_queue,
    triage_queue,
)
from app.services import grouping as grouping_service
from app.services.previews import preview_all
from app.web import leader_required, run_service


@bp.route("/triage")
@leader_required
def triage():
    return _render_triage()


def _render_triage(merge_many: MergeManyForm | None = None, status: int = 200, chosen=()):
    rows = triage_queue()
    return render_template("leaders/triage.html", rows=rows, closing=not_closed_out(),
                           still=still_happening_queue(),
                           reviews=grouping_service.pending_reviews(), action=ActionForm(formdata=None),
                           candidates=grouping_service.triage_candidates([row.Problem for row in rows]),
                           merge_many=merge_many or MergeManyForm(formdata=None, prefix="many"),
                           chosen=set(chosen)), status


@bp.post("/problems/<int:problem_id>/merge-into/<int:target_id>")
@leader_required
def merge_into(problem_id, target_id):
    """One click from triage: merge a new problem into a candidate the engine found."""
    problem = _problem_or_404(problem_id)
    target = _problem_or_404(target_id)
    form = ActionForm()
    if form.validate_on_submit() and run_service(form, lambda: grouping_service.merge_problems(problem, target, current_user)):
        flash(_("Problem #%(number)s merged into #%(target)s: its reports and people are there now.",
                number=problem.id, target=target.id), "success")
    else:
        flash(" ".join(form.form_errors) or _("The form expired; please try again."), "info")
    return redirect(url_for("leaders.triage"))


@bp.post("/problems/merge-many")
@leader_required
def merge_many():
    """Merge several chosen problems into one, in one step."""
    form = MergeManyForm(prefix="many")
    chosen = [int(v) for v in request.form.getlist("problems") if v.isdigit()]

    def action():
        target = _target_or_error(form.target.data, required=True)
        sources = [p for p in (db.session.get(Problem, i) for i in chosen) if p is not None]
        if not sources:
            raise services.ServiceError(_("Choose the problems to merge."), field="target")
        return grouping_service.merge_many(sources, target, current_user)

    done = {}
    if form.validate_on_submit() and run_service(form, lambda: done.setdefault("to", action())):
        flash(ngettext("Merged %(num)d problem into #%(number)s.", "Merged %(num)d problems into #%(number)s.",
                       len([c for c in chosen if c != done["to"].id]), number=done["to"].id), "success")
        return redirect(url_for("leaders.problem", problem_id=done["to"].id))
    return _render_triage(form, 422, chosen)


@bp.route("/problems")
@leader_required
def problems():
    status = request.args.get("status") or None
    if status and status not in set(Status):
        abort(404)
    return render_template("leaders/problems.html", rows=all_problems(status), status=status)


@bp.route("/problems/mine")
@leader_required
def my_problems():
    return render_template("leaders/my_problems.html", rows=problems_owned_by(current_user))


def _problem_or_404(problem_id: int) -> Problem:
    return db.get_or_404(Problem, problem_id)


def _owner_choices(problem: Problem) -> list[tuple[int, str]]:
    """The leaders to hand over to, after an empty "Choose a leader" (nobody preselected);
    empty when there is nobody to choose."""
    choices = [SelectChoice(u.id, _("%(name)s (%(role)s)", name=u.name, role=label(u.role, "role"))) for u in leaders()
               if u.id != problem.owner_id]
    return [SelectChoice("", _("Choose a leader…")), *choices] if choices else []


def _can_take_over(problem: Problem) -> bool:
    return problem.owner is not None and not problem.owner.active and problem.is_open


def _render_problem(problem: Problem, status: int = 200, preview_of=None, **forms):
    """The problem page; a form that failed is passed in so the person's text is kept."""
    hand_over = forms.get("hand_over") or HandOverForm(formdata=None)
    hand_over.owner.choices = _owner_choices(problem)
    change_form = forms.get("change") or ChangeForm(
        formdata=None,
        what=problem.change_what,
        since=problem.change_since,
        evidence_url=problem.change_evidence_url,
    )
    publish_form = forms.get("publish") or PublishForm(
        formdata=None,
        public_title=problem.public_title or problem.title,
        public_summary=problem.public_summary,
    )
    context = dict(
        problem=problem,
        can_manage=current_user.is_admin or problem.owner_id == current_user.id,
        can_take_over=_can_take_over(problem),
        action=forms.get("action") or ActionForm(formdata=None),
        edit=forms.get("edit") or EditProblemForm(formdata=None, obj=problem),
        hand_over=hand_over,
        change=change_form,
        decline=forms.get("decline") or DeclineForm(formdata=None),
        reopen=forms.get("reopen") or ReopenForm(formdata=None),
        publish=publish_form,
        comment=forms.get("comment") or CommentForm(formdata=None),
        move=forms.get("move") or MoveReportForm(formdata=None),
        failed_move_report_id=forms.get("move_report_id"),
        notices=notice_states(problem),
        closed_out=is_closed_out(problem),
        unreachable=forms.get("unreachable") or UnreachableForm(formdata=None),
        failed_unreachable_id=forms.get("unreachable_reporter_id"),
        flags=[e for e in problem.events if e.verb == STILL_HAPPENING],
        preview_of=preview_of,
        **journey_context(problem, forms),
        link_form=_link_form(forms.get("link_work")),
        links=db.session.scalars(db.select(ProblemLink).filter_by(problem_id=problem.id).order_by(ProblemLink.id)).all(),
        work_done=[e for e in problem.events if e.verb == LINKED_WORK_DONE],
        ticket_replies=_ticket_replies(problem),
        reviews=grouping_service.pending_reviews(problem),
        merge=forms.get("merge") or MergeForm(formdata=None, prefix="merge"),
        split=forms.get("split") or SplitForm(formdata=None, prefix="split"),
    )
    return render_template("leaders/problem.html", **context), status


@bp.route("/problems/<int:problem_id>")
@leader_required
def problem(problem_id):
    problem = _problem_or_404(problem_id)
    if problem.merged_into_id is not None:
        target = problem.merged_into
        while target.merged_into_id is not None:
            target = target.merged_into
        flash(_("Problem #%(number)s was merged into #%(target)s; its reports and people are here.",
                number=problem.id, target=target.id), "info")
        return redirect(url_for("leaders.problem", problem_id=target.id))
    return _render_problem(problem)


def _act(problem: Problem, form, name: str, action, message: str, anchor: str = ""):
    """Validate a problem-page form, run its service, then redirect or re-render it."""
    if form.validate_on_submit() and run_service(form, action):
        flash(message, "success")
        return redirect(url_for("leaders.problem", problem_id=problem.id) + anchor)
    if not form.errors and not form.form_errors:
        form.form_errors.append(_("The form expired; please try again."))
    db.session.refresh(problem)
    forms = {name: form}
    if name != "action" and form.form_errors:
        # A refusal of the whole step (say the problem was declined in another tab) is shown
        # at the top of the actions: the form's own section may no longer be on the page.
        forms["action"] = ActionForm(formdata=None)
        forms["action"].form_errors = form.form_errors
        form.form_errors = []
    return _render_problem(problem, 422, **forms)


@bp.post("/problems/<int:problem_id>/own")
@leader_required
def take_ownership(problem_id):
    problem = _problem_or_404(problem_id)
    return _act(
        problem, ActionForm(), "action",
        lambda: services.assign_owner(problem, current_user, current_user),
        _("You own this problem now. People can see your name on it."),
    )


@bp.post("/problems/<int:problem_id>/hand-over")
@leader_required
def hand_over(problem_id):
    problem = _problem_or_404(problem_id)
    form = HandOverForm()
    form.owner.choices = _owner_choices(problem)

    def action():
        new_owner = db.session.get(User, form.owner.data)
        if new_owner is None:
            raise services.ServiceError(_("Choose a leader."), field="owner")
        services.assign_owner(problem, current_user, new_owner, form.reason.data)

    return _act(problem, form, "hand_over", action, _("Ownership handed over."))


@bp.post("/problems/<int:problem_id>/start")
@leader_required
def start_work(problem_id):
    problem = _problem_or_404(problem_id)
    return _act(problem, ActionForm(), "action",
                lambda: services.start_work(problem, current_user), _("Marked as being changed."))


@bp.post("/problems/<int:problem_id>/change")
@leader_required
def record_change(problem_id):
    problem = _problem_or_404(problem_id)
    form = ChangeForm()
    return _act(
        problem, form, "change",
        lambda: services.record_change(
            problem, current_user, what=form.what.data, since=form.since.data,
            evidence_url=form.evidence_url.data,
        ),
        _("Change recorded. Write the public summary and publish it when ready."),
        "#publish",
    )


@bp.post("/problems/<int:problem_id>/decline")
@leader_required
def decline(problem_id):
    problem = _problem_or_404(problem_id)
    form = DeclineForm()
    if form.preview.data and form.validate_on_submit():
        return _preview(problem, form, "decline", MessageKind.DECLINED, decline_reason=form.reason.data)
    return _act(problem, form, "decline",
                lambda: services.decline(problem, current_user, form.reason.data, form.note.data),
                _("Problem declined. Everyone who can be emailed will be told, with your reason."))


@bp.post("/problems/<int:problem_id>/reopen")
@leader_required
def reopen(problem_id):
    problem = _problem_or_404(problem_id)
    form = ReopenForm()
    return _act(problem, form, "reopen",
                lambda: services.reopen(problem, current_user, form.reason.data), _("Problem reopened."))


@bp.post("/problems/<int:problem_id>/publish")
@leader_required
def publish(problem_id):
    problem = _problem_or_404(problem_id)
    form = PublishForm()
    if form.preview.data and form.validate_on_submit():
        return _preview(problem, form, "publish", MessageKind.CHANGED, public_title=form.public_title.data)
    return _act(
        problem, form, "publish",
        lambda: services.publish(
            problem, current_user, public_title=form.public_title.data,
            public_summary=form.public_summary.data, note=form.note.data,
        ),
        _("Published on “We changed this”. Everyone who can be emailed will be told."),
    )


def _preview(problem: Problem, form, name: str, kind: MessageKind, **unsaved):
    """Show every recipient's message as it would go out, saving nothing."""

    for attribute, value in unsaved.items():
        setattr(problem, attribute, value)
    previews, unreachable = preview_all(problem, kind, note=(form.note.data or "").strip() or None)
    db.session.rollback()  # the unsaved values were only for the preview
    return _render_problem(problem, 200, preview_of={"kind": name, "previews": previews, "unreachable": unreachable,
                                                     "count": len(previews)}, **{name: form})


@bp.post("/problems/<int:problem_id>/people/<int:reporter_id>/unreachable")
@leader_required
def mark_person_unreachable(problem_id, reporter_id):
    problem = _problem_or_404(problem_id)
    reporter = db.get_or_404(Reporter, reporter_id)
    if reporter.id not in {r.reporter_id for r in problem.reports}:
        abort(404)
    form = UnreachableForm()
    if form.validate_on_submit() and run_service(
        form, lambda: mark_unreachable(problem, reporter, current_user, form.reason.data)
    ):
        flash(_("Recorded that %(name)s cannot be told.", name=reporter.name_or_anonymous), "success")
        return redirect(url_for("leaders.problem", problem_id=problem.id) + "#told")
    db.session.refresh(problem)
    return _render_problem(problem, 422, unreachable=form, unreachable_reporter_id=reporter.id)


@bp.post("/problems/<int:problem_id>/unpublish")
@leader_required
def unpublish(problem_id):
    problem = _problem_or_404(problem_id)
    return _act(problem, ActionForm(), "action",
                lambda: services.unpublish(problem, current_user), _("Taken off the public page."))


@bp.post("/problems/<int:problem_id>/edit")
@leader_required
def edit(problem_id):
    problem = _problem_or_404(problem_id)
    form = EditProblemForm()
    return _act(
        problem, form, "edit",
        lambda: services.edit_problem(
            problem, current_user, title=form.title.data, area=form.area.data, due_on=form.due_on.data,
            public_title=form.public_title.data,
        ),
        _("Details saved."),
    )


@bp.post("/problems/<int:problem_id>/comment")
@leader_required
def comment(problem_id):
    problem = _problem_or_404(problem_id)
    form = CommentForm()
    return _act(problem, form, "comment",
                lambda: services.add_comment(problem, current_user, form.text.data),
                _("Note added."), "#notes")


def _regroup(problem: Problem, form, name: str, action, message, **render):
    """Run a regrouping service that returns where the reports went; go there, or show
    the form again with its error."""
    done = {}
    if form.validate_on_submit() and run_service(form, lambda: done.setdefault("to", action())):
        flash(message(done["to"]), "success")
        return redirect(url_for("leaders.problem", problem_id=done["to"].id))
    db.session.refresh(problem)
    return _render_problem(problem, 422, **{name: form}, **render)


def _target_or_error(number, *, required: bool = False):
    if number is None and required:
        raise services.ServiceError(_("Give the number of the problem to move it to."), field="target")
    target = db.session.get(Problem, number) if number else None
    if number and target is None:
        raise services.ServiceError(_("There is no problem #%(number)s.", number=number), field="target")
    return target


@bp.post("/reports/<int:report_id>/move")
@leader_required
def move_report(report_id):
    report = db.get_or_404(Report, report_id)
    form = MoveReportForm()
    return _regroup(
        report.problem, form, "move",
        lambda: services.move_report(report, current_user, _target_or_error(form.target.data, required=True)),
        lambda to: _("Report moved to problem #%(number)s.", number=to.id),
        move_report_id=report.id,
    )


@bp.post("/reports/<int:report_id>/split")
@leader_required
def split_report(report_id):
    report = db.get_or_404(Report, report_id)
    return _regroup(report.problem, ActionForm(), "action",
                    lambda: services.move_report(report, current_user, None),
                    lambda to: _("Started problem #%(number)s from the report.", number=to.id))


def _ticket_replies(problem):

    replies, counts = ticket_replies(problem)
    return {"replies": replies, "counts": counts, "groups": remote_groups(problem)}


def _link_form(form: LinkWorkForm | None = None) -> LinkWorkForm:
    form = form or LinkWorkForm(formdata=None)
    form.source.choices = [SelectChoice(name, source.title) for name, source in sorted(work_sources().items())]
    return form


@bp.post("/problems/<int:problem_id>/work")
@leader_required
def link_problem_work(problem_id):
    problem = _problem_or_404(problem_id)
    form = _link_form(LinkWorkForm())
    if form.create.data:
        action, message = lambda: create_work(problem, current_user, form.source.data), _("Issue created and linked.")
    else:
        action, message = lambda: link_work(problem, current_user, form.source.data, form.key.data), _("Issue linked.")
    return _act(problem, form, "link_work", action, message, "#work")


@bp.post("/problems/<int:problem_id>/merge")
@leader_required
def merge(problem_id):
    problem = _problem_or_404(problem_id)
    form = MergeForm(prefix="merge")
    return _regroup(
        problem, form, "merge",
        lambda: grouping_service.merge_problems(problem, _target_or_error(form.target.data), current_user),
        lambda to: _("Problem #%(number)s merged into #%(target)s: its reports and people are here now.",
                     number=problem.id, target=to.id),
    )


@bp.post("/problems/<int:problem_id>/split")
@leader_required
def split(problem_id):
    problem = _problem_or_404(problem_id)
    form = SplitForm(prefix="split")
    chosen = [int(v) for v in request.form.getlist("reports") if v.isdigit()]
    return _regroup(
        problem, form, "split",
        lambda: grouping_service.split_reports(problem, chosen, current_user, _target_or_error(form.target.data)),
        lambda to: ngettext("Moved %(num)d report to problem #%(number)s.", "Moved %(num)d reports to problem #%(number)s.",
                           len(chosen), number=to.id),
    )


@bp.post("/reports/<int:report_id>/undo-grouping")
@leader_required
def undo_grouping(report_id):
    report = db.get_or_404(Report, report_id)
    problem = report.problem
    done = {}

    def action():
        done["to"] = grouping_service.undo_auto_grouping(report, current_user)

    form = ActionForm()
    if form.validate_on_submit() and run_service(form, action):
        flash(_("Undone: the report now has its own problem, #%(number)s.", number=done["to"].id), "success")
        return redirect(url_for("leaders.problem", problem_id=problem.id))
    return _render_problem(problem, 422, action=form)


@bp.post("/grouping-reviews/<int:review_id>/<any(confirm, reject):answer>")
@leader_required
def answer_review(review_id, answer):
    review = db.get_or_404(GroupingReview, review_id)
    back = request.form.get("back")
    form = ActionForm()
    done = {}

    chosen = request.form.get("candidate", type=int)

    def action():
        if answer == "confirm":
            other = db.session.get(Problem, chosen) if chosen else None
            if chosen and other is None:
                raise services.ServiceError(_("There is no problem #%(number)s.", number=chosen))
            done["problem"] = grouping_service.confirm_review(review, current_user, candidate=other)
        else:
            grouping_service.reject_review(review, current_user)

    if form.validate_on_submit() and run_service(form, action):
        if answer == "confirm":
            flash(_("Report #%(report)s joined problem #%(number)s.", report=review.report_id, number=done["problem"].id), "success")
            return redirect(url_for("leaders.problem", problem_id=done["problem"].id))
        flash(_("Kept apart: it is a different problem."), "success")
    else:
        flash(" ".join(form.form_errors) or _("That did not work; please try again."), "info")
    if back == "triage":
        return redirect(url_for("leaders.triage"))
    return redirect(url_for("leaders.problem", problem_id=review.report.problem_id))
