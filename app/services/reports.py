"""Filing reports and moving them between problems."""

from __future__ import annotations

import re
from datetime import date

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.events import record_event
from app.extensions import db
from app.grouping import similarity_index
from app.i18n import filing_language
from app.models import (
    OPEN_STATUSES,
    PROBLEM_CREATED,
    REPORT_FILED,
    REPORT_MOVED,
    Channel,
    Problem,
    Report,
    Reporter,
    ReporterKind,
    User,
    utcnow,
)
from app.services.errors import ServiceError
from app.services.permissions import require_leader, require_owner_or_admin
from app.services.telling import ensure_person
from app.templating import format_number

TITLE_LENGTH = 80
REGROUP = _l("Only leaders can regroup reports.")


_UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# The C0 controls' standard abbreviations, so a message can name the one it found ("U+0000 NUL").
_C0_NAMES = ("NUL SOH STX ETX EOT ENQ ACK BEL BS HT LF VT FF CR SO SI DLE DC1 DC2 DC3 DC4 NAK SYN ETB "
             "CAN EM SUB ESC FS GS RS US").split() + ["DEL"]


def refuse_unstorable(text: str, *, field: str, label: str) -> None:
    """Refuse text that PostgreSQL cannot store (NUL, lone surrogates) or that no person
    types (C0/C1 control characters other than tab, LF and CR), the same on every database."""
    found = _UNSTORABLE.search(text)
    if found:
        raise ServiceError(
            _("%(label)s contains a character we cannot store (%(code)s, an invisible control character "
              "or part of a broken one). Please remove it; nothing has been saved yet.",
              label=label, code=_describe(found.group())),
            field=field,
        )


def _describe(char: str) -> str:
    code = ord(char)
    name = _C0_NAMES[code] if code < 32 else "DEL" if code == 127 else None
    return f"U+{code:04X} {name}" if name else f"U+{code:04X}"


