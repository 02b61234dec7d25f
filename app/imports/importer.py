"""Importing tickets from plugin sources into reports, page by page.

Each page of tickets and the cursor after it are committed together, so a run that
crashes or is killed resumes where it stopped without losing or repeating a ticket.
This module commits (page by page), unlike the other services: an import run is its
own outer layer.
"""

from __future__ import annotations

import logging
import threading
from contextlib import closing
from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy.orm import aliased

from app.events import record_event
from app.extensions import db
from app.grouping import similarity_index
from app.models import (
    REPORT_MOVED,
    REPORT_REMOVED,
    REPORT_UPDATED,
    Channel,
    ImportRun,
    Problem,
    Report,
    SourceState,
    utcnow,
)
from app.plugin_api import AuthenticationFailed, SourceError, Ticket, TicketSource
from app.plugins.manager import source_settings, ticket_sources
from app.services.errors import ServiceError
from app.services.reports import file_report, new_reporter

log = logging.getLogger(__name__)
REMOVED_TEXT = ""
STALE_CLAIM = timedelta(hours=1)


@dataclass
class ImportResult:
    source: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    errors: int = 0
    error_message: str | None = None
    ticket_errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error_message is None

    def summary(self) -> str:
        line = (f"{self.source}: {self.created} created, {self.updated} updated, "
                f"{self.unchanged} unchanged, {self.removed} removed, {self.errors} errors")
        return line + (f"\n  {self.error_message}" if self.error_message else "")


def get_source(name: str) -> TicketSource:
    sources = ticket_sources()
    if name not in sources:
        raise ServiceError(
            _("There is no ticket source named %(name)s. Loaded sources: %(loaded)s.",
              name=repr(name), loaded=", ".join(sorted(sources)) or _("none"))
        )
    return sources[name]


def source_state(name: str) -> SourceState:
    state = db.session.get(SourceState, name)
    if state is None:
        state = SourceState(name=name)
        db.session.add(state)
        db.session.flush()
    return state


def claim_source(name: str) -> bool:
    """Mark a source as running, atomically, so two processes never import it at once.

    A claim older than STALE_CLAIM (a killed run) can be taken over."""
    source_state(name)
    db.session.commit()
    now = utcnow()
    claimed = db.session.execute(
        db.update(SourceState)
        .where(SourceState.name == name)
        .where((SourceState.running_since.is_(None)) | (SourceState.running_since < now - STALE_CLAIM))
        .values(running_since=now)
    ).rowcount
    db.session.commit()
    return claimed == 1


def import_from_source(name: str, trigger: str = "command") -> ImportResult:
    """Run one import of a source to the end of what it has now; commits page by page."""
    source = get_source(name)
    settings = source_settings(source)
    result = ImportResult(source=name)
    missing = source.missing_settings(settings)
    if missing:
        result.error_message = f"{source.title} is not configured: {'; '.join(missing)}."
        result.errors = 1
        return result

    if not claim_source(name):
        result.errors = 1
        result.error_message = f"An import of {source.title} is already running; try again when it ends."
        return result
    state = db.session.get(SourceState, name)
    run = ImportRun(source=name, cursor_before=state.cursor, trigger=trigger)
    db.session.add(run)
    state.last_run_at = utcnow()
    db.session.commit()
    try:
        with closing(source.fetch(settings, state.cursor)) as pages:
            for page in pages:
                similarity_index().prime([ticket_text(t) for t in page.tickets if t.status != "deleted"])
                for ticket in page.tickets:
                    store_ticket(name, ticket, result)
                resolve_pending_merges(name)
                state.cursor = page.cursor
                _count(run, result)
                db.session.commit()  # the page and its cursor, together
                if page.done:
                    break
    except AuthenticationFailed as error:
        db.session.rollback()
        result.errors += 1
        result.error_message = f"Authentication failed for {source.title}: {error}"
    except (SourceError, OSError, ValueError) as error:
        db.session.rollback()
        result.errors += 1
        result.error_message = f"{source.title} import stopped: {error}"
    except Exception as error:  # noqa: BLE001 - a plugin bug: record it and release the claim
        db.session.rollback()
        log.exception("Import of %s failed", name)
        result.errors += 1
        result.error_message = f"{source.title} import failed unexpectedly: {type(error).__name__}: {error}"
    state = db.session.get(SourceState, name)
    run = db.session.get(ImportRun, run.id)
    _count(run, result)
    run.finished_at = utcnow()
    run.cursor_after = state.cursor
    run.error_message = result.error_message
    state.last_error = result.error_message
    state.running_since = None
    if result.ok:
        state.last_success_at = run.finished_at
    db.session.commit()
    return result


def _count(run: ImportRun, result: ImportResult) -> None:
    run.created, run.updated, run.unchanged = result.created, result.updated, result.unchanged
    run.removed, run.errors = result.removed, result.errors


