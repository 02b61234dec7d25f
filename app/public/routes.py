"""Public pages: tell us what isn't working, follow your report, see what changed."""

from __future__ import annotations

from types import SimpleNamespace

from feedgen.feed import FeedGenerator
from flask import abort, current_app, flash, jsonify, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from app.extensions import csrf, db
from app.i18n import LANGUAGE_COOKIE, LANGUAGE_COOKIE_MAX_AGE, current_language, supported_languages
from app.messaging.compose import still_happening, unsubscribe
from app.models import Channel, Report, new_token
from app.public.blueprint import bp
from app.public.forms import AnswerForm, LinkAgainForm, PublicReportForm, StillHappeningForm, UnsubscribeForm
from app.queries import latest_notices, paginate_rows, published_change, published_changes_query
from app.security import spam
from app.security.limits import json_too_many, rate_limited, too_many_message
from app.security.ratelimit import RateLimited, client_ip, hit
from app.services.branding import org_name
from app.services.errors import NotFound, ServiceError
from app.services.filing import ChooseFirst, Discarded, Filed, Person, submit_report
from app.services.grouping import suggestions
from app.services.people import ANSWERS, answer_fix, answerable, as_reporter, owns, page_owner, send_link_again
from app.templating import format_date
from app.urls import external_url
from app.web import is_safe_next, run_service


@bp.route("/", methods=["GET", "POST"])
def index():
    form = PublicReportForm()
    offered = []
    if form.validate_on_submit():
        try:
            result = run_service(form, lambda: submit_report(
                form.submission(Person(form.name.data, form.email.data, form.contact_ok.data),
                                honeypot=form.extra_notes.data, shown=form.shown.data),
                channel=Channel.WEB, client=client_ip()))
        except RateLimited as error:
            form.form_errors.append(too_many_message(error.retry_after) + " "
                                    + _("Your words are kept below; nothing has been saved yet."))
            return _render_index(form, offered, 429, error.retry_after)
        if isinstance(result, Discarded):
            return _discarded_thanks()
        if isinstance(result, Filed):
            return redirect(url_for("public.thanks", token=result.report.reporter.token))
        if isinstance(result, ChooseFirst):
            offered = result.suggestions
            if result.refused_choice:
                form.problem_choice.errors = [_("That problem cannot be chosen; pick another or file as new.")]
    status = 422 if form.errors or form.form_errors or form.problem_choice.errors else 200
    return _render_index(form, offered, status)


def _render_index(form, offered, status, retry_after=None):
    # A missing or forged "shown" stamp gets a new one; a good one keeps its time.
    if spam.seconds_since_shown(form.shown.data) is None:
        form.shown.data = spam.form_shown_token()
    recent = db.session.execute(published_changes_query().limit(3)).all()
    response = make_response(render_template("public/index.html", form=form, recent=recent, offered=offered), status)
    return rate_limited(response, retry_after) if retry_after else response


def _discarded_thanks():
    """What a bot sees: the usual thank-you page, for a report that was never stored."""


    token = new_token()
    reporter = SimpleNamespace(token=token, contact_ok=False, email=None)
    link = external_url("public.my_report", token=token)
    return _private(make_response(render_template("public/thanks.html", reporter=reporter, link=link)))


@bp.get("/suggest")
def suggest():
    """Similar open problems for the filing forms' script (same visibility as the forms)."""
    staff = current_user.is_authenticated
    try:
        hit("suggest", f"user:{current_user.id}" if staff else f"ip:{client_ip()}")
    except RateLimited as error:
        return json_too_many(error)
    text = request.args.get("text", "")[:2000]
    return jsonify(suggestions=suggestions(text, staff=staff))


def _reporter_or_404(token: str):
    """The holder of a private link: a filing's reporter, or a person (services/people.py)."""
    holder = page_owner(token)
    if holder is None:
        abort(404)
    return holder


