"""Who is told what, following from recorded events (called by app/events.py at commit).

**A person** is everyone who filed with one email address and agreed to be emailed
(``Reporter.email`` is stored lower-cased, so the match is case-insensitive). Each filing
keeps its own ``Reporter`` and private link; messages go to the address once per problem
and quote every report filed with it there. The person's own link (``Person.token``) is
only ever sent to that address, so only someone who reads its mail sees all its reports.
That is what makes a shared address (a family's, a front desk's) safe: nothing reaches
the mailbox that would not reach it anyway, and nobody who merely types the address can
read the others' reports. People without an email address are each their own person.

**What a person should know** about a problem follows from its state (``desired``):
nothing while nobody owns it; who owns it; the published change; the answer when it was
declined. Every message carries a ``notice_key`` saying what it told. After any event that
touches a problem, every person in it who has not been told the current state is told,
once: a late join (merge, move, automatic join, "me too", import) after a change was
published gets the change; an internal move before there is an owner sends nothing; a
handover or reopening tells nobody again. A problem's derived title (its first report's
words) is never put in front of anyone else.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.messaging.mail import NOT_BUILT
from app.models import (
    DECLINED,
    DUPLICATE_CONFIRMED,
    GROUPED_AUTOMATICALLY,
    HANDED_OVER,
    MERGED,
    PUBLISHED,
    REOPENED,
    REPORT_FILED,
    REPORT_MOVED,
    STATUS_CHANGED,
    STILL_HAPPENING,
    TOOK_OWNERSHIP,
    Event,
    Message,
    MessageKind,
    MessageStatus,
    Person,
    Problem,
    Report,
    Reporter,
    Status,
    new_token,
)

log = logging.getLogger(__name__)

# Events after which the people of their problem may need telling something.
TELLING_VERBS = frozenset({REPORT_FILED, TOOK_OWNERSHIP, HANDED_OVER, STATUS_CHANGED, DECLINED,
                           PUBLISHED, REPORT_MOVED, MERGED, REOPENED, DUPLICATE_CONFIRMED, GROUPED_AUTOMATICALLY})
OUTCOME_PREFIXES = ("owned:", "changed:", "declined:")


@dataclass
class PersonGroup:
    """One person's reports in one problem."""

    key: str  # the email address, or "reporter:<id>" for someone without one
    email: str | None
    reporters: list[Reporter]
    reports: list[Report] = field(default_factory=list)

    @property
    def reporter(self) -> Reporter:
        return self.reporters[0]

    @property
    def reachable(self) -> bool:
        return self.email is not None

    @property
    def name(self) -> str:
        """"Maria Lopez", or "Maria and Tom Becker" for a shared address; "Anonymous" if none given."""
        names = list(dict.fromkeys(r.display_name for r in self.reporters if r.display_name))
        if not names:
            return str(self.reporter.name_or_anonymous)

        return names[0] if len(names) == 1 else _("%(names)s and %(last)s", names=", ".join(names[:-1]),
                                                   last=names[-1])


def person_key(reporter: Reporter) -> str:
    return reporter.email if reporter.can_be_emailed else f"reporter:{reporter.id}"


def people_in(problem: Problem, reports: list[Report] | None = None) -> list[PersonGroup]:
    groups: dict[str, PersonGroup] = {}
    for report in reports if reports is not None else problem.reports:
        if report.removed_at is not None or report.moderation is not None:
            continue
        reporter = report.reporter
        key = person_key(reporter)
        group = groups.get(key)
        if group is None:
            group = groups[key] = PersonGroup(key, reporter.email if reporter.can_be_emailed else None, [])
        if reporter not in group.reporters:
            group.reporters.append(reporter)
        group.reports.append(report)
    return list(groups.values())