def store_ticket(source: str, ticket: Ticket, result: ImportResult) -> None:
    """Create, update, remove or move the report for one ticket (idempotent)."""
    report = db.session.scalar(
        db.select(Report).filter_by(source=source, external_id=str(ticket.external_id))
    )
    if ticket.status == "deleted":
        if report is not None and report.removed_at is None:
            remove_report_text(report)
            result.removed += 1
        else:
            result.unchanged += 1
        return
    text = ticket_text(ticket)
    if not text:
        result.errors += 1
        result.ticket_errors.append(f"{source} {ticket.external_id}: no text")
        return

    if report is None:
        try:
            _create_report(source, ticket, text)
        except ServiceError as error:
            result.errors += 1
            result.ticket_errors.append(f"{source} {ticket.external_id}: {error.message}")
            return
        result.created += 1
        return

    changed = False
    if report.removed_at is None and report.text != text:
        record_event(REPORT_UPDATED, None, problem=report.problem, report=report,
               before={"length": len(report.text)}, after={"length": len(text)})
        report.text = text
        similarity_index().index_report(report.id, report.problem_id, text)
        changed = True
    target = _merged_target_problem(source, ticket)
    if target is not None and target.id != report.problem_id:
        before = report.problem_id
        report.problem = target
        similarity_index().move_report(report.id, target.id)
        record_event(REPORT_MOVED, None, problem=target, report=report,
               before={"problem_id": before}, after={"problem_id": target.id}, reason="merged remotely")
        changed = True
    report.external_updated_at = ticket.updated_at
    report.external_url = ticket.url or report.external_url
    report.merged_into = ticket.merged_into
    if changed:
        result.updated += 1
    else:
        result.unchanged += 1
    db.session.flush()


def ticket_text(ticket: Ticket) -> str:
    """A ticket's words as a report: its description, after its title when that adds something."""
    text = (ticket.text or "").strip() or (ticket.title or "").strip()
    if ticket.title and ticket.title.strip() and ticket.title.strip() not in text:
        text = f"{ticket.title.strip()}\n\n{text}"
    limit = current_app.config["CARELOOP_MAX_REPORT_CHARS"]
    if len(text) > limit:
        # An import keeps the person's words; a note says where the rest is.
        text = text[: limit - 60].rstrip() + "\n\n[Shortened on import; the full text is in the ticket.]"
    return text


def _create_report(source: str, ticket: Ticket, text: str) -> None:
    reporter = new_reporter(
        name=ticket.requester_name,
        email=ticket.requester_email,
        contact_ok=bool(ticket.requester_email) and current_app.config["CARELOOP_IMPORT_CONTACT_OK"],
    )
    imported = {"external_url": ticket.url, "external_updated_at": ticket.updated_at,
                "merged_into": ticket.merged_into}
    if ticket.created_at:
        imported["created_at"] = ticket.created_at
    try:
        file_report(
            text=text,
            reporter=reporter,
            channel=Channel(source) if source in set(Channel) else Channel.API,
            source=source,
            external_id=str(ticket.external_id),
            location=ticket.location,
            problem=_merged_target_problem(source, ticket),
            extra=imported,
        )
    except ServiceError:
        db.session.expunge(reporter)  # a refused ticket leaves nothing behind
        raise


def _merged_target_problem(source: str, ticket: Ticket):
    """A ticket closed by a merge follows the ticket it was merged into."""
    if not ticket.merged_into:
        return None
    target = db.session.scalar(
        db.select(Report).filter_by(source=source, external_id=str(ticket.merged_into))
    )
    return target.problem if target is not None else None


def resolve_pending_merges(source: str) -> int:
    """Tickets merged into one that arrived later (a later page or run) follow it now."""
    target = aliased(Report)
    pending = db.session.execute(
        db.select(Report, target.problem_id)
        .join(target, (target.source == Report.source) & (target.external_id == Report.merged_into))
        .where(Report.source == source, Report.merged_into.is_not(None),
               Report.problem_id != target.problem_id)
    ).all()
    for report, problem_id in pending:
        before = report.problem_id
        report.problem_id = problem_id
        similarity_index().move_report(report.id, problem_id)
        record_event(REPORT_MOVED, None, problem=db.session.get(Problem, problem_id), report=report,
               before={"problem_id": before}, after={"problem_id": problem_id}, reason="merged remotely")
    db.session.flush()
    return len(pending)


def remove_report_text(report: Report) -> None:
    """The remote ticket was deleted: remove the words and the person's details, keep the
    report row so the problem keeps its count and history."""
    report.text = REMOVED_TEXT
    report.impact = None
    report.removed_at = utcnow()
    similarity_index().remove_report(report.id)
    reporter = report.reporter
    if all(r.removed_at is not None for r in reporter.reports):
        reporter.display_name = None
        reporter.email = None
        reporter.contact_ok = False
    record_event(REPORT_REMOVED, None, problem=report.problem, report=report)
    db.session.flush()


@dataclass
class SourceOverview:
    name: str
    title: str
    configured: bool
    settings: list[tuple[str, str]]  # (variable, value shown: secrets masked)
    state: SourceState | None
    last_run: ImportRun | None


def _masked(value: str | None, secret: bool) -> str:
    if not value:
        return _("not set")
    if not secret:
        return value
    return "•••• " + value[-2:] if len(value) > 8 else "••••"


def source_overview() -> list[SourceOverview]:
    """Each source with its settings (secrets masked), state and last run, for the admin page."""
    overview = []
    for name, source in sorted(ticket_sources().items()):
        settings = source_settings(source)
        last_run = db.session.scalar(
            db.select(ImportRun).filter_by(source=name).order_by(ImportRun.started_at.desc(), ImportRun.id.desc()).limit(1)
        )
        overview.append(SourceOverview(
            name=name,
            title=source.title,
            configured=source.configured(settings),
            settings=[(s.name, _masked(settings.get(s.name), s.secret)) for s in source.settings],
            state=db.session.get(SourceState, name),
            last_run=last_run,
        ))
    return overview


def start_import_in_background(app, name: str) -> threading.Thread:
    """Run an import without holding up the request; the claim keeps it single."""

    def run():
        with app.app_context():
            try:
                import_from_source(name, trigger="admin")
            except Exception:  # noqa: BLE001 - recorded in the log; the page shows the last run
                log.exception("Background import of %s failed", name)

    thread = threading.Thread(target=run, name=f"import-{name}", daemon=True)
    thread.start()
    return thread