def clean_text(value: str | None, *, field: str, label: str, limit: int, required: bool = False,
               one_line: bool = False) -> str | None:
    """Strip a person's text and check its length; refuse rather than cut.

    Line breaks are normalised (CRLF and CR become LF); control characters other than tab
    and line breaks, and lone surrogates, are refused with a message (see ``refuse_unstorable``).
    ``one_line``: names, addresses and titles (they go into email headers) may not contain
    a line break at all; one is refused with a message by the field.
    """
    refuse_unstorable(value or "", field=field, label=label)
    text = (value or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if one_line and ("\n" in text or "\u2028" in text or "\u2029" in text):
        raise ServiceError(_("%(label)s must be on one line: please remove the line break. "
                             "Nothing has been saved yet.", label=label), field=field)
    if not text:
        if required:
            raise ServiceError(_("%(label)s is required.", label=label), field=field)
        return None
    if len(text) > limit:

        raise ServiceError(
            _("%(label)s is %(length)s characters long; the limit is %(limit)s. "
              "Please shorten it; nothing has been saved yet.",
              label=label, length=format_number(len(text)), limit=format_number(limit)),
            field=field,
        )
    return text


def new_reporter(
    *,
    name: str | None = None,
    email: str | None = None,
    contact_ok: bool = False,
    kind: ReporterKind = ReporterKind.CUSTOMER,
    language: str | None = None,
) -> Reporter:
    """A new person. Public filings never reuse a reporter by email, so nobody can
    read another person's reports by typing their address."""
    email = clean_text(email, field="email", label=_("Email"), limit=254, one_line=True)
    if contact_ok and not email:
        raise ServiceError(_("Give an email address so we can tell you what changed."), field="email")
    reporter = Reporter(
        display_name=clean_text(name, field="name", label=_("Name"), limit=120, one_line=True),
        email=email.lower() if email else None,
        contact_ok=bool(contact_ok and email),
        kind=ReporterKind(kind),
        locale=chosen_language(language),
    )
    db.session.add(reporter)
    if reporter.contact_ok:

        ensure_person(reporter.email)
    return reporter


def chosen_language(language: str | None) -> str:
    """The language a report is filed in: the one staff or an integration chose for the
    person (refused when this site does not offer it), else the page's language."""
    if not language:
        return filing_language()
    if language not in current_app.config["CARELOOP_LANGUAGES"]:
        raise ServiceError(_("This site does not offer the language “%(code)s”.", code=language), field="language")
    return language


def reporter_for_user(user: User) -> Reporter:
    """The staff member as a reporter of their own experience (one per account)."""
    reporter = db.session.scalar(db.select(Reporter).filter_by(user_id=user.id))
    if reporter is None:
        reporter = Reporter(
            display_name=user.name,
            email=user.email,
            kind=ReporterKind.STAFF,
            contact_ok=True,
            user=user,
            locale=filing_language(),
        )
        db.session.add(reporter)
    return reporter


def suggested_title(text: str) -> str:
    """A working title from the first words of a report, until a leader writes one."""
    first_line = " ".join(text.split())
    if len(first_line) <= TITLE_LENGTH:
        return first_line
    return first_line[:TITLE_LENGTH].rsplit(" ", 1)[0].rstrip(",.;:") + "…"


def file_report(
    *,
    text: str,
    reporter: Reporter,
    channel: Channel | str = Channel.WEB,
    location: str | None = None,
    occurred_on: date | None = None,
    impact: str | None = None,
    filed_by: User | None = None,
    source: str | None = None,
    external_id: str | None = None,
    problem: Problem | None = None,
    extra: dict | None = None,
    grouping: str | None = None,
    hold: bool = False,
    language: str | None = None,
    staff_note: str | None = None,
) -> Report:
    """Store one person's report and put it in a problem.

    Without ``problem`` the similarity engine places it (joins a matching problem, or
    starts a new one in triage, possibly with a question for a leader); with ``problem``
    it joins that one (``grouping="chosen"`` when the person said "me too"). ``extra``
    sets more ``Report`` columns in the same insert (importers: created_at, external_url).
    ``language``: the person's language when someone files for them (staff, the API);
    ``staff_note``: the filer's own note, kept apart from the person's words.
    """
    from app.services.grouping import Placement, after_filing, place

    limit = current_app.config["CARELOOP_MAX_REPORT_CHARS"]
    text = clean_text(text, field="text", label=_("What isn't working"), limit=limit, required=True)
    location = clean_text(location, field="location", label=_("Where it happened"), limit=200)
    impact = clean_text(impact, field="impact", label=_("How it affected you"), limit=limit)
    staff_note = clean_text(staff_note, field="staff_note", label=_("Your note"), limit=limit)
    if occurred_on and occurred_on > utcnow().date():
        raise ServiceError(_("That date is in the future."), field="occurred_on")
    if (source is None) != (external_id is None) or (Channel(channel) == Channel.IMPORT and source is None):
        raise ServiceError(_("An imported report needs both a source and an external id."))
    # Messages to the reporter go out in the language of their latest report.
    reporter.locale = chosen_language(language)
    if hold:  # moderation (CARELOOP_MODERATE_PUBLIC): stored, but placed only when a leader approves it
        from app.services.moderation import hold_report

        held = hold_report(text=text, reporter=reporter, channel=channel, location=location,
                           occurred_on=occurred_on, impact=impact)
        held.locale = reporter.locale
        return held

    if problem is not None and problem.merged_into_id is not None:
        problem = problem.merged_into
    placement = place(text) if problem is None else Placement(problem, grouping=grouping)
    problem = placement.problem
    if problem is None:
        problem = Problem(title=suggested_title(text), area=_configured_area(location))
        db.session.add(problem)
        record_event(PROBLEM_CREATED, filed_by, problem=problem, title=problem.title)

    report = Report(
        locale=reporter.locale,
        text=text,
        location=location,
        occurred_on=occurred_on,
        impact=impact,
        channel=Channel(channel),
        source=source,
        external_id=external_id,
        reporter=reporter,
        filed_by=filed_by,
        staff_note=staff_note,
        problem=problem,
        grouping=placement.grouping,
        grouping_score=placement.score,
        **(extra or {}),
    )
    db.session.add(report)
    # An import's event names its source too, so the history can say "came in through Zendesk".
    imported = {"source": report.source} if report.channel == Channel.IMPORT else {}
    record_event(REPORT_FILED, filed_by, problem=problem, report=report, channel=report.channel, **imported)
    if report.id is None or problem.id is None:
        db.session.flush()
    # else: an import page gave the new rows their ids already (app/imports/ids.py); they
    # are flushed with the page's next query or its commit, in the same transaction.
    after_filing(report, placement)
    return report


def _configured_area(location: str | None) -> str | None:
    if not location:
        return None
    for area in current_app.config["CARELOOP_AREAS"]:
        if area.lower() == location.lower():
            return area
    return None


def move_report(
    report: Report, actor: User, target: Problem | None = None, *,
    grouping: str | None = "moved", owner_check: bool = True,
) -> Problem:
    """Move a report to another problem, or (``target`` None) start a new problem from it."""

    require_leader(actor, REGROUP)
    source = report.problem
    if owner_check and source.owner_id is not None:
        require_owner_or_admin(source, actor, _("Only the problem's owner or an admin can move its reports."))
    if target is not None and target.merged_into_id is not None:
        target = target.merged_into
    if target is not None and target.owner_id is not None and target.status not in OPEN_STATUSES:
        # A closed problem's reporters are told of the move: only its owner (or an admin) decides.
        require_owner_or_admin(target, actor, _("Only the owner of #%(id)s or an admin can move reports into it.",
                                                id=target.id))
    if target is not None and target.id == source.id:
        raise ServiceError(_("The report is already in that problem."), field="target")
    if grouping == "moved":  # a leader's own move is a labelled decision for the grouping
        from app.services.grouping import learn_from_move

        learn_from_move(report, source, target, actor)
    if target is None:
        target = Problem(title=suggested_title(report.text), area=source.area)
        db.session.add(target)
        record_event(PROBLEM_CREATED, actor, problem=target, title=target.title, split_from=source.id)
    report.problem = target
    report.grouping = grouping
    report.grouping_score = None
    db.session.flush()
    similarity_index().move_report(report.id, target.id)
    for problem in (source, target):  # who is told what follows from these (services/telling.py)
        record_event(
            REPORT_MOVED,
            actor,
            problem=problem,
            report=report,
            before={"problem_id": source.id},
            after={"problem_id": target.id},
        )
    db.session.flush()
    return target
