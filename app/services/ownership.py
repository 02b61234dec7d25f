"""Leaders who are not the owner: ask the owner, or offer to take a problem over; the owner
answers with a reason. Every step is in the problem's history, and the other person is
emailed through the outbox. Also: why a problem is stuck.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.events import record_event
from app.extensions import db
from app.messaging.compose import add_message, render_message
from app.models import (
    OWNER_ASKED,
    REQUEST_ANSWERED,
    TAKEOVER_OFFERED,
    MessageKind,
    OwnershipRequest,
    Problem,
    ProblemLink,
    User,
    utcnow,
)
from app.queries import is_closed_out
from app.services.errors import PermissionDenied, ServiceError
from app.services.permissions import require_leader
from app.services.problems import assign_owner
from app.services.reports import clean_text
from app.templating import format_date

NOTE_LIMIT = 2000


def _open_request(problem: Problem, user: User, kind: str) -> OwnershipRequest | None:
    return db.session.scalar(db.select(OwnershipRequest).filter_by(
        problem_id=problem.id, from_user_id=user.id, kind=kind, status="open", to_user_id=problem.owner_id))


def _tell(problem: Problem, event, to: User, **context) -> None:
    if to.active:
        rendered = render_message(MessageKind.OWNERSHIP, problem, recipient=to, **context)
        add_message(MessageKind.OWNERSHIP, problem, event, rendered, to=to.email, user=to)


def ask_owner(problem: Problem, actor: User, note: str, *, offer: bool = False) -> OwnershipRequest:
    """A leader who is not the owner asks the owner about the problem (``offer``: offers to
    take it over). The owner sees it on the problem and is emailed."""
    require_leader(actor)
    owner = problem.owner
    if owner is None:
        raise ServiceError(_("Nobody owns this problem yet: take ownership instead."))
    if owner.id == actor.id:
        raise ServiceError(_("You own this problem."))
    if not problem.is_open:
        raise ServiceError(_("This problem is closed; ask the owner to reopen it first."))
    kind = "offer" if offer else "ask"
    note = clean_text(note, field="note", label=_("Your note"), limit=NOTE_LIMIT, required=True)
    if _open_request(problem, actor, kind) is not None:
        raise ServiceError(_("You already asked; the owner has not answered yet."), field="note")
    request = OwnershipRequest(problem=problem, kind=kind, from_user=actor, to_user=owner, note=note)
    db.session.add(request)
    event = record_event(TAKEOVER_OFFERED if offer else OWNER_ASKED, actor, problem=problem, subject_user=owner,
                   note=note, owner=owner.name)
    db.session.flush()
    _tell(problem, event, owner, request=request, step=kind)
    return request


def answer_request(request: OwnershipRequest, actor: User, *, accept: bool, reason: str) -> None:
    """The owner (or an admin) answers: an accepted offer hands the problem over to the
    leader who offered; either way the reason is recorded and the leader is told."""

    problem = request.problem
    if not (actor.is_admin or problem.owner_id == actor.id):
        raise PermissionDenied(_("Only the problem's owner or an admin can answer."))
    if request.status != "open" or request.to_user_id != problem.owner_id:
        raise ServiceError(_("This has already been answered, or the problem has a new owner."))
    reason = clean_text(reason, field="reason", label=_("Your answer"), limit=NOTE_LIMIT, required=True)
    request.status = "accepted" if accept or request.kind == "ask" else "declined"
    request.answer = reason
    request.answered_at = utcnow()
    event = record_event(REQUEST_ANSWERED, actor, problem=problem, subject_user=request.from_user,
                   kind=request.kind, accepted=accept, reason=reason, to=request.from_user.name)
    if accept and request.kind == "offer":
        assign_owner(problem, actor, request.from_user, reason)
        for other in db.session.scalars(db.select(OwnershipRequest).filter_by(problem_id=problem.id, status="open")):
            other.status = "closed"
    db.session.flush()
    _tell(problem, event, request.from_user, request=request, step="answer")


def open_requests(problem: Problem) -> list[OwnershipRequest]:
    """Questions and offers the current owner has not answered yet."""
    if problem.owner_id is None:
        return []
    return list(db.session.scalars(db.select(OwnershipRequest).filter_by(
        problem_id=problem.id, status="open", to_user_id=problem.owner_id).order_by(OwnershipRequest.id)))


def requests_waiting_on(user: User) -> list[OwnershipRequest]:
    """Questions and offers waiting for ``user``'s answer, across the problems they own."""
    return list(db.session.scalars(
        db.select(OwnershipRequest).join(Problem, Problem.id == OwnershipRequest.problem_id)
        .where(OwnershipRequest.status == "open", OwnershipRequest.to_user_id == user.id,
               Problem.owner_id == user.id)
        .order_by(OwnershipRequest.id)))


@dataclass
class Stuck:
    code: str  # no_owner, inactive_owner, overdue, waiting_on_work, waiting_to_tell, waiting_on_owner
    text: str


STUCK_TEXT = {
    "no_owner": _l("Nobody owns it."),
    "inactive_owner": _l("Its owner's account is deactivated."),
    "overdue": _l("It is past its due date (%(date)s)."),
    "waiting_on_work": _l("It is waiting on linked work: %(keys)s."),
    "waiting_to_tell": _l("People still have to be told."),
    "waiting_on_owner": _l("A question or offer is waiting for the owner's answer."),
}


def why_stuck(problem: Problem) -> list[Stuck]:
    """Why nothing is moving, in words: no owner, overdue, waiting on linked work (say in
    Jira), waiting to tell people, waiting for the owner's answer. Empty when nothing is."""

    reasons: list[Stuck] = []
    if problem.is_open:
        if problem.owner is None:
            reasons.append(Stuck("no_owner", str(STUCK_TEXT["no_owner"])))
        elif not problem.owner.active:
            reasons.append(Stuck("inactive_owner", str(STUCK_TEXT["inactive_owner"])))
        if problem.is_overdue:
            reasons.append(Stuck("overdue", str(STUCK_TEXT["overdue"]) % {"date": format_date(problem.due_on)}))
        waiting = [link.external_key for link in db.session.scalars(
            db.select(ProblemLink).filter_by(problem_id=problem.id).order_by(ProblemLink.id))
            if link.done_at is None and link.status_category != "done"]
        if waiting:
            reasons.append(Stuck("waiting_on_work", str(STUCK_TEXT["waiting_on_work"]) % {"keys": ", ".join(waiting)}))
        if open_requests(problem):
            reasons.append(Stuck("waiting_on_owner", str(STUCK_TEXT["waiting_on_owner"])))
    elif problem.status in ("changed", "declined") and not is_closed_out(problem):
        reasons.append(Stuck("waiting_to_tell", str(STUCK_TEXT["waiting_to_tell"])))
    return reasons
