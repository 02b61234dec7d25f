"""Filing a report: the one service behind every way in (public form, staff form, API, importers).

``submit_report`` takes the same steps in the same order for every channel, so no channel can
skip one or count it differently:

1. spam defences (the public form's honeypot and its "sent too soon" check);
2. the "Is it one of these?" step: suggestions first, or the problem the person chose;
3. the filing limit per client address, one budget shared by the public form and the API;
4. the reporter (the person it happened to, or the signed-in staff member);
5. moderation (anonymous public filings are held when it is on);
6. the report, placed in a problem by the grouping engine or the person's choice.

It returns a small result (``Filed``, ``ChooseFirst``, ``Discarded``) or raises a
``ServiceError`` for the form field at fault, or ``RateLimited``. It adds and flushes; the
caller commits.

Imported tickets (``Submission.imported`` set, by ``app/imports/importer.py``) go through
the same call and skip, on purpose, the steps that belong to a person at a form:

- 1, spam defences: the ticket comes from a signed-in source (an agent's API token), not a
  browser; the source's own spam handling applies there;
- 2, "Is it one of these?": nobody is there to answer; the grouping engine places the
  report, or the source's own grouping does (``Imported.problem``: a ticket merged into
  another, an incident linked to a problem ticket);
- 3, the filing limit: there is no client address; the source's rate limit and the run's
  lock bound an import;
- 5, moderation: imported tickets are not anonymous public filings.

They keep 4 (a new reporter each time, never reused by email) and 6 (the field rules of
``file_report`` and the placement), with the ticket's source, external id, dates and links
stored on the report. The importer looks up ``(source, external_id)`` before filing (the
database's unique constraint backs it), so the service does not look again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import gettext as _
from sqlalchemy import select

from app.extensions import db
from app.models import Channel, Problem, Report, Reporter, ReporterKind, User
from app.security import spam
from app.security.ratelimit import hit
from app.services.errors import ServiceError
from app.services.grouping import suggestions, visible_open_problem_ids
from app.services.moderation import moderation_on
from app.services.reports import file_report, new_reporter, reporter_for_user


@dataclass(frozen=True)
class Person:
    """The person a report is about, as given when filing."""

    name: str | None = None
    email: str | None = None
    contact_ok: bool = False


@dataclass(frozen=True)
class Imported:
    """A ticket from a ticket source (an importer), filed as a report."""

    source: str  # the source's name ("zendesk", "jira")
    external_id: str  # the ticket's id there; unique per source
    created_at: datetime | None = None  # when the ticket was made (the report's time)
    updated_at: datetime | None = None
    url: str | None = None
    merged_into: str | None = None  # the ticket a remote merge moved it into
    linked_to: str | None = None  # the remote ticket that groups it (a Zendesk problem ticket)
    linked_url: str | None = None
    problem: Problem | None = None  # the problem the source's own grouping puts it in


@dataclass(frozen=True)
class Submission:
    text: str
    location: str | None = None
    occurred_on: date | None = None
    impact: str | None = None
    # The person it happened to; None when signed-in staff file about themselves.
    person: Person | None = None
    # The forms' "Is it one of these?" answer: a problem id, "new", or nothing yet.
    problem_choice: str | None = None
    suggestions_seen: bool = False  # the form's script already showed them while the person typed
    problem_id: int | None = None  # the API's "me too": straight into this problem
    external_id: str | None = None  # the API with a token: the caller's own id, unique per token
    honeypot: str | None = None  # the public form's spam defences
    shown: str | None = None
    # Filing for someone else (staff, the API): the person's language, and the filer's own
    # note, kept apart from the person's words and never quoted to them.
    language: str | None = None
    staff_note: str | None = None
    # An imported ticket (the importer): the steps of a person at a form are skipped.
    imported: Imported | None = None


@dataclass(frozen=True)
class Filed:
    report: Report


@dataclass(frozen=True)
class ChooseFirst:
    """Nothing is stored yet: offer these problems first ("Is it one of these?")."""

    suggestions: list[dict]
    refused_choice: bool = False  # the person chose a problem they may not choose


@dataclass(frozen=True)
class Discarded:
    """A bot filled in the honeypot: nothing was stored, and it is thanked as usual."""


class SentTooSoon(ServiceError):
    """The public form came back sooner than a person could have written it."""


class DuplicateExternalId(ServiceError):
    def __init__(self, existing_report_id: int):
        super().__init__(_("A report with this external id was already filed with this token."), field="external_id")
        self.existing_report_id = existing_report_id


def submit_report(
    submission: Submission,
    *,
    channel: Channel,
    client: str | None = None,
    filed_by: User | None = None,
    token_id: int | None = None,
) -> Filed | ChooseFirst | Discarded:
    """File one report through every step (see the module's docstring).

    :param channel: ``WEB`` (the public form), ``STAFF`` (signed-in staff, ``filed_by`` set) or
        ``API`` (``token_id`` set when the caller has a token).
    :param client: the client's address, for the filing limit of anonymous channels.

    With ``submission.imported`` (an importer) ``channel`` is the import's channel, passed
    through as the importer chose it; see the module's docstring for the steps skipped.
    """
    if submission.imported is not None:
        return Filed(_file_imported(submission, channel))
    anonymous = filed_by is None and token_id is None
    if channel == Channel.WEB:
        if spam.is_bot(submission.honeypot):
            spam.record_discarded("honeypot", client or "unknown")
            return Discarded()
        if spam.too_quick(submission.shown):
            raise SentTooSoon(_("We have not sent your report yet: it came back faster than we expected "
                                "from a person. Please check it and press “Send my report” again."))

    staff_view = not anonymous
    chosen = None
    if submission.problem_id is not None:
        if submission.problem_id not in visible_open_problem_ids(staff=staff_view):
            raise ServiceError(_("That problem cannot be chosen; leave it out to file as new."), field="problem_id")
        chosen = db.session.get(Problem, submission.problem_id)
    elif channel != Channel.API:
        choice = (submission.problem_choice or "").strip()
        if choice.isdigit():
            if int(choice) not in visible_open_problem_ids(staff=staff_view):
                return ChooseFirst(suggestions(submission.text, staff=staff_view), refused_choice=True)
            chosen = db.session.get(Problem, int(choice))
        elif choice != "new" and not submission.suggestions_seen:
            offered = suggestions(submission.text, staff=staff_view)
            if offered:
                return ChooseFirst(offered)

    if not anonymous and submission.person is not None and not (submission.person.name or "").strip():
        raise ServiceError(_("Give the name of the person this happened to, so their report stays theirs."),
                           field="name")
    source, external_id = _external_id(submission.external_id, token_id)
    if anonymous:
        hit("filing", client or "unknown")  # commits its counter: call before changing anything

    report = file_report(
        text=submission.text,
        location=submission.location,
        occurred_on=submission.occurred_on,
        impact=submission.impact,
        reporter=_reporter(submission.person, filed_by, submission.language),
        channel=channel,
        filed_by=filed_by,
        problem=chosen,
        grouping="chosen" if chosen else None,
        source=source,
        external_id=external_id,
        hold=anonymous and moderation_on(),
        language=submission.language if submission.person is not None else None,
        staff_note=submission.staff_note if submission.person is not None and filed_by is not None else None,
    )
    return Filed(report)


def _file_imported(submission: Submission, channel: Channel) -> Report:
    """An imported ticket: a new reporter and the report, nothing of a form's steps."""
    imported = submission.imported
    person = submission.person or Person()
    # No flush for the person lookup: the last ticket's pending rows go with this one's
    # (an import page files many in one transaction; its people are made per page).
    with db.session.no_autoflush:
        reporter = new_reporter(name=person.name, email=person.email, contact_ok=person.contact_ok)
    extra = {"external_url": imported.url, "external_updated_at": imported.updated_at,
             "merged_into": imported.merged_into, "linked_to": imported.linked_to,
             "linked_url": imported.linked_url}
    if imported.created_at:
        extra["created_at"] = imported.created_at
    try:
        return file_report(
            text=submission.text,
            reporter=reporter,
            channel=channel,
            source=imported.source,
            external_id=str(imported.external_id),
            location=submission.location,
            problem=imported.problem,
            extra=extra,
        )
    except ServiceError:
        db.session.expunge(reporter)  # a refused ticket leaves nothing behind
        raise


def _reporter(person: Person | None, filed_by: User | None, language: str | None) -> Reporter:
    if person is None:
        if filed_by is None:
            raise ServiceError(_("Give the name of the person this happened to, so their report stays theirs."),
                               field="name")
        return reporter_for_user(filed_by)
    return new_reporter(name=person.name, email=person.email, contact_ok=person.contact_ok,
                        kind=ReporterKind.CUSTOMER, language=language)


def _external_id(external_id: str | None, token_id: int | None) -> tuple[str | None, str | None]:
    """The (source, external id) pair of an API filing; each token is its own source."""
    external_id = (external_id or "").strip() or None
    if external_id is None:
        return None, None
    if token_id is None:
        raise ServiceError(_("Only integrations with a token may give an external id."), field="external_id")
    if len(external_id) > 200:
        raise ServiceError(_("The external id is too long (at most 200 characters)."), field="external_id")
    source = f"api-token-{token_id}"
    existing = db.session.scalar(select(Report.id).where(Report.source == source, Report.external_id == external_id))
    if existing is not None:
        raise DuplicateExternalId(existing)
    return source, external_id
