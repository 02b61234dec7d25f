"""Importing tickets from plugin sources into reports, page by page.

Each page of tickets and the cursor after it are committed together, so a run that
crashes or is killed resumes where it stopped without losing or repeating a ticket.
This module commits (page by page), unlike the other services: an import run is its
own outer layer.
"""

from __future__ import annotations

import importlib
import logging
import threading
from contextlib import closing, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy.orm import aliased

from app.events import record_event
from app.extensions import db
from app.grouping import similarity_index
from app.grouping.encoding import EncoderProcesses
from app.imports.collector import fewer_full_collections
from app.imports.ids import forget_pending, ids_before_insert
from app.imports.linked_work import check_linked_work
from app.imports.pipeline import ReadAhead, chunk_size
from app.messaging.mail import WITHDRAWN
from app.models import (
    REPORT_MOVED,
    REPORT_REMOVED,
    REPORT_UPDATED,
    Channel,
    ImportRun,
    Message,
    MessageKind,
    MessageStatus,
    Person,
    Problem,
    ProblemLink,
    Report,
    SourceState,
    new_token,
    utcnow,
)
from app.plugin_api import AuthenticationFailed, SourceError, Ticket, TicketSource
from app.plugins.manager import source_settings, ticket_sources
from app.services.errors import ServiceError
from app.services.filing import Imported, Submission, submit_report
from app.services.filing import Person as Filer
from app.services.import_lock import RunLock, is_running
from app.services.telling import PEOPLE_MADE

log = logging.getLogger(__name__)
REMOVED_TEXT = ""


@dataclass
class ImportResult:
    source: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    errors: int = 0
    excluded: int = 0  # tickets that do not match the source's filter (not stored, or marked)
    skipped: int = 0  # items Careloop created itself, never imported as reports
    error_message: str | None = None
    ticket_errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error_message is None

    def summary(self) -> str:
        line = (f"{self.source}: {self.created} created, {self.updated} updated, "
                f"{self.unchanged} unchanged, {self.removed} removed, {self.errors} errors")
        if self.excluded or self.skipped:
            line += f", {self.excluded} not matching the filter, {self.skipped} created by Careloop (skipped)"
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


def _close_abandoned_runs(name: str, state: SourceState) -> None:
    """Runs whose process died (killed, power cut) never finished: say so. Called while
    holding the lock, so no live run is among them."""
    for run in db.session.scalars(db.select(ImportRun).filter_by(source=name, finished_at=None)).all():
        run.finished_at = utcnow()
        run.error_message = run.error_message or (
            "This run ended without finishing (its process was stopped); the next run resumed "
            "from the last page it stored.")
    state.running_since = None


def import_from_source(name: str, trigger: str = "command") -> ImportResult:
    """Run one import of a source to the end of what it has now; commits as it goes.

    A page is one transaction: its tickets, then its cursor. Within it the similarity
    index's ``batch()`` lets each ticket see the ones before it, so a ticket is grouped
    exactly as if the page's tickets had been filed one after the other (an index that
    cannot batch gets each ticket committed before the next). The next page is read and
    encoded ahead on another thread (:mod:`app.imports.pipeline`). A run killed mid-page
    is asked for that page again from the last committed cursor; storing is idempotent, so
    nothing is lost or stored twice.
    """
    source = get_source(name)
    settings = source_settings(source)
    result = ImportResult(source=name)
    missing = source.missing_settings(settings) + source.invalid_settings(settings)
    if missing:
        result.error_message = f"{source.title} is not configured: {'; '.join(missing)}."
        result.errors = 1
        return result

    lock = RunLock(name)
    db.session.commit()  # nothing of the caller's stays open while the run holds the lock
    if not lock.acquire():
        result.errors = 1
        result.error_message = f"An import of {source.title} is already running; try again when it ends."
        return result
    try:
        return _run(name, source, settings, result, trigger)
    finally:
        lock.release()


