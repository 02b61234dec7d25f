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
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

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
    """
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
