"""Linking a problem to the remote work item that carries its fix (for example a Jira issue).

When the item is done, the owner is asked to record the change. Nobody who reported the
problem hears anything until the owner has written it: a closed ticket is not a change.
"""

from __future__ import annotations

import re

from flask import current_app
from flask_babel import gettext as _

from app.events import record_event
from app.extensions import db
from app.messaging.compose import add_message, render_message
from app.models import LINKED, LINKED_WORK_DONE, MessageKind, Problem, ProblemLink, Status, User, utcnow
from app.plugin_api import SourceError, TicketSource
from app.plugins.manager import source_settings, ticket_sources
from app.services.errors import ServiceError
from app.services.permissions import require_owner_or_admin

KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]*-\d+$")


def work_sources() -> dict[str, TicketSource]:
    """Sources that can carry a problem's fix and are configured."""
    return {name: s for name, s in ticket_sources().items()
            if s.tracks_work and s.configured(source_settings(s))}


def _source(name: str) -> TicketSource:
    source = work_sources().get(name)
    if source is None:
        raise ServiceError(_("%(name)s cannot carry work here (not loaded or not configured).", name=repr(name)),
                           field="source")
    return source


def _problem_url(problem: Problem) -> str:
    return f"{current_app.config['CARELOOP_BASE_URL']}/problems/{problem.id}"


def link_work(problem: Problem, actor: User, source_name: str, key: str) -> ProblemLink:
    """Link an existing work item; checks it exists and links back to the problem."""
    require_owner_or_admin(problem, actor, _("Only the problem's owner or an admin can link its work."))
    source = _source(source_name)
    key = (key or "").strip().upper()
    if not KEY.match(key):
        raise ServiceError(_("Give an issue key such as OPS-123."), field="key")
    if db.session.scalar(db.select(ProblemLink.id).filter_by(problem_id=problem.id, source=source_name,
                                                             external_key=key)):
        raise ServiceError(_("%(key)s is already linked to this problem.", key=key), field="key")
    settings = source_settings(source)
    try:
        status = source.work_status(settings, key)
        if source.link_back is not None:
            source.link_back(settings, key, _problem_url(problem), f"Careloop problem #{problem.id}: {problem.title}")
    except SourceError as error:
        raise ServiceError(_("%(source)s said: %(error)s", source=source.title, error=error), field="key") from error
    return _store_link(problem, actor, source, key, None, status)


def create_work(problem: Problem, actor: User, source_name: str) -> ProblemLink:
    """Create a work item from the problem (with a link back) and link it."""
    require_owner_or_admin(problem, actor, _("Only the problem's owner or an admin can link its work."))
    source = _source(source_name)
    if source.create_work_item is None:
        raise ServiceError(_("%(source)s cannot create items from Careloop.", source=source.title), field="source")
    settings = source_settings(source)
    description = (
        f"{problem.people_affected} people reported this in Careloop. Owner: "
        f"{problem.owner.name if problem.owner else 'nobody yet'}.\n\n"
        f"Reports and history: {_problem_url(problem)}\n\n"
        "When this is done, the owner records in Careloop what is different now; "
        "everyone who reported it is then told."
    )
    try:
        key, url = source.create_work_item(settings, problem.title, description)
        if source.link_back is not None:
            source.link_back(settings, key, _problem_url(problem), f"Careloop problem #{problem.id}: {problem.title}")
    except (SourceError, ValueError) as error:
        raise ServiceError(_("%(source)s said: %(error)s", source=source.title, error=error), field="source") from error
    return _store_link(problem, actor, source, key, url, "new")


def _store_link(problem, actor, source, key, url, status) -> ProblemLink:
    link = ProblemLink(problem=problem, source=source.name, external_key=key, url=url,
                       status_category=status, checked_at=utcnow(), created_by=actor)
    db.session.add(link)
    record_event(LINKED, actor, problem=problem, source=source.name, key=key, status=status)
    db.session.flush()
    if status == "done":
        _work_done(link)
    return link


def check_linked_work(source_name: str | None = None) -> tuple[int, int]:
    """Ask each open problem's linked items for their status; returns (checked, newly done).

    Run after each import (``careloop import``); errors leave the link to be checked next time.
    """
    sources = work_sources()
    query = (db.select(ProblemLink).join(Problem)
             .where(ProblemLink.done_at.is_(None), Problem.status.in_([Status.NEW, Status.OWNED, Status.IN_PROGRESS])))
    if source_name:
        query = query.where(ProblemLink.source == source_name)
    checked = done = 0
    for link in db.session.scalars(query).all():
        source = sources.get(link.source)
        if source is None:
            continue
        try:
            link.status_category = source.work_status(source_settings(source), link.external_key)
        except SourceError:
            continue
        link.checked_at = utcnow()
        checked += 1
        if link.status_category == "done":
            _work_done(link)
            done += 1
        db.session.commit()
    return checked, done


def _work_done(link: ProblemLink) -> None:
    link.done_at = utcnow()
    problem = link.problem
    event = record_event(LINKED_WORK_DONE, None, problem=problem, source=link.source, key=link.external_key)
    owner = problem.owner
    if owner is not None and owner.active and problem.is_open:
        rendered = render_message(MessageKind.WORK_DONE, problem, link=link)
        add_message(MessageKind.WORK_DONE, problem, event, rendered, to=owner.email, user=owner)
    db.session.flush()
