"""Composing messages: personal messages that quote their own words, written to the outbox.

Who is told what, and when, is decided in ``app/services/telling.py`` from the recorded
events; this module renders each kind (templates/mail/<kind>.txt and .html) and adds it to
the session in the same transaction (the caller commits); ``app/messaging/mail.py``
delivers it later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.events import record_event
from app.extensions import db
from app.i18n import language
from app.models import (
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
from app.plugins.manager import source_settings, ticket_sources
from app.services.branding import org_name as branded_org_name
from app.services.errors import PermissionDenied
from app.services.permissions import require_owner_or_admin
from app.services.reports import clean_text, file_report
from app.services.telling import desired, family, people_in, person_for
from app.urls import external_url

QUOTE_CHARS = 600
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


def header_line(text: str) -> str:
    """Text made safe for one mail header: every line break (CR, LF and the other separators
    ``str.splitlines`` knows) becomes a space, so a name or title cannot start a header of its own."""
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def render_subject(kind: MessageKind | str, /, **context) -> str:
    """A message's subject, from its template beside the body (templates/mail/<kind>.subject.txt),
    translated like the body, on one line."""
    return header_line(render_template(f"mail/{kind}.subject.txt", **context))


def _links(reporter: Reporter) -> dict[str, str]:
    """Links in a message to a person: their own page (every report filed with their
    address), which only their mailbox ever receives."""

    token = person_for(reporter.email).token if reporter.email else reporter.token
    return {
        "report_url": external_url("public.my_report", token=token),
        "unsubscribe_url": external_url("public.unsubscribe_page", token=token),
        "link_token": token,  # for the "Did this fix it for you?" answers (public.answer)
    }


def render_message(
    kind: MessageKind, problem: Problem, *, reporter: Reporter | None = None,
    reports: list[Report] = (), note: str | None = None, **extra,
) -> Rendered:
    """Render one message from templates/mail/<kind>.subject.txt, .txt and .html.

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
        owner=problem.owner if problem is not None else None, quote_chars=QUOTE_CHARS, **extra,
    )
    if reporter is not None:
        context.update(_links(reporter))
        context.setdefault("greeting", str(reporter.name_or_anonymous))
    subject = render_subject(kind, **context)
    text = render_template(f"mail/{kind}.txt", **context)
    html = None if kind == MessageKind.WRITE_BACK else render_template(f"mail/{kind}.html", **context)
    return Rendered(subject=subject, text=text, html=html)


def staff_copies(problem, kind, reporter: Reporter, reports: list[Report], *, notice_key: str | None = None,
                 customer_told: bool = True) -> list[Message]:
    """Staff who filed for a customer hear what the customer heard (or that they could not,
    so they can tell them in person)."""
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
            customer_told=customer_told, customer_state=reporter.contact_state,
        )
        copies.append(add_message(MessageKind.STAFF_COPY, problem, None, rendered, to=staff.email,
                                  user=staff, reporter=reporter, reports=filed, notice_key=notice_key))
    return copies


def write_backs(problem, kind, reports: list[Report], note: str | None, *, notice_key: str | None = None,
                told: set[str] = frozenset()) -> list[Message]:
    """A public reply on each imported ticket that takes one (once per outcome)."""

    sources = ticket_sources()
    replies = []
    for report in reports:
        source = sources.get(report.source or "")
        if report.removed_at is not None:
            continue  # the ticket was deleted: nobody to reply to
        if source is None or not source.replies_wanted(source_settings(source)):
            continue
        to = f"{report.source}:{report.external_id}"
        if to in told:
            continue
        rendered = render_message(MessageKind.WRITE_BACK, problem, reporter=report.reporter,
                                  reports=[report], note=note, notice_kind=kind)
        replies.append(add_message(MessageKind.WRITE_BACK, problem, None, rendered, to=to,
                                   reporter=report.reporter, reports=[report], notice_key=notice_key))
    return replies


def add_message(kind, problem, event, rendered: Rendered, *, to: str, reporter=None, user=None, reports=(),
                notice_key: str | None = None) -> Message:
    if event is None and problem is not None:  # the event that caused it: the problem's latest (flushed)
        event_id = db.session.scalar(db.select(db.func.max(Event.id)).where(Event.problem_id == problem.id))
    else:
        if event is not None and event.id is None:
            db.session.flush()
        event_id = event.id if event is not None else None
    message = Message(
        kind=kind, problem=problem, reporter=reporter, user=user, notice_key=notice_key,
        event_id=event_id,
        report_ids=[r.id for r in reports], to_address=to,
        subject=rendered.subject[:300], body_text=rendered.text, body_html=rendered.html,
    )
    db.session.add(message)
    return message


def preview(problem: Problem, kind: MessageKind, *, note: str | None = None, **extra) -> tuple[Reporter | None, Rendered | None, int]:
    """A real recipient's message as it would go out, and how many people would be emailed."""

    reachable = [g for g in people_in(problem) if g.reachable]
    if not reachable:
        return None, None, 0
    group = reachable[0]
    rendered = render_message(kind, problem, reporter=group.reporter, reports=group.reports, note=note,
                              greeting=group.name, **extra)
    return group.reporter, rendered, len(reachable)