def person_for(email: str) -> Person:
    """The person row for an address (made the first time we write to it)."""
    person = db.session.scalar(db.select(Person).filter_by(email=email))
    if person is None:
        person = next((p for p in db.session.new if isinstance(p, Person) and p.email == email), None)
    if person is None:
        person = Person(email=email)
        db.session.add(person)
    if person.token is None:  # a row not flushed yet has no default; its link is needed now
        person.token = new_token()
    return person


# Addresses whose person row this transaction already holds (an import page makes its
# people in one statement); the importer sets and clears it around each page.
PEOPLE_MADE = "careloop.people_made"


def ensure_person(email: str | None) -> None:
    """Make the person row for an address when someone files with it (a service, outside
    any flush), in a savepoint, so two filings at the same moment cannot collide later."""
    if not email or email in db.session.info.get(PEOPLE_MADE, ()) or \
            db.session.scalar(db.select(Person.id).filter_by(email=email)) is not None:
        return
    try:
        with db.session.begin_nested():
            db.session.add(Person(email=email))
    except IntegrityError:  # made by another transaction at the same moment
        pass


def family(problem: Problem) -> list[int]:
    """The problem and every problem merged into it (at any depth)."""
    ids, frontier = [problem.id], [problem.id]
    while frontier:
        frontier = list(db.session.scalars(db.select(Problem.id).where(Problem.merged_into_id.in_(frontier))))
        ids += frontier
    return ids


def desired(problem: Problem) -> tuple[MessageKind, str] | None:
    """What everyone in the problem should know now, as (kind, notice key)."""
    if problem.merged_into_id is not None:
        return None
    if problem.status == Status.CHANGED and problem.published_at is not None:
        return MessageKind.CHANGED, f"changed:{problem.changed_at.isoformat(timespec='seconds')}"
    if problem.status == Status.DECLINED:
        decided = db.session.scalar(db.select(db.func.max(Event.id)).where(
            Event.problem_id == problem.id, Event.verb == DECLINED))
        return MessageKind.DECLINED, f"declined:{decided}"
    if problem.owner is not None:
        return MessageKind.OWNED, f"owned:{problem.owner_id}"
    return None


def _needs(told_keys: set[str], kind: MessageKind, key: str) -> bool:
    if kind == MessageKind.OWNED:  # any earlier notice covers ownership (no news on a handover or reopening)
        return not any(k.startswith(OUTCOME_PREFIXES) for k in told_keys)
    return key not in told_keys


def _told(problem_ids: list[int], kinds: tuple[MessageKind, ...]) -> dict[str, set[str]]:
    """notice keys per recipient (address, or "reporter:<id>" for staff copies)."""
    told: dict[str, set[str]] = {}
    rows = db.session.execute(
        db.select(Message.kind, Message.to_address, Message.reporter_id, Message.notice_key)
        .where(Message.problem_id.in_(problem_ids), Message.kind.in_(kinds), Message.notice_key.is_not(None))
    )
    waiting = [(m.kind, m.to_address, m.reporter.id if m.reporter is not None else m.reporter_id, m.notice_key)
               for m in db.session.new
               if isinstance(m, Message) and m.notice_key and m.kind in kinds
               and (m.problem.id if m.problem is not None else m.problem_id) in problem_ids]
    for kind, to, reporter_id, key in [*rows, *waiting]:
        recipient = f"copy:{reporter_id}" if kind == MessageKind.STAFF_COPY else to
        told.setdefault(recipient, set()).add(key)
    return told


# --- the fan-out's entry point -------------------------------------------------------------------


