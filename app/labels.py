"""Words people see for stored values (a channel, a message's status, a role…).

The database keeps the stable English values; pages show these translated labels through
the ``label`` template filter: ``{{ report.origin|label('channel') }}``. A value without a
label is shown as it is, except where a report came from: an import source's name is shown
as that source's title (``channel_label``).
"""

from __future__ import annotations

from flask import Flask, current_app, has_app_context
from flask_babel import format_date
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from app.i18n import RTL_LANGUAGES, current_language

CHANNEL_LABELS = {
    "web": _l("Web page"),
    "staff": _l("Filed by staff"),
    "api": _l("API"),
    # No "import": an imported report is shown by its source (channel_label).
}

LABELS = {
    "channel": CHANNEL_LABELS,
    # Whether a person was told (app.messaging.compose.notice_states and Reporter.contact_state).
    "notice": {
        "told": _l("told"),
        "waiting": _l("waiting"),
        "not yet": _l("not yet"),
        "failed": _l("failed"),
        "bounced": _l("bounced"),
        "unreachable": _l("unreachable"),
        "unsubscribed": _l("unsubscribed"),
        "no contact given": _l("no contact given"),
        "told in person": _l("told in person"),
    },
    "message_status": {
        "pending": _l("pending"),
        "sending": _l("sending"),
        "sent": _l("sent"),
        "failed": _l("failed"),
        "bounced": _l("bounced"),
        "unreachable": _l("unreachable"),
    },
    "message_kind": {
        "owned": _l("owned"),
        "changed": _l("changed"),
        "declined": _l("declined"),
        "moved": _l("moved"),
        "staff_copy": _l("staff copy"),
        "owner_flag": _l("still happening (to the owner)"),
        "write_back": _l("write back"),
        "digest": _l("digest"),
        "work_done": _l("work done (to the owner)"),
        "receipt": _l("receipt"),
        "link_again": _l("private link again"),
        "told_in_person": _l("told in person"),
        "answer": _l("a reply from the owner"),
        "ownership": _l("about ownership (to a leader)"),
        "invitation": _l("invitation"),
    },
    "reporter_kind": {"customer": _l("customer"), "staff": _l("staff")},
    "role": {"staff": _l("Staff"), "leader": _l("Leader"), "admin": _l("Admin")},
    # A linked issue's status category in Jira (or another tracker).
    "work": {"new": _l("to do"), "indeterminate": _l("in progress"), "done": _l("done"),
             "done_unreleased": _l("done, not released yet"), None: _l("unknown")},
    "reply": {"posted": _l("posted"), "waiting": _l("waiting"), "failed": _l("failed"), "withdrawn": _l("withdrawn")},
    # A step in a problem's history without a sentence of its own (templates/leaders/_event.html);
    # the English is the stored verb's own words.
    "event": {
        "report_updated": _l("report updated"),
        "grouped_automatically": _l("grouped automatically"),
        "grouping_undone": _l("grouping undone"),
        "duplicate_suggested": _l("duplicate suggested"),
        "duplicate_confirmed": _l("duplicate confirmed"),
        "duplicate_rejected": _l("duplicate rejected"),
        "recurrence_suspected": _l("recurrence suspected"),
        "merged": _l("merged"),
        "still_happening": _l("still happening"),
        "fix_confirmed": _l("said the change fixed it"),
        "told_in_person": _l("told in person"),
        "marked_unreachable": _l("marked unreachable"),
        "unsubscribed": _l("unsubscribed"),
        "linked": _l("linked"),
        "linked_work_done": _l("linked work done"),
        "report_removed": _l("report removed"),
    },
    # What started an import run (services.imports.import_from_source).
    "trigger": {"admin": _l("Run now"), "command": _l("command line"), "webhook": _l("webhook")},
}


def label(value, kind: str):
    """The translated label of ``value`` in the group ``kind``, or the value itself."""
    if kind == "channel":
        return channel_label(value)
    return LABELS.get(kind, {}).get(value, value)


def source_title(name: str | None) -> str | None:
    """The title a ticket source's plugin gives it ("Zendesk"), or its name when that plugin
    is not loaded (``CARELOOP_PLUGINS`` leaves it out): the core names no plugin."""
    if not name or not has_app_context():
        return name
    source = current_app.extensions.get("careloop.sources", {}).get(name)
    return source.title if source is not None else name


def channel_label(channel: str | None, source: str | None = None):
    """Where a report came from, in words: a channel's label ("Web page", "API"), or for an
    import the title of its source. ``channel`` is a report's channel, with its ``source``, or
    its ``origin`` alone (the source's name for an import), as queries group them; an audit
    event recorded before imports had one channel holds the source's name as its channel."""
    if channel == "import" and source:
        channel = source
    if channel in CHANNEL_LABELS:
        return CHANNEL_LABELS[channel]
    return source_title(channel)


def short_date(value) -> str:
    """A date in a table cell, in the page's language: "5 Mar 2026", "5 März 2026", "5 مارس 2026"."""
    if value is None:
        return ""
    return format_date(value, "d\u00a0MMM y")


def bdi(value) -> Markup | str:
    """People's own words (a name, a title, a reason), isolated on right-to-left pages so that
    a Latin name inside an Arabic sentence keeps its place instead of pulling the words around
    it into left-to-right order: ``{{ _('%(who)s took ownership', who=name|bdi) }}``.
    Left-to-right pages get the plain (escaped) text."""

    if current_language() in RTL_LANGUAGES:
        return Markup("<bdi>%s</bdi>") % value
    return value


def init_app(app: Flask) -> None:
    app.jinja_env.filters["label"] = label
    app.jinja_env.filters["channel_label"] = channel_label
    app.jinja_env.filters["source_title"] = source_title
    app.jinja_env.filters["short_date"] = short_date
    app.jinja_env.filters["bdi"] = bdi
