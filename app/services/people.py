"""A person's side: their private page across every report filed with their address,
"Did this fix it for you?", and their private link sent again.

The two kinds of private link:

* a filing's own link (``Reporter.token``), shown on the thank-you page: its reports only;
* the person's link (``Person.token``), only ever sent to their address: every report
  filed with that address, whoever typed it, because only the mailbox's reader has it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import func

from app.events import record_event
from app.extensions import db
from app.messaging.compose import add_message, render_message, still_happening
from app.models import STILL_HAPPENING, Event, Message, MessageKind, Person, Problem, Report, Reporter, Status, utcnow
from app.services.errors import NotFound, PermissionDenied, ServiceError
from app.services.telling import desired, family, person_for

FIX_CONFIRMED = "fix_confirmed"
ANSWERS = ("yes", "no")


@dataclass
class PersonView:
    """What the private page needs, for a person's link (every report with the address)."""

    person: Person
    reporters: list[Reporter]

    @property
    def token(self) -> str:
        return self.person.token

    @property
    def id(self) -> None:
        return None

    @property
    def email(self) -> str:
        return self.person.email

    @property
    def display_name(self) -> str | None:
        names = list(dict.fromkeys(r.display_name for r in self.reporters if r.display_name))
        return names[0] if len(names) == 1 else None

    @property
    def reports(self) -> list[Report]:
        return sorted((r for reporter in self.reporters for r in reporter.reports),
                      key=lambda r: (r.created_at, r.id))

    @property
    def can_be_emailed(self) -> bool:
        return any(r.can_be_emailed for r in self.reporters)

    @property
    def contact_ok(self) -> bool:
        return any(r.contact_ok for r in self.reporters)

    @property
    def unsubscribed_at(self) -> datetime | None:
        times = [r.unsubscribed_at for r in self.reporters]
        return max(times) if times and all(times) else None

    def owns(self, report: Report) -> bool:
        return report.reporter_id in {r.id for r in self.reporters}

    @property
    def first(self) -> Reporter:
        return self.reporters[0]


def page_owner(token: str) -> Reporter | PersonView | None:
    """The holder of a private link: a filing's reporter, or a person (their address)."""
    if len(token) > 64:  # tokens are 43 characters of 256-bit randomness
        return None
    reporter = db.session.scalar(db.select(Reporter).filter_by(token=token))
    if reporter is not None:
        return reporter
    person = db.session.scalar(db.select(Person).filter_by(token=token))
    if person is None:
        return None
    reporters = list(db.session.scalars(db.select(Reporter).where(Reporter.email == person.email)
                                        .order_by(Reporter.id)))
    return PersonView(person, reporters) if reporters else None


def owns(holder: Reporter | PersonView, report: Report) -> bool:
    return holder.owns(report) if isinstance(holder, PersonView) else report.reporter_id == holder.id


def as_reporter(holder: Reporter | PersonView) -> Reporter:
    return holder.first if isinstance(holder, PersonView) else holder


# --- "Did this fix it for you?" ---------------------------------------------------------------


def answerable(holder: Reporter | PersonView, problem_id: int) -> tuple[Problem, Report]:
    """The changed problem and the holder's latest report in it; NotFound otherwise."""
    problem = db.session.get(Problem, problem_id)
    mine = [r for r in holder.reports if problem is not None and r.problem_id == problem.id]
    if problem is None or not mine:
        raise NotFound(_("That problem is not one you told us about."))
    if problem.status != Status.CHANGED:
        raise ServiceError(_("This problem is not marked changed any more, so there is nothing to confirm."))
    return problem, mine[-1]


def answer_fix(holder: Reporter | PersonView, problem_id: int, answer: str) -> str:
    """Record the person's answer. "yes": counted once per person; "no": exactly what
    "This is still happening" does (a new report from them, flagged to the owner)."""

    if answer not in ANSWERS:
        raise ServiceError(_("Answer yes or no."))
    problem, report = answerable(holder, problem_id)
    reporter = report.reporter
    if answer == "yes":
        ids = [r.id for r in holder.reporters] if isinstance(holder, PersonView) else [holder.id]
        already = db.session.scalar(db.select(db.exists().where(
            Event.problem_id == problem.id, Event.verb == FIX_CONFIRMED, Event.created_at >= problem.changed_at,
            Event.report_id.in_(db.select(Report.id).where(Report.reporter_id.in_(ids))))))
        if not already:
            record_event(FIX_CONFIRMED, None, problem=problem, report=report)
            db.session.flush()
        return answer
    if not owns(holder, report):
        raise PermissionDenied(_("That is not your report."))
    still_happening(reporter, report, None)
    return answer


@dataclass
class FixCounts:
    fixed: int = 0
    still: int = 0

    @property
    def flagged(self) -> bool:
        return self.still > 0