def _run(name: str, source: TicketSource, settings, result: ImportResult, trigger: str) -> ImportResult:
    state = source_state(name)
    _close_abandoned_runs(name, state)
    run = ImportRun(source=name, cursor_before=state.cursor, trigger=trigger)
    db.session.add(run)
    state.last_run_at = state.running_since = utcnow()
    db.session.commit()
    created_here = _created_here(name)
    index = similarity_index()
    committed = _snapshot(result)
    try:
        # The next pages are read and their texts encoded on a thread ahead of this one
        # (app/imports/pipeline.py); this thread stores the tickets one by one, in order.
        # A long run's texts are encoded in processes of their own (app/grouping/encoding.py).
        cursor = state.cursor
        app = current_app._get_current_object()
        encoders = EncoderProcesses(app, getattr(index, "backend", None))
        ahead = ReadAhead(app, lambda: source.fetch(settings, cursor),
                          lambda texts: index.prime(texts, encoders.encode), _text_to_encode, chunk=chunk_size())
        with fewer_full_collections(), encoders, ahead, ids_before_insert(db.session()):
            for page, chunks in ahead:
                # One transaction per page: its reports, then the cursor after them. Each
                # ticket is still placed as if filed alone after the ones before it: the
                # index's batch lets the page's tickets see each other before the commit.
                with index.batch() if index.batches else nullcontext():
                    known = _known_reports(name, page.tickets)
                    _make_people(page.tickets)
                    for tickets in chunks:
                        for ticket in tickets:
                            store_ticket(name, ticket, result, created_here=created_here, known=known)
                            if not index.batches:
                                db.session.commit()  # the next ticket sees this one, as if filed after it
                    resolve_pending_merges(name)
                    state.cursor = page.cursor
                    _count(run, result)
                    db.session.commit()  # the page and the cursor after it, together
                db.session.info.pop(PEOPLE_MADE, None)
                forget_pending(db.session())
                committed = _snapshot(result)
                if page.done:
                    break
    except AuthenticationFailed as error:
        db.session.rollback()
        _restore(result, committed)
        result.errors += 1
        result.error_message = f"Authentication failed for {source.title}: {error}"
    except (SourceError, OSError, ValueError) as error:
        db.session.rollback()
        _restore(result, committed)
        result.errors += 1
        result.error_message = f"{source.title} import stopped: {error}"
    except Exception as error:  # noqa: BLE001 - a plugin bug: record it and release the lock
        db.session.rollback()
        _restore(result, committed)
        log.exception("Import of %s failed", name)
        result.errors += 1
        result.error_message = f"{source.title} import failed unexpectedly: {type(error).__name__}: {error}"
    db.session.info.pop(PEOPLE_MADE, None)
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


COUNTS = ("created", "updated", "unchanged", "removed", "errors", "excluded", "skipped")


def _snapshot(result: ImportResult) -> tuple:
    """The counts as committed (a page rolled back is not counted)."""
    return tuple(getattr(result, c) for c in COUNTS), list(result.ticket_errors)


def _restore(result: ImportResult, snapshot: tuple) -> None:
    counts, errors = snapshot
    for name, value in zip(COUNTS, counts):
        setattr(result, name, value)
    result.ticket_errors = list(errors)


def _known_reports(source: str, tickets: list[Ticket]) -> dict[str, Report]:
    """The reports already stored for a page's tickets, in one query (not one per ticket)."""
    keys = list({str(t.external_id) for t in tickets})
    found: dict[str, Report] = {}
    for start in range(0, len(keys), 500):
        found.update((r.external_id, r) for r in db.session.scalars(
            db.select(Report).where(Report.source == source, Report.external_id.in_(keys[start:start + 500]))))
    return found


def _make_people(tickets: list[Ticket]) -> None:
    """The person rows for a page's new addresses, in one statement (``ensure_person`` then
    finds them instead of making each in a savepoint of its own); an address another
    filing made at the same moment is left alone."""
    if not current_app.config["CARELOOP_IMPORT_CONTACT_OK"]:
        return
    emails = sorted({t.requester_email.strip().lower() for t in tickets
                     if t.requester_email and t.requester_email.strip() and t.status != "deleted"
                     and not t.excluded})
    if not emails:
        return
    dialect = db.session.get_bind().dialect.name
    if dialect not in ("postgresql", "sqlite"):
        return  # ensure_person makes them one by one
    have = set(db.session.scalars(db.select(Person.email).where(Person.email.in_(emails))))
    rows = [{"email": e, "token": new_token(), "created_at": utcnow()} for e in emails if e not in have]
    if rows:
        insert = importlib.import_module(f"sqlalchemy.dialects.{dialect}").insert(Person)
        db.session.execute(insert.on_conflict_do_nothing(index_elements=[Person.email]), rows)
    # Every address of the page has its person now (made here, by someone else, or
    # before): the filings need not look each one up again (cleared after the page).
    db.session.info[PEOPLE_MADE] = set(emails)