def _private(response):
    """A reporter's page: never cached, indexed, or leaked through the Referer header."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


@bp.route("/r/<token>/thanks")
def thanks(token):
    reporter = _reporter_or_404(token)
    link = external_url("public.my_report", token=token)
    report = reporter.reports[-1] if reporter.reports else None
    return _private(make_response(render_template("public/thanks.html", reporter=reporter, link=link,
                                                  problem=report.problem if report else None)))


@bp.route("/link", methods=["GET", "POST"])
def link_again():
    """Ask for your private link again, by email address. The answer is the same whether
    or not we know the address, so nobody can use it to learn who reported something."""
    form = LinkAgainForm()
    if form.validate_on_submit():
        try:
            hit("filing", client_ip())
        except RateLimited as error:
            form.form_errors.append(too_many_message(error.retry_after))
            return rate_limited(make_response(render_template("public/link_again.html", form=form), 429),
                                error.retry_after)
        if run_service(form, lambda: send_link_again(form.email.data)):
            flash(_("If we have reports from that address, we have emailed its private link to it. "
                    "It can take a few minutes to arrive."), "success")
            return redirect(url_for("public.link_again"))
    status = 422 if form.errors or form.form_errors else 200
    return _private(make_response(render_template("public/link_again.html", form=form), status))


@bp.route("/r/<token>/answer/<int:problem_id>/<answer>", methods=["GET", "POST"])
def answer(token, problem_id, answer):
    """"Did this fix it for you?": the link in the email opens this page; the answer is
    recorded only by the POST (so a mail scanner following links answers nothing)."""
    holder = _reporter_or_404(token)
    if answer not in ANSWERS:
        abort(404)

    try:
        problem, _report = answerable(holder, problem_id)
    except NotFound:
        abort(404)
    except ServiceError as error:
        return _private(make_response(render_template("public/answer.html", holder=holder, problem=None,
                                                      answer=answer, form=None, message=error.message), 409))
    form = AnswerForm()
    if form.validate_on_submit() and run_service(form, lambda: answer_fix(holder, problem_id, answer)):
        flash(_("Thank you. We have told %(name)s that it is fixed for you.", name=problem.owner.name)
              if answer == "yes" else
              _("Thank you. We have told %(name)s that it is still happening to you.", name=problem.owner.name),
              "success")
        return redirect(url_for("public.my_report", token=token))
    return _private(make_response(render_template("public/answer.html", holder=holder, problem=problem,
                                                  answer=answer, form=form, message=None)))


def _render_my_report(reporter, failed_form=None, failed_report_id=None, status=200):
    notices = latest_notices([(r.reporter_id, r.problem_id) for r in reporter.reports])
    page = render_template(
        "public/my_report.html", reporter=reporter, notices=notices,
        still=failed_form or StillHappeningForm(formdata=None), failed_report_id=failed_report_id,
    )
    return _private(make_response(page, status))


@bp.route("/r/<token>")
def my_report(token):
    return _render_my_report(_reporter_or_404(token))


@bp.post("/r/<token>/reports/<int:report_id>/still-happening")
def report_still_happening(token, report_id):
    reporter = _reporter_or_404(token)
    report = db.session.get(Report, report_id)
    # A report held for moderation (or rejected) has no problem to be still happening in.
    if report is None or not owns(reporter, report) or report.problem_id is None:
        abort(404)
    form = StillHappeningForm()
    if form.validate_on_submit() and run_service(form, lambda: still_happening(report.reporter, report, form.words.data),
                                                 fields={"text": "words"}):
        flash(_("Thank you. We have added this to your report and told the owner it is still happening."), "success")
        return redirect(url_for("public.my_report", token=token))
    return _render_my_report(reporter, form, report.id, 422)


@bp.route("/r/<token>/unsubscribe", methods=["GET", "POST"])
@csrf.exempt  # mail clients' one-click unsubscribe (RFC 8058) posts without a form; the token is the key
def unsubscribe_page(token):
    reporter = _reporter_or_404(token)
    form = UnsubscribeForm()
    if request.method == "POST":
        unsubscribe(as_reporter(reporter))
        db.session.commit()
        if request.form.get("List-Unsubscribe") == "One-Click":
            return "", 204
        flash(_("You will not get any more emails from us. Your private page still works."), "success")
        return redirect(url_for("public.unsubscribe_page", token=token))
    return _private(make_response(render_template("public/unsubscribe.html", reporter=reporter, form=form)))


@bp.route("/changes")
def changes():
    page = request.args.get("page", 1, type=int)
    pagination = paginate_rows(
        published_changes_query(), page, current_app.config["CARELOOP_CHANGES_PER_PAGE"]
    )
    if pagination is None:
        abort(404)
    return render_template("public/changes.html", pagination=pagination)


@bp.route("/changes/<int:problem_id>")
def change(problem_id):
    row = published_change(problem_id)
    if row is None:
        abort(404)
    return render_template("public/change.html", row=row)


@bp.route("/changes.atom")
def changes_feed():

    org = org_name()
    rows = db.session.execute(published_changes_query().limit(50)).all()
    feed = FeedGenerator()
    feed.id(external_url("public.changes"))
    feed.title(_("%(org)s: We changed this", org=org))
    feed.subtitle(_("Changes made because people told us something wasn't working."))
    feed.link(href=external_url("public.changes"), rel="alternate")
    feed.link(href=external_url("public.changes_feed"), rel="self")
    feed.language(current_language())
    # Oldest first: feedgen puts each new entry at the top.
    for row in reversed(rows):
        problem = row.Problem
        entry = feed.add_entry()
        url = external_url("public.change", problem_id=problem.id)
        entry.id(url)
        entry.link(href=url)
        entry.title(problem.public_title)
        entry.published(problem.published_at.isoformat() + "+00:00")
        entry.updated(problem.published_at.isoformat() + "+00:00")
        entry.author(name=problem.owner.name if problem.owner else org)
        entry.summary(
            f"{problem.public_summary}\n\n"
            + _("What is different: %(what)s", what=problem.change_what) + "\n"
            + _("Since %(date)s.", date=format_date(problem.change_since)) + " "
            + ngettext("Reported by %(num)s person.", "Reported by %(num)s people.", row.people)
        )
    updated = rows[0].Problem.published_at if rows else None
    if updated:
        feed.updated(updated.isoformat() + "+00:00")
    response = make_response(feed.atom_str(pretty=True))
    response.headers["Content-Type"] = "application/atom+xml; charset=utf-8"
    return response


@bp.post("/language")
def set_language():
    """The language switcher in the header: remember the choice for a year, go back to the page."""

    target = request.form.get("next")
    response = redirect(target if is_safe_next(target) else url_for("public.index"))
    code = request.form.get("lang", "")
    if code in supported_languages():
        response.set_cookie(
            LANGUAGE_COOKIE, code, max_age=LANGUAGE_COOKIE_MAX_AGE, samesite="Lax", httponly=True,
            secure=current_app.config["SESSION_COOKIE_SECURE"],
        )
    return response