def fix_counts(problem_ids: list[int]) -> dict[int, FixCounts]:
    """Per changed problem, since its change: people who said it fixed it, and how many
    said it is still happening (that counts until the owner acts: reopens, or records a
    new change)."""
    if not problem_ids:
        return {}
    rows = db.session.execute(
        db.select(Event.problem_id, Event.verb, func.count(func.distinct(Reporter.identity)))
        .join(Problem, Problem.id == Event.problem_id)
        .join(Report, Report.id == Event.report_id)
        .join(Reporter, Reporter.id == Report.reporter_id)
        .where(Event.problem_id.in_(problem_ids), Event.verb.in_((FIX_CONFIRMED, STILL_HAPPENING)),
               Problem.status == Status.CHANGED, Event.created_at >= Problem.changed_at)
        .group_by(Event.problem_id, Event.verb)
    )
    counts: dict[int, FixCounts] = {}
    for problem_id, verb, n in rows:
        entry = counts.setdefault(problem_id, FixCounts())
        if verb == FIX_CONFIRMED:
            entry.fixed = n
        else:
            entry.still = n
    return counts


def still_happening_problems():
    """SQL condition: a changed problem someone says is still happening since its change."""
    return (Problem.status == Status.CHANGED) & db.select(Event.id).where(
        Event.problem_id == Problem.id, Event.verb == STILL_HAPPENING,
        Event.created_at >= Problem.changed_at).exists()


def still_happening_count() -> int:
    """How many changed problems someone says are still happening (the dashboard's tile)."""
    return db.session.scalar(db.select(func.count(Problem.id)).where(still_happening_problems())) or 0


# --- telling people without email in person -------------------------------------------------

TOLD_IN_PERSON = "told_in_person"


@dataclass
class InPersonTask:
    reporter: Reporter
    problem: Problem
    reports: list[Report]
    kind: str  # changed | declined
    key: str

    @property
    def outcome(self) -> str:
        return self.problem.change_what if self.kind == MessageKind.CHANGED else self.problem.decline_reason


def in_person_tasks(staff) -> list[InPersonTask]:
    """People this staff member filed for who cannot be emailed, whose problem has an outcome
    they have not been told (in person, or marked unreachable)."""

    reports = db.session.scalars(
        db.select(Report).join(Reporter, Reporter.id == Report.reporter_id)
        .where(Report.filed_by_id == staff.id, Report.removed_at.is_(None),
               (Reporter.user_id.is_(None)) | (Reporter.user_id != staff.id))
        .order_by(Report.created_at)).all()
    tasks: dict[tuple[int, int], InPersonTask] = {}
    for report in reports:
        reporter = report.reporter
        if reporter.can_be_emailed or report.problem is None:
            continue
        problem = report.problem
        while problem.merged_into_id is not None:
            problem = problem.merged_into
        wanted = desired(problem)
        if wanted is None or wanted[0] not in (MessageKind.CHANGED, MessageKind.DECLINED):
            continue
        done = db.session.scalar(db.select(db.exists().where(
            Message.reporter_id == reporter.id, Message.problem_id.in_(family(problem)),
            Message.notice_key == wanted[1],
            Message.kind.in_((MessageKind.TOLD_IN_PERSON, MessageKind.CHANGED, MessageKind.DECLINED)))))
        if done:
            continue
        task = tasks.setdefault((reporter.id, problem.id),
                                InPersonTask(reporter, problem, [], str(wanted[0]), wanted[1]))
        task.reports.append(report)
    return list(tasks.values())


def told_in_person(actor, reporter_id: int, problem_id: int) -> Message:
    """Staff told the person the outcome in person: recorded with who told whom, and counted
    as told (close-out, the problem page)."""
    task = next((t for t in in_person_tasks(actor) if t.reporter.id == reporter_id and t.problem.id == problem_id),
                None)
    if task is None:
        raise NotFound(_("There is nothing left to tell this person in person."))
    record_event(TOLD_IN_PERSON, actor, problem=task.problem, report=task.reports[-1], reporter_id=reporter_id,
           told_by=actor.name)
    message = Message(
        kind=MessageKind.TOLD_IN_PERSON, status="sent", problem=task.problem, reporter=task.reporter,
        to_address="in person", subject=_("Told in person by %(name)s", name=actor.name)[:300],
        body_text=_("%(staff)s told %(person)s in person: %(outcome)s", staff=actor.name,
                    person=task.reporter.name_or_anonymous, outcome=task.outcome),
        notice_key=task.key, sent_at=utcnow(), attempts=0)
    db.session.add(message)
    db.session.flush()
    return message


# --- the private link again ------------------------------------------------------------------


def send_link_again(email: str | None) -> None:
    """Email the person's link to an address that filed with us (and agreed to email);
    nothing otherwise. The caller answers the same either way."""

    address = (email or "").strip().lower()
    if not address or "@" not in address or "\n" in address or len(address) > 254:
        raise ServiceError(_("Give the email address you filed your report with."), field="email")
    reporter = db.session.scalar(
        db.select(Reporter).where(Reporter.email == address, Reporter.contact_ok.is_(True),
                                  Reporter.unsubscribed_at.is_(None)).order_by(Reporter.id.desc()).limit(1))
    if reporter is None:
        return
    recent = db.session.scalar(db.select(func.count(Message.id)).where(
        Message.to_address == address, Message.kind == MessageKind.LINK_AGAIN,
        Message.status == "pending"))
    if recent:
        return  # one waiting is enough
    person_for(address)
    rendered = render_message(MessageKind.LINK_AGAIN, None, reporter=reporter, reports=[])
    add_message(MessageKind.LINK_AGAIN, None, None, rendered, to=address, reporter=reporter)
    db.session.flush()
