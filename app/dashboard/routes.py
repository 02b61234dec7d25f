"""Leaders' pages: the dashboard (their home), the backlog, each leader's page, CSV exports."""

from __future__ import annotations

from dataclasses import asdict

from flask import abort, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.datastructures import MultiDict
from wtforms.fields.choices import SelectChoice

from app.dashboard.blueprint import bp
from app.dashboard.charts import charts_for
from app.dashboard.exports import csv_response
from app.dashboard.forms import NATURAL_ORDER, SORT_LABELS, BacklogForm
from app.dashboard.queue import queue_for
from app.extensions import db
from app.grouping.panel import grouping_panel
from app.labels import channel_label
from app.models import User, utcnow
from app.queries.dashboard import (
    FIGURES,
    BacklogFilter,
    backlog_choices,
    backlog_ids,
    backlog_page,
    backlog_rows,
    channels_of,
    days_between,
    headline,
    leader_record,
)
from app.urls import external_url
from app.web import leader_required

PER_PAGE = 25


@bp.route("/dashboard")
@leader_required
def index():
    figures = {key: build() for key, build in FIGURES.items()}
    charts = {key: charts_for(figure) for key, figure in figures.items()}

    return render_template("dashboard/index.html", figures=figures, charts=charts, head=headline(),
                           queue=queue_for(current_user))


@bp.route("/dashboard/grouping")
@leader_required
def grouping():
    """How well duplicate grouping works, month by month (app/grouping/panel.py)."""

    return render_template("dashboard/grouping.html", months=grouping_panel())


@bp.route("/dashboard/<figure>.csv")
@leader_required
def figure_csv(figure):
    build = FIGURES.get(figure)
    if build is None:
        abort(404)
    # Files are for spreadsheets and scripts: their headers and labels stay in English
    # whatever the page's language, so a download reads the same for everyone.
    with force_locale("en"):
        f = build()
    return csv_response(f.columns, f.rows, f"careloop-{figure}-{utcnow():%Y-%m-%d}.csv")


def _backlog_form() -> tuple[BacklogForm, BacklogFilter]:
    """The filters from the URL. A value that does not fit (an old link, a typo) is shown
    as an error and left out, rather than refusing the whole page."""
    form = BacklogForm(formdata=MultiDict(request.args))
    choices = backlog_choices()
    form.owner.choices = [SelectChoice("", _("Anyone")), SelectChoice("none", _("Nobody yet"))] + [
        SelectChoice(str(o.id), o.name if o.active else _("%(name)s (account deactivated)", name=o.name))
        for o in choices["owners"]]
    form.area.choices = [SelectChoice("", _("Any area")), SelectChoice("none", _("No area"))] + [
        SelectChoice(a, a) for a in choices["areas"]]
    form.channel.choices = [SelectChoice("", _("Any channel"))] + [
        SelectChoice(o, channel_label(o)) for o in choices["origins"]]
    form.validate()

    def value(name: str):
        field = getattr(form, name)
        return field.default if field.errors else field.data

    sort = value("sort") or "people"
    f = BacklogFilter(
        q=(value("q") or "").strip(), owner=value("owner") or "", area=value("area") or "",
        status=value("status") or "", channel=value("channel") or "", due=value("due") or "",
        people=value("people"), age=int(value("age") or 0) or None, idle=int(value("idle") or 0) or None,
        sort=sort, order=value("order") or NATURAL_ORDER[sort],
    )
    form.sort.data = sort
    return form, f


def _args(f: BacklogFilter, **changes) -> dict:
    """The URL query for a filter, leaving out what is blank or the default."""
    values = {**asdict(f), **changes}
    if values["order"] == NATURAL_ORDER.get(values["sort"]):
        del values["order"]
    if values["sort"] == "people":
        del values["sort"]
    return {k: v for k, v in values.items() if v not in ("", None)}


def _is_filtered(f: BacklogFilter) -> bool:
    return any(v not in ("", None) for k, v in asdict(f).items() if k not in ("sort", "order"))


@bp.route("/backlog")
@leader_required
def backlog():
    form, f = _backlog_form()
    page_number = request.args.get("page", 1, type=int)
    page = backlog_page(f, page_number, PER_PAGE)
    if page is None:
        abort(404)
    channels = channels_of([row.Problem.id for row in page.items])

    def sort_url(key: str) -> str:
        order = NATURAL_ORDER[key]
        if f.sort == key:
            order = "asc" if f.order == "desc" else "desc"
        return url_for("dashboard.backlog", **_args(f, sort=key, order=order))

    return render_template(
        "dashboard/backlog.html", form=form, f=f, page=page, channels=channels, sort_url=sort_url,
        page_url=lambda n: url_for("dashboard.backlog", **_args(f), page=n),
        csv_url=url_for("dashboard.backlog_csv", **_args(f)), filtered=_is_filtered(f),
        sort_label=str(SORT_LABELS[f.sort]),
    )


BACKLOG_COLUMNS = [
    "Problem", "Title", "Area", "Status", "Owner", "People affected", "Reports", "First reported (UTC)",
    "Days since first report", "Last action (UTC)", "Days since last action", "Due", "Overdue", "Handoffs",
    "Channels", "Link",
]


@bp.route("/backlog.csv")
@leader_required
def backlog_csv():
    _form, f = _backlog_form()
    now = utcnow()
    rows = backlog_rows(f, now)
    owners = dict(db.session.execute(db.select(User.id, User.name)).all())
    channels = channels_of(backlog_ids(f, now))
    table = []
    for row in rows:
        p = row.Problem
        table.append((
            p.id, p.title, p.area, p.status, owners.get(p.owner_id, ""), row.people, row.reports,
            _iso(row.first_at), _days(row.first_at, now), _iso(row.acted_at), _days(row.acted_at, now),
            p.due_on.isoformat() if p.due_on else "", "yes" if p.due_on and p.due_on < now.date() else "no",
            row.handoffs, " ".join(f"{c}:{n}" for c, n in channels.get(p.id, [])),
            external_url("leaders.problem", problem_id=p.id),
        ))
    return csv_response(BACKLOG_COLUMNS, table, f"careloop-backlog-{now:%Y-%m-%d}.csv")


def _iso(value) -> str:
    return value.isoformat(sep=" ", timespec="minutes") if value else ""


def _days(start, now) -> str:
    days = days_between(start, now)
    return "" if days is None else f"{days:.1f}"


@bp.route("/dashboard/leaders/<int:user_id>")
@leader_required
def leader(user_id):
    user = db.get_or_404(User, user_id)
    return render_template("dashboard/leader.html", leader=user, record=leader_record(user),
                           is_me=user.id == current_user.id)
