"""The workflow of a problem: ownership, status, the change record, publishing."""

from __future__ import annotations

import re
from datetime import date

from flask_babel import gettext as _

from app.events import record_event
from app.extensions import db
from app.imports.linked_work import ask_owner_about_done_work
from app.models import (
    CHANGE_RECORDED,
    COMMENTED,
    DECLINED,
    HANDED_OVER,
    PROBLEM_EDITED,
    PUBLISHED,
    REOPENED,
    STATUS_CHANGED,
    TOOK_OWNERSHIP,
    UNPUBLISHED,
    Comment,
    Problem,
    Status,
    User,
    utcnow,
)
from app.services.errors import PermissionDenied, ServiceError
from app.services.permissions import require_leader, require_owner_or_admin
from app.services.reports import clean_text

MIN_CHANGE_CHARS = 40
MIN_CHANGE_WORDS = 8
MIN_DECLINE_CHARS = 30
LONG_TEXT = 10_000

# Sentences that apologise or promise describe no change that has happened.
_NOT_A_CHANGE = re.compile(
    r"\b(sorry|apologi[sz]e|apologies|regret|inconvenience|we will|we'll|we shall|"
    r"we are going to|we're going to|we plan|we intend|we hope|we aim|looking into|"
    r"investigating|will be (?:fixed|changed|improved|reviewed|addressed)|in (?:the )?future|"
    r"soon|taking (?:this|it) seriously|value your feedback|thank you for)\b",
    re.IGNORECASE,
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


def change_description_problems(what: str | None, since: date | None) -> dict[str, str]:
    """What is missing from a change record, by field; empty when it describes a real change."""
    problems: dict[str, str] = {}
    text = (what or "").strip()
    concrete = " ".join(
        s for s in _SENTENCE.split(text) if s.strip() and not _NOT_A_CHANGE.search(s)
    )
    if len(concrete) < MIN_CHANGE_CHARS or len(concrete.split()) < MIN_CHANGE_WORDS:
        numbers = dict(words=MIN_CHANGE_WORDS, chars=MIN_CHANGE_CHARS)
        if text and not concrete:
            problems["what"] = _(
                "This only apologises or promises. Say concretely what is different now (at least "
                "%(words)s words and %(chars)s characters beyond any apology or promise), for example "
                "“Refunds now go back to the original card within 3 working days.”", **numbers)
        elif text:
            problems["what"] = _(
                "This is too short to tell people what is different. Say concretely what is different "
                "now (at least %(words)s words and %(chars)s characters beyond any apology or promise), "
                "for example “Refunds now go back to the original card within 3 working days.”", **numbers)
        else:
            problems["what"] = _(
                "Say concretely what is different now (at least %(words)s words and %(chars)s characters "
                "beyond any apology or promise), for example "
                "“Refunds now go back to the original card within 3 working days.”", **numbers)
    if since is None:
        problems["since"] = _("Give the date from which it is different.")
    elif since > utcnow().date():
        problems["since"] = _("A change must already be in place: that date is in the future.")
    return problems


def _set_status(problem: Problem, actor: User, status: Status) -> None:
    if not problem.can_transition_to(status):
        raise ServiceError(
            _("A problem that is “%(current)s” cannot become “%(next)s”.",
              current=problem.status_enum.label, next=status.label)
        )
    before = problem.status
    problem.status = status
    record_event(STATUS_CHANGED, actor, problem=problem, before={"status": before}, after={"status": status})


def assign_owner(problem: Problem, actor: User, new_owner: User, reason: str | None = None) -> None:
    """Give a problem its owner: a leader takes an unowned one, or the owner or an admin
    hands it over (a handoff, with a reason). A problem whose owner was deactivated can be
    taken over by any leader, also with a reason."""
    require_leader(actor)
    if not (new_owner.is_leader and new_owner.is_active):
        raise ServiceError(_("The owner must be an active leader or admin."), field="owner")
    previous = problem.owner
    if previous is not None and previous.id == new_owner.id:
        raise ServiceError(_("%(name)s already owns this problem.", name=new_owner.name), field="owner")
    if previous is None:
        if new_owner.id != actor.id and not actor.is_admin:
            raise PermissionDenied(_("Only an admin can give an unowned problem to someone else."))
        problem.owner = new_owner
        record_event(TOOK_OWNERSHIP, actor, problem=problem, subject_user=new_owner, owner=new_owner.name)
        if problem.status == Status.NEW:
            _set_status(problem, actor, Status.OWNED)
    else:
        # A deactivated owner cannot hand over; any leader may take the problem on.
        if previous.is_active or new_owner.id != actor.id:
            require_owner_or_admin(problem, actor)
        reason = clean_text(reason, field="reason", label=_("The reason for the handover"), limit=2000, required=True)
        problem.owner = new_owner
        record_event(
            HANDED_OVER,
            actor,
            problem=problem,
            subject_user=new_owner,
            before={"owner": previous.name, "owner_id": previous.id},
            after={"owner": new_owner.name, "owner_id": new_owner.id},
            reason=reason,
        )

    ask_owner_about_done_work(problem)  # linked work done while nobody (active) owned it
    db.session.flush()


def start_work(problem: Problem, actor: User) -> None:
    require_owner_or_admin(problem, actor)
    _set_status(problem, actor, Status.IN_PROGRESS)
    db.session.flush()


def record_change(
    problem: Problem, actor: User, *, what: str, since: date | None, evidence_url: str | None = None
) -> None:
    """Mark the problem changed, with a concrete description of the system change."""
    require_owner_or_admin(problem, actor)
    if not problem.can_transition_to(Status.CHANGED):
        raise ServiceError(_("A problem that is “%(current)s” cannot be marked changed.",
                             current=problem.status_enum.label))
    missing = change_description_problems(what, since)
    if missing:
        field, message = next(iter(missing.items()))
        raise ServiceError(message, field=field)
    what = clean_text(what, field="what", label=_("What changed"), limit=LONG_TEXT, required=True)
    evidence_url = clean_text(evidence_url, field="evidence_url", label=_("Evidence link"), limit=500)
    if evidence_url and not re.match(r"https?://", evidence_url):
        raise ServiceError(_("The evidence link must start with http:// or https://."), field="evidence_url")
    problem.change_what = what
    problem.change_since = since
    problem.change_evidence_url = evidence_url
    problem.changed_at = utcnow()
    _set_status(problem, actor, Status.CHANGED)
    record_event(CHANGE_RECORDED, actor, problem=problem, what=what, since=since, evidence_url=evidence_url)
    db.session.flush()


def decline(problem: Problem, actor: User, reason: str, note: str | None = None) -> None:
    """Decline with an honest reason written for the people who reported it.

    A leader who declines an unowned problem becomes its owner: a decline has a name on it.
    """
    require_leader(actor)
    if problem.owner_id is not None:
        require_owner_or_admin(problem, actor)
    if not problem.can_transition_to(Status.DECLINED):
        raise ServiceError(_("A problem that is “%(current)s” cannot be declined.",
                             current=problem.status_enum.label))
    reason = clean_text(reason, field="reason", label=_("The reason"), limit=LONG_TEXT, required=True)
    if len(reason) < MIN_DECLINE_CHARS:
        raise ServiceError(
            _("Explain the decision to the people who reported this in a sentence or two "
              "(at least %(chars)s characters).", chars=MIN_DECLINE_CHARS),
            field="reason",
        )
    if problem.owner is None:
        assign_owner(problem, actor, actor)
    note = clean_text(note, field="note", label=_("The personal note"), limit=2000)
    problem.decline_reason = reason
    problem.closing_note = note  # people without email read it on their private page
    _set_status(problem, actor, Status.DECLINED)
    record_event(DECLINED, actor, problem=problem, reason=reason, note=note)
    db.session.flush()


def reopen(problem: Problem, actor: User, reason: str | None = None) -> None:
    """Reopen a changed or declined problem; its public change (if any) is taken down."""
    require_owner_or_admin(problem, actor)
    if problem.published_at is not None:
        unpublish(problem, actor, reason="Reopened")
    before = {"decline_reason": problem.decline_reason, "changed_at": problem.changed_at}
    _set_status(problem, actor, Status.OWNED)
    problem.decline_reason = None
    problem.changed_at = None
    problem.closing_note = None
    record_event(REOPENED, actor, problem=problem, before=before, reason=(reason or "").strip() or None)
    db.session.flush()


def publish(
    problem: Problem, actor: User, *, public_title: str, public_summary: str, note: str | None = None
) -> None:
    """Show a changed problem on the public "We changed this" page."""
    require_owner_or_admin(problem, actor)
    if problem.status != Status.CHANGED:
        raise ServiceError(_("Only a problem whose change is recorded can be published."))
    title = clean_text(public_title, field="public_title", label=_("Public title"), limit=200, required=True, one_line=True)
    summary = clean_text(
        public_summary, field="public_summary", label=_("Public summary"), limit=LONG_TEXT, required=True
    )
    note = clean_text(note, field="note", label=_("The personal note"), limit=2000)
    before = {"public_title": problem.public_title, "public_summary": problem.public_summary,
              "published_at": problem.published_at}
    first_publication = problem.published_at is None
    problem.public_title = title
    problem.public_summary = summary
    if first_publication:
        problem.published_at = utcnow()
    if first_publication:
        problem.closing_note = note  # people without email read it on their private page
    # Who is told follows from the event (services/telling.py): everyone not yet told of this
    # change, once; republishing the same change tells nobody twice.
    record_event(PUBLISHED, actor, problem=problem, before=before, note=note,
           after={"public_title": title, "public_summary": summary, "published_at": problem.published_at})
    db.session.flush()


def unpublish(problem: Problem, actor: User, reason: str | None = None) -> None:
    require_owner_or_admin(problem, actor)
    if problem.published_at is None:
        raise ServiceError(_("This problem is not published."))
    before = problem.published_at
    problem.published_at = None
    record_event(UNPUBLISHED, actor, problem=problem, before={"published_at": before},
           reason=(reason or "").strip() or None)
    db.session.flush()


_KEEP = object()


def edit_problem(
    problem: Problem, actor: User, *, title: str, area: str | None, due_on: date | None,
    public_title: str | None | object = _KEEP,
) -> None:
    """Triage details. Any leader may edit an unowned problem; once owned, the owner or an admin."""
    require_leader(actor)
    if problem.owner_id is not None:
        require_owner_or_admin(problem, actor)
    title = clean_text(title, field="title", label=_("Title"), limit=200, required=True, one_line=True)
    area = clean_text(area, field="area", label=_("Area"), limit=120)
    if public_title is _KEEP:
        public_title = problem.public_title
    else:  # a title approved for customers' eyes (suggestions while filing, the public page)
        public_title = clean_text(public_title, field="public_title", label=_("Public title"), limit=200, one_line=True)
    before = {"title": problem.title, "area": problem.area, "due_on": problem.due_on,
              "public_title": problem.public_title}
    after = {"title": title, "area": area, "due_on": due_on, "public_title": public_title}
    if before == after:
        return
    if before["public_title"] == after["public_title"]:  # record only what changed
        del before["public_title"], after["public_title"]
    problem.title, problem.area, problem.due_on = title, area, due_on
    problem.public_title = public_title
    record_event(PROBLEM_EDITED, actor, problem=problem, before=before, after=after)
    db.session.flush()


def add_comment(problem: Problem, actor: User, text: str) -> Comment:
    require_leader(actor)
    text = clean_text(text, field="text", label=_("The note"), limit=LONG_TEXT, required=True)
    comment = Comment(problem=problem, author=actor, text=text)
    db.session.add(comment)
    record_event(COMMENTED, actor, problem=problem)
    db.session.flush()
    return comment