def _created_here(name: str) -> set[str]:
    """Keys of the items Careloop itself created in this source (to carry a problem's fix)."""
    return set(db.session.scalars(db.select(ProblemLink.external_key)
                                  .filter_by(source=name, created_here=True)))


def _count(run: ImportRun, result: ImportResult) -> None:
    run.created, run.updated, run.unchanged = result.created, result.updated, result.unchanged
    run.removed, run.errors = result.removed, result.errors


def store_ticket(source: str, ticket: Ticket, result: ImportResult, *, created_here: set[str] | None = None,
                 known: dict[str, Report] | None = None) -> None:
    """Create, update, remove or move the report for one ticket (idempotent).

    An item Careloop itself created to carry a problem's fix is never a report (a run
    passes ``created_here``, the keys it looked up once; a webhook looks this one up).
    ``known``: the page's stored reports by external id, looked up at once by a run (and
    kept up to date here); without it the report is looked up."""
    key = str(ticket.external_id)
    if (key in created_here) if created_here is not None else db.session.scalar(
            db.select(ProblemLink.id).filter_by(source=source, external_key=key, created_here=True).limit(1)):
        result.skipped += 1
        return
    if known is not None:
        report = known.get(key)
    else:
        report = db.session.scalar(db.select(Report).filter_by(source=source, external_id=key))
    if ticket.status == "deleted":
        if report is not None and report.removed_at is None:
            remove_report_text(report)
            result.removed += 1
        else:
            result.unchanged += 1
        return
    if ticket.excluded:
        result.excluded += 1
        if report is not None and report.import_note != ticket.excluded:
            # Kept, not removed silently: the report stays in its problem and says why.
            report.import_note = ticket.excluded[:500]
            record_event(REPORT_UPDATED, None, problem=report.problem, report=report,
                   after={"no_longer_matches": report.import_note})
            db.session.flush()
        return
    text = ticket_text(ticket)
    if not text:
        result.errors += 1
        result.ticket_errors.append(f"{source} {ticket.external_id}: no text")
        return

    if report is None:
        try:
            created = _create_report(source, ticket, text)
        except ServiceError as error:
            result.errors += 1
            result.ticket_errors.append(f"{source} {ticket.external_id}: {error.message}")
            return
        if known is not None:
            known[key] = created  # the same ticket again later in the page updates it
        result.created += 1
        return

    changed = False
    if report.import_note is not None:
        report.import_note = None  # it matches the filter again
        changed = True
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
    report.linked_to, report.linked_url = ticket.linked_to, ticket.linked_url
    if changed:
        result.updated += 1
    else:
        result.unchanged += 1
    db.session.flush()


def _text_to_encode(ticket: Ticket) -> str | None:
    """The text a ticket will be filed with, if it will be filed (for reading ahead)."""
    return ticket_text(ticket) if ticket.status != "deleted" and not ticket.excluded else None


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


def _create_report(source: str, ticket: Ticket, text: str) -> Report:
    """File the ticket through the one filing service (``submit_report``), as an import."""
    return submit_report(
        Submission(
            text=text,
            location=ticket.location,
            person=Filer(name=ticket.requester_name, email=ticket.requester_email,
                          contact_ok=bool(ticket.requester_email)
                          and current_app.config["CARELOOP_IMPORT_CONTACT_OK"]),
            imported=Imported(
                source=source, external_id=str(ticket.external_id), created_at=ticket.created_at,
                updated_at=ticket.updated_at, url=ticket.url, merged_into=ticket.merged_into,
                linked_to=ticket.linked_to, linked_url=ticket.linked_url,
                problem=_merged_target_problem(source, ticket)),
        ),
        channel=Channel.IMPORT,
    ).report


