"""Telling people: personal messages that quote their own words, written to the outbox.

Messages are rendered and added to the session in the same transaction as the event
that causes them (the caller commits); ``app/messaging/mail.py`` delivers them later.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from flask import current_app, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.events import record_event
from app.extensions import db
from app.i18n import language
from app.models import (
    CLOSING_KINDS,
    MARKED_UNREACHABLE,
    STILL_HAPPENING,
    UNSUBSCRIBED,
    Channel,
    Event,
    Message,
    MessageKind,
    MessageStatus,
    Problem,
    Report,
    Reporter,
    User,
    utcnow,
)
from app.services.branding import org_name as branded_org_name
from app.services.errors import PermissionDenied
from app.services.permissions import require_owner_or_admin
from app.services.reports import clean_text

QUOTE_CHARS = 600
# Lazy: each subject is translated when a message is rendered, in its recipient's language.
SUBJECTS = {
    MessageKind.OWNED: _l("%(owner)s now owns the problem you told us about"),
    MessageKind.CHANGED: _l("We changed this: %(title)s"),
    MessageKind.DECLINED: _l("Our answer about the problem you told us about"),
    MessageKind.MOVED: _l("Your report has moved to problem #%(problem_id)s"),
    MessageKind.STAFF_COPY: _l("%(reporter)s was told: %(what)s"),
    MessageKind.OWNER_FLAG: _l("Still happening: %(title)s"),
    MessageKind.WRITE_BACK: "%(title)s",
    MessageKind.WORK_DONE: _l("The work is done: record the change for #%(problem_id)s"),
    MessageKind.OWNERSHIP: _l("About problem #%(problem_id)s: %(title)s"),
    MessageKind.ANSWER: _l("A reply about the problem you told us about"),
}
# What a staff copy says the customer was told (in the subject and the body).
STAFF_COPY_WHAT = {
    MessageKind.OWNED: _l("who owns it"),
    MessageKind.CHANGED: _l("what changed"),
    MessageKind.DECLINED: _l("our answer"),
    MessageKind.MOVED: _l("where it moved"),
}


@dataclass
class Rendered:
    subject: str
    text: str
    html: str | None


def _links(reporter: Reporter) -> dict[str, str]:
    base = current_app.config["CARELOOP_BASE_URL"]
    return {
        "report_url": f"{base}/r/{reporter.token}",
        "unsubscribe_url": f"{base}/r/{reporter.token}/unsubscribe",
    }


def render_message(
    kind: MessageKind, problem: Problem, *, reporter: Reporter | None = None,
    reports: list[Report] = (), note: str | None = None, **extra,
) -> Rendered:
    """Render one message from templates/mail/<kind>.txt and .html.

    A message to a reporter is written in the language they filed in (``Reporter.locale``);
    messages to staff and leaders in the organisation's default language. Subject and
    body alike; the person's own words are quoted as they wrote them.
    """
    with language(reporter.locale if reporter is not None else None):
        return _render_message(kind, problem, reporter=reporter, reports=reports, note=note, **extra)


def _render_message(kind, problem, *, reporter, reports, note, **extra) -> Rendered:
    context = dict(
        kind=kind, problem=problem, reporter=reporter, reports=list(reports), note=note,
        org_name=branded_org_name(),
        base_url=current_app.config["CARELOOP_BASE_URL"],
        owner=problem.owner, quote_chars=QUOTE_CHARS, **extra,
    )
    if reporter is not None:
        context.update(_links(reporter))
    subject = str(SUBJECTS[kind]) % dict(
        owner=problem.owner.name if problem.owner else _("Someone"),
        title=problem.public_title or problem.title,
        problem_id=problem.id,
        reporter=extra.get("customer_name", ""),
        what=extra.get("what", ""),
    )
    text = render_template(f"mail/{kind}.txt", **context)
    html = None if kind == MessageKind.WRITE_BACK else render_template(f"mail/{kind}.html", **context)
    return Rendered(subject=subject, text=text, html=html)


def _reports_by_reporter(problem: Problem, reports: list[Report] | None = None) -> dict[Reporter, list[Report]]:
    grouped: dict[Reporter, list[Report]] = defaultdict(list)
    for report in reports if reports is not None else problem.reports:
        if report.removed_at is None:
            grouped[report.reporter].append(report)
    return grouped


def notify_reporters(
    problem: Problem, kind: MessageKind, event: Event | None = None, *,
    note: str | None = None, reports: list[Report] | None = None, **extra,
) -> list[Message]:
    """One message per distinct reporter who may be emailed, quoting each of their reports;
    a copy to staff who filed for a customer; a reply on each imported ticket that can take one."""
    messages = []
    for reporter, their_reports in _reports_by_reporter(problem, reports).items():
        if reporter.can_be_emailed:
            rendered = render_message(kind, problem, reporter=reporter, reports=their_reports, note=note, **extra)
            messages.append(add_message(kind, problem, event, rendered, to=reporter.email,
                                 reporter=reporter, reports=their_reports))
        messages += _staff_copies(problem, kind, event, reporter, their_reports)
        if kind in CLOSING_KINDS:
            messages += _write_backs(problem, kind, event, their_reports, note)
    return messages


def _staff_copies(problem, kind, event, reporter: Reporter, reports: list[Report]) -> list[Message]:
    """Staff who filed for a customer hear what the customer heard (or that they could not)."""
    filers = {r.filed_by for r in reports if r.filed_by is not None and r.filed_by.id != reporter.user_id}
    copies = []
    for staff in filers:
        if not staff.active:
            continue
        filed = [r for r in reports if r.filed_by_id == staff.id]
        what = STAFF_COPY_WHAT.get(kind, str(kind))
        rendered = render_message(
            MessageKind.STAFF_COPY, problem, reports=filed, staff=staff, customer=reporter,
            customer_name=reporter.name_or_anonymous, what=what, notice_kind=kind,
            customer_told=reporter.can_be_emailed, customer_state=reporter.contact_state,
        )
        copies.append(add_message(MessageKind.STAFF_COPY, problem, event, rendered, to=staff.email,
                           user=staff, reporter=reporter, reports=filed))
    return copies


def _write_backs(problem, kind, event, reports: list[Report], note: str | None) -> list[Message]:
    from app.plugins.manager import source_settings, ticket_sources

    sources = ticket_sources()
    replies = []
    for report in reports:
        source = sources.get(report.source or "")
        if source is None or not source.replies_wanted(source_settings(source)):
            continue
        rendered = render_message(MessageKind.WRITE_BACK, problem, reporter=report.reporter,
                                  reports=[report], note=note, notice_kind=kind)
        replies.append(add_message(MessageKind.WRITE_BACK, problem, event, rendered,
                            to=f"{report.source}:{report.external_id}", reporter=report.reporter,
                            reports=[report]))
    return replies


def add_message(kind, problem, event, rendered: Rendered, *, to: str, reporter=None, user=None, reports=()) -> Message:
    if event is not None and event.id is None:
        db.session.flush()
    message = Message(
        kind=kind, problem=problem, reporter=reporter, user=user,
        event_id=event.id if event is not None else None,
        report_ids=[r.id for r in reports], to_address=to,
        subject=rendered.subject[:300], body_text=rendered.text, body_html=rendered.html,
    )
    db.session.add(message)
    return message


def preview(problem: Problem, kind: MessageKind, *, note: str | None = None, **extra) -> tuple[Reporter | None, Rendered | None, int]:
    """A real recipient's message as it would go out, and how many people would be emailed."""
    grouped = _reports_by_reporter(problem)
    reachable = [(r, reps) for r, reps in grouped.items() if r.can_be_emailed]
    if not reachable:
        return None, None, 0
    reporter, reports = reachable[0]
    return reporter, render_message(kind, problem, reporter=reporter, reports=reports, note=note, **extra), len(reachable)


