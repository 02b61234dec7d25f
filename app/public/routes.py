"""Public pages: tell us what isn't working, follow your report, see what changed."""

from __future__ import annotations

from feedgen.feed import FeedGenerator
from flask import abort, current_app, flash, jsonify, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from app.extensions import csrf, db
from app.i18n import current_language
from app.messaging.compose import still_happening, unsubscribe
from app.models import Channel, Report, Reporter
from app.public.blueprint import bp
from app.public.forms import PublicReportForm, StillHappeningForm, UnsubscribeForm
from app.queries import latest_notices, paginate_rows, published_change, published_changes_query
from app.security import spam
from app.security.limits import json_too_many, rate_limited, too_many_message
from app.security.ratelimit import RateLimited, client_ip, hit
from app.services.grouping import suggestions
from app.services.moderation import moderation_on
from app.services.reports import file_report, new_reporter
from app.templating import format_date
from app.web import chosen_problem, is_safe_next, run_service


@bp.route("/", methods=["GET", "POST"])
def index():
    form = PublicReportForm()
    filed, offered = {}, []
    valid = form.validate_on_submit()
    if valid and spam.is_bot(form.extra_notes.data):
        spam.record_discarded("honeypot", client_ip())
        return _discarded_thanks()
    if form.is_submitted() and spam.too_quick(form.shown.data):
        # A person who is just fast (or whose page is old) sends it again; nothing is lost.
        form.form_errors.append(_("We have not sent your report yet: it came back faster than we expected "
                                  "from a person. Please check it and press “Send my report” again."))
        if spam.seconds_since_shown(form.shown.data) is None:
            form.shown.data = spam.form_shown_token()
    elif valid:
        chosen, offered = chosen_problem(form, staff=False)
        if not offered and not form.problem_choice.errors:
            try:
                hit("filing", client_ip())
            except RateLimited as error:
                form.form_errors.append(too_many_message(error.retry_after) + " "
                                        + _("Your words are kept below; nothing has been saved yet."))
                return _render_index(form, offered, 429, error.retry_after)

            def file():
                reporter = new_reporter(
                    name=form.name.data, email=form.email.data, contact_ok=form.contact_ok.data
                )
                filed["report"] = file_report(
                    text=form.text.data,
                    location=form.location.data,
                    occurred_on=form.occurred_on.data,
                    impact=form.impact.data,
                    reporter=reporter,
                    channel=Channel.WEB,
                    problem=chosen,
                    grouping="chosen" if chosen else None,
                    hold=moderation_on(),
                )

            if run_service(form, file):
                return redirect(url_for("public.thanks", token=filed["report"].reporter.token))
    status = 422 if form.errors or form.form_errors or form.problem_choice.errors else 200
    return _render_index(form, offered, status)


def _render_index(form, offered, status, retry_after=None):
    if not form.shown.data:
        form.shown.data = spam.form_shown_token()
    recent = db.session.execute(published_changes_query().limit(3)).all()
    response = make_response(render_template("public/index.html", form=form, recent=recent, offered=offered), status)
    return rate_limited(response, retry_after) if retry_after else response


def _discarded_thanks():
    """What a bot sees: the usual thank-you page, for a report that was never stored."""
    from types import SimpleNamespace

    from app.models import new_token

    token = new_token()
    reporter = SimpleNamespace(token=token, contact_ok=False, email=None)
    link = current_app.config["CARELOOP_BASE_URL"] + url_for("public.my_report", token=token)
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


def _reporter_or_404(token: str) -> Reporter:
    # Tokens are 43 characters of 256-bit randomness; anything else cannot match.
    if len(token) > 64:
        abort(404)
    reporter = db.session.scalar(db.select(Reporter).filter_by(token=token))
    if reporter is None:
        abort(404)
    return reporter


def _private(response):
    """A reporter's page: never cached, indexed, or leaked through the Referer header."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


@bp.route("/r/<token>/thanks")
def thanks(token):
    reporter = _reporter_or_404(token)
    link = current_app.config["CARELOOP_BASE_URL"] + url_for("public.my_report", token=token)
    return _private(make_response(render_template("public/thanks.html", reporter=reporter, link=link)))


def _render_my_report(reporter: Reporter, failed_form=None, failed_report_id=None, status=200):
    notices = latest_notices([(reporter.id, r.problem_id) for r in reporter.reports])
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
    if report is None or report.reporter_id != reporter.id or report.problem_id is None:
        abort(404)
    form = StillHappeningForm()
    if form.validate_on_submit() and run_service(form, lambda: still_happening(reporter, report, form.words.data),
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
        unsubscribe(reporter)
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
    base = current_app.config["CARELOOP_BASE_URL"]
    from app.services.branding import org_name

    org = org_name()
    rows = db.session.execute(published_changes_query().limit(50)).all()
    feed = FeedGenerator()
    feed.id(base + url_for("public.changes"))
    feed.title(_("%(org)s: We changed this", org=org))
    feed.subtitle(_("Changes made because people told us something wasn't working."))
    feed.link(href=base + url_for("public.changes"), rel="alternate")
    feed.link(href=base + url_for("public.changes_feed"), rel="self")
    feed.language(current_language())
    # Oldest first: feedgen puts each new entry at the top.
    for row in reversed(rows):
        problem = row.Problem
        entry = feed.add_entry()
        url = base + url_for("public.change", problem_id=problem.id)
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
    from app.i18n import LANGUAGE_COOKIE, LANGUAGE_COOKIE_MAX_AGE, supported_languages

    target = request.form.get("next")
    response = redirect(target if is_safe_next(target) else url_for("public.index"))
    code = request.form.get("lang", "")
    if code in supported_languages():
        response.set_cookie(
            LANGUAGE_COOKIE, code, max_age=LANGUAGE_COOKIE_MAX_AGE, samesite="Lax", httponly=True,
            secure=current_app.config["SESSION_COOKIE_SECURE"],
        )
    return response
