"""One fan-out for domain events.

``record_event`` is the one way a domain event is recorded (``services.audit.record`` is
the same function). The event's audit row is added to the session at once; everything
else follows from it when the transaction commits, so no path that files, moves, merges
or decides can forget a part:

1. **Telling people** (``services/telling.py``): receipts for filed reports, and what each
   person in a touched problem should now know (who owns it, the published change, the
   answer) written to the mail outbox, once per person and problem. This part runs when
   the event is flushed (services flush once their change is complete), so the messages
   are in the transaction as soon as the service returns and carry the event's time.
2. **Outgoing webhooks** (``services/outgoing_webhooks.py``): a delivery per endpoint that
   wants the event, written in the same transaction.
3. **Plugin hooks**, typed (``hooks().report_filed(info)``), called only after the commit;
   a rollback drops them.
4. **The public pages' cache** (``app/pagecache.py``): its version is bumped in the same
   transaction when an event changes what anonymous visitors see.

The listeners are registered per app in ``init_app`` (nothing at import). A commit that
recorded no event does no work: the listeners look at ``session.info`` and return.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable

import pluggy
from flask import Flask, current_app
from sqlalchemy import event as sa_event
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from app import pagecache
from app.extensions import db
from app.models import PUBLISHED, REPORT_FILED, STATUS_CHANGED, AppendOnlyError, Event, Problem, Report, User
from app.plugin_api import ProblemInfo, ReportInfo
from app.plugins.manager import plugin_manager
from app.services import telling
from app.urls import external_url
from app.webhooks import outgoing as outgoing_webhooks
from app.webhooks.outgoing import forget_transaction

log = logging.getLogger(__name__)
_EVENTS = "careloop.events"
_TO_TELL = "careloop.events_to_tell"
_AFTER = "careloop.after_commit"


def record_event(
    verb: str,
    actor: User | None,
    *,
    problem: Problem | None = None,
    report: Report | None = None,
    subject_user: User | None = None,
    **details: Any,
) -> Event:
    """Record a domain event in the current transaction (the caller commits). Its audit
    row is added now; its messages, webhook deliveries and plugin hooks follow at commit."""
    event = Event(
        verb=verb,
        actor=actor,
        problem=problem,
        report=report,
        subject_user=subject_user,
        details=_jsonable(details),
    )
    db.session.add(event)
    db.session.info.setdefault(_EVENTS, []).append(event)
    db.session.info.setdefault(_TO_TELL, []).append(event)
    return event


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


# --- typed plugin hooks ------------------------------------------------------------------


class Hooks:
    """The event hooks, called by name-checked methods (as tox wraps ``pm.hook``).

    A failing plugin is logged and never undoes committed work or stops other plugins."""

    def __init__(self, pm: pluggy.PluginManager):
        self._pm = pm

    def report_filed(self, report: ReportInfo) -> None:
        self._call(self._pm.hook.report_filed, report=report)

    def problem_status_changed(self, problem: ProblemInfo, before: str, after: str) -> None:
        self._call(self._pm.hook.problem_status_changed, problem=problem, before=before, after=after)

    def change_published(self, problem: ProblemInfo, reports: list[ReportInfo]) -> None:
        self._call(self._pm.hook.change_published, problem=problem, reports=reports)

    @staticmethod
    def _call(caller, **kwargs) -> None:
        for impl in reversed(caller.get_hookimpls()):
            try:
                impl.function(**{arg: kwargs[arg] for arg in impl.argnames})
            except Exception:  # noqa: BLE001 - a plugin's bug must not undo committed work
                log.exception("Plugin %s failed in %s", impl.plugin_name, caller.name)


def hooks(app: Flask | None = None) -> Hooks:

    return Hooks(plugin_manager(app))


def report_info(report: Report) -> ReportInfo:
    return ReportInfo(
        id=report.id,
        problem_id=report.problem_id,
        channel=report.channel,
        source=report.source,
        external_id=report.external_id,
        text=report.text,
        reporter_name=report.reporter.display_name,
        reporter_email=report.reporter.email,
        created_at=report.created_at,
    )


def problem_info(problem: Problem) -> ProblemInfo:
    url = external_url("public.change", problem_id=problem.id) if problem.published_at is not None else None
    return ProblemInfo(
        id=problem.id,
        title=problem.title,
        status=problem.status,
        owner_name=problem.owner.name if problem.owner else None,
        public_title=problem.public_title,
        change_what=problem.change_what,
        decline_reason=problem.decline_reason,
        url=url,
    )


# --- the fan-out -------------------------------------------------------------------------


@dataclass
class Committed:
    """What one transaction's events ask for, gathered before it commits."""

    events: list[Event]
    hook_calls: list[Callable[[Hooks], None]] = field(default_factory=list)