@dataclass
class PersonNotice:
    reporter: Reporter
    reports: list[Report]
    state: str  # told, waiting, failed, bounced, unreachable, no contact given, unsubscribed, not yet
    when: datetime | None = None
    why: str | None = None


def notice_states(problem: Problem) -> list[PersonNotice]:
    """Per person: whether they were told about this problem's latest notice, and how."""
    from app.queries import latest_notices

    grouped = _reports_by_reporter(problem)
    latest = latest_notices([(reporter.id, problem.id) for reporter in grouped])
    people = []
    for reporter, reports in grouped.items():
        message = latest.get((reporter.id, problem.id))
        if reporter.contact_state and (message is None or message.status != MessageStatus.UNREACHABLE):
            people.append(PersonNotice(reporter, reports, reporter.contact_state))
        elif message is None:
            people.append(PersonNotice(reporter, reports, "not yet"))
        else:
            state = {MessageStatus.SENT: "told", MessageStatus.PENDING: "waiting",
                     MessageStatus.SENDING: "waiting"}.get(message.status, message.status)
            people.append(PersonNotice(reporter, reports, state, message.sent_at or message.created_at,
                                       message.last_error))
    return people


def mark_unreachable(problem: Problem, reporter: Reporter, actor: User, reason: str) -> Message:
    """Record that a person cannot be told, and why; it counts as done for closing out."""
    require_owner_or_admin(problem, actor)
    reason = clean_text(reason, field="reason", label=_("The reason"), limit=500, required=True)
    event = record_event(MARKED_UNREACHABLE, actor, problem=problem, reporter_id=reporter.id, reason=reason)
    message = Message(
        kind=MessageKind.CHANGED if problem.status == "changed" else MessageKind.DECLINED,
        status=MessageStatus.UNREACHABLE, problem=problem, reporter=reporter,
        to_address=reporter.email or "", subject="(not sent)", body_text="", last_error=reason,
    )
    db.session.add(message)
    db.session.flush()
    message.event_id = event.id
    return message


def unsubscribe(reporter: Reporter) -> None:
    """Stop all mail to this person, now and later; waiting messages are withdrawn."""
    if reporter.unsubscribed_at is not None:
        return
    reporter.unsubscribed_at = utcnow()
    db.session.execute(
        db.update(Message)
        .where(Message.reporter_id == reporter.id, Message.user_id.is_(None),
               Message.status == MessageStatus.PENDING, Message.kind != MessageKind.WRITE_BACK)
        .values(status=MessageStatus.FAILED, last_error="unsubscribed before it was sent")
    )
    record_event(UNSUBSCRIBED, None, reporter_id=reporter.id)
    db.session.flush()


def still_happening(reporter: Reporter, report: Report, words: str | None) -> Report:
    """The reporter says it is still happening: a new report from them on the same problem,
    flagged to the owner."""
    from app.services.reports import file_report

    if report.reporter_id != reporter.id:
        raise PermissionDenied(_("That is not your report."))
    problem = report.problem
    text = (words or "").strip() or _("This is still happening.")
    new = file_report(text=text, reporter=reporter, channel=Channel.WEB, problem=problem)
    event = record_event(STILL_HAPPENING, None, problem=problem, report=new, status=problem.status)
    db.session.flush()
    if problem.owner is not None and problem.owner.active:
        rendered = render_message(MessageKind.OWNER_FLAG, problem, reports=[new], flagged_by=reporter)
        add_message(MessageKind.OWNER_FLAG, problem, event, rendered, to=problem.owner.email,
             user=problem.owner, reports=[new])
    return new