PERSON_NOTICE_KINDS = (MessageKind.OWNED, MessageKind.CHANGED, MessageKind.DECLINED, MessageKind.MOVED,
                       MessageKind.RECEIPT, MessageKind.TOLD_IN_PERSON)


@dataclass
class PersonNotice:
    reporter: Reporter
    reports: list[Report]
    state: str  # told, waiting, failed, bounced, unreachable, no contact given, unsubscribed, not yet
    when: datetime | None = None
    why: str | None = None


def notice_states(problem: Problem) -> list[PersonNotice]:
    """Per person: whether they were told what they should know now, and how. "Told" only
    when the message that says it (who owns it, the change, the answer) was delivered."""

    wanted = desired(problem)
    problem_ids = family(problem)
    by_recipient: dict[str, Message] = {}
    for message in db.session.scalars(
        db.select(Message).where(Message.problem_id.in_(problem_ids), Message.user_id.is_(None),
                                 Message.kind.in_(PERSON_NOTICE_KINDS)).order_by(Message.id)
    ):
        if wanted is None or message.notice_key == wanted[1] or (
                wanted[0] == MessageKind.OWNED and (message.notice_key or "").startswith(("owned:", "changed:",
                                                                                            "declined:"))):
            by_recipient[message.to_address] = message
            if message.reporter_id is not None:
                by_recipient[f"reporter:{message.reporter_id}"] = message
    replies = ticket_replies_by_reporter(problem_ids, wanted[1] if wanted else None)
    people = []
    for group in people_in(problem):
        reporter, reports = group.reporter, group.reports
        message = by_recipient.get(group.email or group.key)
        if message is None and wanted is None:
            message = None
        reply = next((replies[r.id] for r in group.reporters if r.id in replies), None)
        if message is not None and message.kind == MessageKind.TOLD_IN_PERSON:
            people.append(PersonNotice(reporter, reports, "told in person", message.sent_at, message.subject))
        elif reporter.contact_state and reply is not None and (
                message is None or message.status != MessageStatus.UNREACHABLE):
            # Not emailed, but answered on their ticket: told when the reply is posted.
            state = {MessageStatus.SENT: "told", MessageStatus.PENDING: "waiting",
                     MessageStatus.SENDING: "waiting"}.get(reply.status, reply.status)
            people.append(PersonNotice(reporter, reports, state, reply.sent_at or reply.created_at,
                                       reply.last_error or reply.to_address))
        elif reporter.contact_state and (message is None or message.status != MessageStatus.UNREACHABLE):
            people.append(PersonNotice(reporter, reports, reporter.contact_state))
        elif message is None:
            people.append(PersonNotice(reporter, reports, "not yet"))
        else:
            state = {MessageStatus.SENT: "told", MessageStatus.PENDING: "waiting",
                     MessageStatus.SENDING: "waiting"}.get(message.status, message.status)
            people.append(PersonNotice(reporter, reports, state, message.sent_at or message.created_at,
                                       message.last_error))
    return people


def ticket_replies_by_reporter(problem_ids, notice_key: str | None) -> dict[int, Message]:
    """The latest reply on an imported ticket (write-back) per reporter, for this outcome;
    withdrawn replies (write-back switched off) are left out: they told nobody."""
    from app.messaging.mail import WITHDRAWN  # the delivery worker's word for a withdrawn reply

    found: dict[int, Message] = {}
    for message in db.session.scalars(db.select(Message).where(
            Message.problem_id.in_(problem_ids), Message.kind == MessageKind.WRITE_BACK,
            Message.reporter_id.is_not(None)).order_by(Message.id)):
        if (notice_key is None or message.notice_key == notice_key) \
                and not (message.last_error or "").startswith(WITHDRAWN):
            found[message.reporter_id] = message
    return found


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

    wanted = desired(problem)
    message.notice_key = wanted[1] if wanted else None
    db.session.add(message)
    db.session.flush()
    message.event_id = event.id
    return message


def unsubscribe(reporter: Reporter) -> None:
    """Stop all mail to this person (their address, whoever filed with it), now and later;
    waiting messages are withdrawn."""
    if reporter.unsubscribed_at is not None:
        return
    now = utcnow()
    same = [reporter] if not reporter.email else list(db.session.scalars(
        db.select(Reporter).where(Reporter.email == reporter.email, Reporter.unsubscribed_at.is_(None))))
    for one in same or [reporter]:
        one.unsubscribed_at = now
    reporter.unsubscribed_at = now
    ids = [one.id for one in same] or [reporter.id]
    db.session.execute(
        db.update(Message)
        .where(Message.reporter_id.in_(ids), Message.user_id.is_(None),
               Message.status == MessageStatus.PENDING, Message.kind != MessageKind.WRITE_BACK)
        .values(status=MessageStatus.FAILED, last_error="unsubscribed before it was sent")
    )
    record_event(UNSUBSCRIBED, None, reporter_id=reporter.id)
    db.session.flush()


def still_happening(reporter: Reporter, report: Report, words: str | None) -> Report:
    """The reporter says it is still happening: a new report from them on the same problem,
    flagged to the owner."""

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