def _merged_target_problem(source: str, ticket: Ticket):
    """A ticket closed by a merge follows the ticket it was merged into; an incident
    linked to a remote problem ticket joins that ticket's problem, or else the problem of
    another incident linked to it (the problem ticket itself may not be a report)."""
    target_id = ticket.merged_into or ticket.linked_to
    if not target_id:
        return None
    target = db.session.scalar(
        db.select(Report).filter_by(source=source, external_id=str(target_id))
    )
    if target is None and ticket.linked_to and not ticket.merged_into:
        target = db.session.scalar(
            db.select(Report).where(Report.source == source, Report.linked_to == str(ticket.linked_to),
                                    Report.external_id != str(ticket.external_id),
                                    Report.problem_id.is_not(None)).order_by(Report.id).limit(1))
    if target is None or target.problem is None:
        return None
    problem = target.problem
    while problem.merged_into_id is not None:
        problem = problem.merged_into
    return problem


def resolve_pending_merges(source: str) -> int:
    """Tickets merged into one that arrived later (a later page or run) follow it now."""
    target = aliased(Report)
    pending = db.session.execute(
        db.select(Report, target.problem_id)
        .join(target, (target.source == Report.source) & (target.external_id == Report.merged_into))
        .where(Report.source == source, Report.merged_into.is_not(None),
               Report.problem_id != target.problem_id)
    ).all()
    # Incidents whose problem ticket arrived after them follow it too (not merged: linked).
    pending += db.session.execute(
        db.select(Report, target.problem_id)
        .join(target, (target.source == Report.source) & (target.external_id == Report.linked_to))
        .where(Report.source == source, Report.linked_to.is_not(None), Report.merged_into.is_(None),
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
class TicketReply:
    message: Message
    report: Report | None
    state: str  # posted, waiting, failed, withdrawn


def ticket_replies(problem: Problem) -> tuple[list[TicketReply], dict[str, int]]:
    """Each reply on a remote ticket for this problem, with its state, and the count per state."""
    messages = db.session.scalars(db.select(Message).where(
        Message.problem_id == problem.id, Message.kind == MessageKind.WRITE_BACK).order_by(Message.id)).all()
    report_ids = {rid for m in messages for rid in (m.report_ids or [])}
    reports = {r.id: r for r in db.session.scalars(db.select(Report).where(Report.id.in_(report_ids)))} \
        if report_ids else {}
    replies = []
    for message in messages:
        if message.status == MessageStatus.SENT:
            state = "posted"
        elif message.status in (MessageStatus.PENDING, MessageStatus.SENDING):
            state = "waiting"
        elif (message.last_error or "").startswith(WITHDRAWN):
            state = "withdrawn"
        else:
            state = "failed"
        report = next((reports[i] for i in (message.report_ids or []) if i in reports), None)
        replies.append(TicketReply(message, report, state))
    counts = {state: sum(1 for r in replies if r.state == state)
              for state in ("posted", "waiting", "failed", "withdrawn")}
    return replies, counts


def remote_groups(problem: Problem) -> list[tuple[str, str, str | None]]:
    """The remote tickets that group this problem's reports (a Zendesk problem ticket):
    (source, external id, address), each once."""
    rows = db.session.execute(db.select(Report.source, Report.linked_to, Report.linked_url).where(
        Report.problem_id == problem.id, Report.linked_to.is_not(None)).distinct()).all()
    return sorted({(r.source, r.linked_to, r.linked_url) for r in rows})


@dataclass
class SourceOverview:
    name: str
    title: str
    configured: bool
    settings: list[tuple[str, str]]  # (variable, value shown: secrets masked)
    state: SourceState | None
    last_run: ImportRun | None
    problems: list[str] = field(default_factory=list)  # what is missing or mistyped
    running: bool = False  # a live run holds the source's lock now
    next_run_at: datetime | None = None
    can_test: bool = False


def _masked(value: str | None, secret: bool) -> str:
    if not value:
        return _("not set")
    if not secret:
        return value
    return "•••• " + value[-2:] if len(value) > 8 else "••••"


def next_run_at(state: SourceState | None) -> datetime | None:
    """When ``careloop import all --watch`` (or a timer every CARELOOP_IMPORT_EVERY_MINUTES)
    runs this source next: one interval after the last run started; None before any run."""
    minutes = int(current_app.config.get("CARELOOP_IMPORT_EVERY_MINUTES") or 0)
    if not minutes or state is None or state.last_run_at is None:
        return None
    return state.last_run_at + timedelta(minutes=minutes)


def source_overview() -> list[SourceOverview]:
    """Each source with its settings (secrets masked), state and last run, for the admin page."""
    overview = []
    for name, source in sorted(ticket_sources().items()):
        settings = source_settings(source)
        last_run = db.session.scalar(
            db.select(ImportRun).filter_by(source=name).order_by(ImportRun.started_at.desc(), ImportRun.id.desc()).limit(1)
        )
        state = db.session.get(SourceState, name)
        problems = source.missing_settings(settings) + source.invalid_settings(settings)
        overview.append(SourceOverview(
            name=name,
            title=source.title,
            configured=not problems,
            settings=[(s.name, _masked(settings.get(s.name), s.secret)) for s in source.settings],
            state=state,
            last_run=last_run,
            problems=problems,
            running=is_running(name),
            next_run_at=next_run_at(state),
            can_test=source.test_connection is not None and not problems,
        ))
    return overview


def run_import(name: str, trigger: str = "command") -> tuple[ImportResult, tuple[int, int] | None]:
    """An import run and then, for a source that tracks work, the check of linked work
    (as ``careloop import`` does, and the Sources page's "Import now")."""

    source = get_source(name)
    result = import_from_source(name, trigger=trigger)
    linked = check_linked_work(name) if source.tracks_work and source.configured(source_settings(source)) else None
    return result, linked


@dataclass
class Preview:
    """What an import would bring in now, with nothing stored (a dry run)."""

    source: str
    matching: int = 0
    excluded: int = 0
    deleted: int = 0
    pages: int = 0
    complete: bool = False  # the whole range was read (not cut at the page limit)
    sample: list[Ticket] = field(default_factory=list)
    excluded_sample: list[Ticket] = field(default_factory=list)
    error: str | None = None

    def summary(self) -> str:
        scope = "everything from the start" if self.complete else f"the first {self.pages} page(s)"
        line = (f"{self.source} (dry run, nothing stored; {scope}): {self.matching} would become reports, "
                f"{self.excluded} do not match the filter, {self.deleted} deleted")
        return line + (f"\n  {self.error}" if self.error else "")


def preview_source(name: str, max_pages: int = 10, sample_size: int = 5) -> Preview:
    """Read the source from its start (its configured first date) with the current
    settings, counting what would become a report; stores nothing, moves no cursor."""
    source = get_source(name)
    settings = source_settings(source)
    preview = Preview(source=name)
    problems = source.missing_settings(settings) + source.invalid_settings(settings)
    if problems:
        preview.error = f"{source.title} is not configured: {'; '.join(problems)}."
        return preview
    try:
        with closing(source.fetch(settings, None)) as pages:
            for page in pages:
                preview.pages += 1
                for ticket in page.tickets:
                    if ticket.status == "deleted":
                        preview.deleted += 1
                    elif ticket.excluded:
                        preview.excluded += 1
                        if len(preview.excluded_sample) < sample_size:
                            preview.excluded_sample.append(ticket)
                    else:
                        preview.matching += 1
                        if len(preview.sample) < sample_size:
                            preview.sample.append(ticket)
                if page.done:
                    preview.complete = True
                    break
                if preview.pages >= max_pages:
                    break
    except SourceError as error:
        preview.error = f"{source.title}: {error}"
    return preview


def test_source_connection(name: str) -> tuple[bool, str]:
    """One cheap authenticated call to the source; (worked, what it said)."""
    source = get_source(name)
    settings = source_settings(source)
    problems = source.missing_settings(settings) + source.invalid_settings(settings)
    if problems:
        return False, f"{source.title} is not configured: {'; '.join(problems)}."
    if source.test_connection is None:
        return False, f"{source.title} cannot test its connection."
    try:
        return True, source.test_connection(settings)
    except SourceError as error:
        return False, f"{source.title}: {error}"


def start_import_in_background(app, name: str) -> threading.Thread:
    """Run an import without holding up the request; the claim keeps it single."""

    def run():
        with app.app_context():
            try:
                run_import(name, trigger="admin")  # linked work is checked too, as the command does
            except Exception:  # noqa: BLE001 - recorded in the log; the page shows the last run
                log.exception("Background import of %s failed", name)

    thread = threading.Thread(target=run, name=f"import-{name}", daemon=True)
    thread.start()
    return thread