def events_flushed(events: list[Event]) -> None:
    """Receipts for filed reports, then everyone in each touched problem told what they
    should know. A message that cannot be built is set aside with the reason (never lost).

    Runs inside the flush that stored the events (app/events.py): it may query and add
    messages, but not flush; messages added here are counted through ``session.new``."""
    filed: list[Report] = []
    touched: dict[int, Problem] = {}
    moved: set[int] = set()
    notes: dict[int, str] = {}
    flagged = {e.report_id for e in events if e.verb == STILL_HAPPENING}
    for event in events:
        if event.verb not in TELLING_VERBS:
            continue
        if event.verb == REPORT_FILED and event.report is not None and event.report_id not in flagged:
            filed.append(event.report)
        if event.verb == REPORT_MOVED and event.report_id is not None:
            moved.add(event.report_id)
        if event.verb == MERGED:
            moved.update((event.details or {}).get("reports") or [])
        if event.verb in (PUBLISHED, DECLINED) and (event.details or {}).get("note"):
            notes[event.problem_id] = event.details["note"]
        problem = event.problem
        while problem is not None and problem.merged_into_id is not None:
            problem = problem.merged_into
        if problem is not None:
            touched[problem.id] = problem
    for report in filed:
        if report.problem is not None and report.source is None:
            _safely(send_receipt, report)
    for problem in touched.values():
        _safely(tell_everyone, problem, moved=moved, note=notes.get(problem.id))


def _safely(function, *args, **kwargs) -> None:
    try:
        function(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - never lose the report or decision that caused it
        log.exception("Could not write the messages for %s", function.__name__)

        db.session.add(Message(kind=MessageKind.RECEIPT, status=MessageStatus.FAILED, to_address=NOT_BUILT,
                               subject="(could not be built)", body_text="",
                               last_error=f"Could not be built: {type(error).__name__}: {error}"[:2000]))


def send_receipt(report: Report) -> Message | None:
    """"We have your report": their words, their private link, the owner once there is one."""
    from app.messaging.compose import add_message, render_message

    reporter = report.reporter
    problem = report.problem
    if not reporter.can_be_emailed:
        return None
    group = PersonGroup(reporter.email, reporter.email, [reporter], [report])
    owner = problem.owner if problem.is_open else None
    key = f"owned:{owner.id}" if owner is not None else None
    rendered = render_message(MessageKind.RECEIPT, problem, reporter=reporter, reports=[report],
                              greeting=group.name, receipt_owner=owner)
    return add_message(MessageKind.RECEIPT, problem, None, rendered, to=reporter.email, reporter=reporter,
                       reports=[report], notice_key=key)


def tell_everyone(problem: Problem, *, moved: set[int] = frozenset(), note: str | None = None) -> list[Message]:
    """Tell each person in the problem what they do not know yet (see the module's doc)."""
    from app.messaging.compose import add_message, render_message, staff_copies, write_backs

    wanted = desired(problem)
    if wanted is None:
        return []
    kind, key = wanted
    problem_ids = family(problem)
    told = _told(problem_ids, (MessageKind.OWNED, MessageKind.CHANGED, MessageKind.DECLINED, MessageKind.MOVED,
                               MessageKind.RECEIPT, MessageKind.STAFF_COPY, MessageKind.WRITE_BACK,
                               MessageKind.TOLD_IN_PERSON))
    messages = []
    for group in people_in(problem):
        person_told = told.get(group.email or group.key, set())
        if group.reachable and _needs(person_told, kind, key):
            this_kind = kind
            if kind == MessageKind.OWNED and any(r.id in moved for r in group.reports):
                this_kind = MessageKind.MOVED
            rendered = render_message(this_kind, problem, reporter=group.reporter, reports=group.reports,
                                      note=note, greeting=group.name)
            messages.append(add_message(this_kind, problem, None, rendered, to=group.email,
                                        reporter=group.reporter, reports=group.reports, notice_key=key))
        for reporter in group.reporters:
            if _needs(told.get(f"copy:{reporter.id}", set()), kind, key):
                mine = [r for r in group.reports if r.reporter_id == reporter.id]
                messages += staff_copies(problem, kind, reporter, mine, notice_key=key,
                                         customer_told=group.reachable)
        if kind in (MessageKind.CHANGED, MessageKind.DECLINED):
            messages += write_backs(problem, kind, group.reports, note, notice_key=key,
                                    told={t for t, keys in told.items() if key in keys})
    return messages
