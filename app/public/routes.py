"""Public pages: tell us what isn't working, follow your report, see what changed."""

from __future__ import annotations

from feedgen.feed import FeedGenerator
from flask import abort, current_app, flash, jsonify, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from ..extensions import csrf, db
from ..models import Channel, Report, Reporter
from ..queries import latest_notices
from ..services.messages import still_happening, unsubscribe
from ..queries import paginate_rows, published_change, published_changes_query
from ..services import file_report, new_reporter
from ..services.grouping import suggestions
from ..services.ratelimit import allow
from ..web import chosen_problem
from ..web import run_service
from . import bp
from .forms import PublicReportForm, StillHappeningForm, UnsubscribeForm


@bp.route("/", methods=["GET", "POST"])
def index():
    form = PublicReportForm()
    filed, offered = {}, []
    if form.validate_on_submit():
        chosen, offered = chosen_problem(form, staff=False)
        if not offered and not form.problem_choice.errors:

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
                )

            if run_service(form, file):
                return redirect(url_for("public.thanks", token=filed["report"].reporter.token))
    recent = db.session.execute(published_changes_query().limit(3)).all()
    status = 422 if form.errors or form.problem_choice.errors else 200
    return render_template("public/index.html", form=form, recent=recent, offered=offered), status


@bp.get("/suggest")
def suggest():
    """Similar open problems for the filing forms' script (same visibility as the forms)."""
    staff = current_user.is_authenticated
    who = f"user:{current_user.id}" if staff else f"ip:{request.remote_addr}"
    if not allow(f"suggest:{who}", current_app.config["CARELOOP_SUGGEST_PER_MINUTE"], 60):
        return jsonify(error="Too many requests for suggestions; wait a minute and try again."), 429
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
    if report is None or report.reporter_id != reporter.id:
        abort(404)
    form = StillHappeningForm()
    if form.validate_on_submit() and run_service(form, lambda: still_happening(reporter, report, form.words.data),
                                                 fields={"text": "words"}):
        flash("Thank you. We have added this to your report and told the owner it is still happening.", "success")
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
        flash("You will not get any more emails from us. Your private page still works.", "success")
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
    org = current_app.config["CARELOOP_ORG_NAME"]
    rows = db.session.execute(published_changes_query().limit(50)).all()
    feed = FeedGenerator()
    feed.id(base + url_for("public.changes"))
    feed.title(f"{org}: We changed this")
    feed.subtitle("Changes made because people told us something wasn't working.")
    feed.link(href=base + url_for("public.changes"), rel="alternate")
    feed.link(href=base + url_for("public.changes_feed"), rel="self")
    feed.language("en")
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
            f"{problem.public_summary}\n\nWhat is different: {problem.change_what}\n"
            f"Since {problem.change_since.isoformat() if problem.change_since else ''}. "
            f"Reported by {row.people} {'person' if row.people == 1 else 'people'}."
        )
    updated = rows[0].Problem.published_at if rows else None
    if updated:
        feed.updated(updated.isoformat() + "+00:00")
    response = make_response(feed.atom_str(pretty=True))
    response.headers["Content-Type"] = "application/atom+xml; charset=utf-8"
    return response