def _hook_calls(event: Event) -> list[Callable[[Hooks], None]]:

    if event.verb == REPORT_FILED and event.report is not None:
        info = report_info(event.report)
        return [lambda h: h.report_filed(info)]
    if event.verb == STATUS_CHANGED and event.problem is not None:
        info = problem_info(event.problem)
        before = (event.details.get("before") or {}).get("status")
        after = (event.details.get("after") or {}).get("status")
        return [lambda h: h.problem_status_changed(info, before, after)]
    if event.verb == PUBLISHED and event.problem is not None:
        info = problem_info(event.problem)
        reports = [report_info(r) for r in event.problem.reports]
        return [lambda h: h.change_published(info, reports)]
    return []


def _before_commit(session: Session) -> None:
    recorded = session.info.pop(_EVENTS, None)
    if not recorded:
        return  # nothing happened that anyone needs to hear about
    session.flush()  # events, problems and reports get their ids
    events = [e for e in recorded if inspect(e).persistent]  # not rolled back with a savepoint
    if not events:
        return

    for event in events:
        outgoing_webhooks.event_recorded(event)
    outgoing_webhooks.write_deliveries(session)
    calls = [call for event in events for call in _hook_calls(event)]
    if pagecache.bump_for(session, events):
        calls.append(lambda _hooks: pagecache.forget_seen_version())
    if calls:
        session.info.setdefault(_AFTER, []).extend(calls)
    session.flush()


def _after_flush_postexec(session: Session, flush_context) -> None:
    """Events just flushed: who is told what (the session may not flush again here, so the
    messages are flushed with the next flush or the commit)."""
    recorded = session.info.pop(_TO_TELL, None)
    if not recorded:
        return
    events = [e for e in recorded if inspect(e).persistent]
    if events:

        telling.events_flushed(events)


def _after_commit(session: Session) -> None:
    calls = session.info.pop(_AFTER, None)
    if not calls:
        return
    wrapper = hooks(current_app)
    for call in calls:
        call(wrapper)


def _after_transaction_end(session: Session, transaction) -> None:
    """Whatever ends the transaction (commit, rollback, close), start the next one afresh."""
    if transaction.parent is None:
        session.info.pop(_EVENTS, None)
        session.info.pop(_TO_TELL, None)

        forget_transaction(session)


def _after_rollback(session: Session) -> None:
    session.info.pop(_AFTER, None)


def _events_are_append_only(session: Session, flush_context, instances) -> None:
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, Event) and (obj in session.deleted or session.is_modified(obj)):
            raise AppendOnlyError("Audit events cannot be changed or deleted.")


_SESSION_LISTENERS = (
    ("before_flush", _events_are_append_only),
    ("after_flush_postexec", _after_flush_postexec),
    ("before_commit", _before_commit),
    ("after_commit", _after_commit),
    ("after_rollback", _after_rollback),
    ("after_transaction_end", _after_transaction_end),
)


def init_app(app: Flask) -> None:
    """Register the fan-out's listeners on this app's session (once, however many apps
    share the extension)."""
    for name, listener in _SESSION_LISTENERS:
        if not sa_event.contains(db.session, name, listener):
            sa_event.listen(db.session, name, listener)
