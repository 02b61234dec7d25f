"""``careloop scheduler``: the weekly digest and scheduled imports, from one long-running process.

Run it on one host or on several (for redundancy): each job and period is claimed by
inserting a ``scheduled_runs`` row (``digest`` / ``2026-W49``, ``import`` / ``2026-12-06T08:15``).
The digest's claim and its messages are one transaction, so if two schedulers race, the
second one's insert fails on the primary key and its digests are rolled back: leaders get
one digest a week. An import's claim is committed first (imports commit page by page and
resume from their cursor, so a host that dies mid-import leaves nothing half-done).

Also here: ``careloop backup`` for SQLite, with SQLite's online backup API.
"""

from __future__ import annotations

import calendar
import logging
import os
import socket
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.imports.importer import import_from_source
from app.messaging.digest import write_digests
from app.models import ScheduledRun, utcnow
from app.plugins.manager import ticket_sources
from app.services.errors import ServiceError
from app.worker import watch_loop

log = logging.getLogger("careloop.scheduler")
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
KEEP_RUNS = timedelta(days=90)


def host_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def digest_slot(now: datetime) -> str | None:
    """This week's slot once the configured day and hour (UTC) have come, else None."""
    config = current_app.config
    start_of_week = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    due = start_of_week + timedelta(days=WEEKDAYS.index(config["CARELOOP_DIGEST_WEEKDAY"]),
                                    hours=config["CARELOOP_DIGEST_HOUR"])
    if now < due:
        return None
    year, week, _ = now.isocalendar()
    return f"{year}-W{week:02d}"


def import_slot(now: datetime) -> str | None:
    minutes = current_app.config["CARELOOP_IMPORT_EVERY_MINUTES"]
    if not minutes:
        return None
    epoch_minutes = calendar.timegm(now.timetuple()) // 60  # now is naive UTC
    start = datetime.fromtimestamp(epoch_minutes // minutes * minutes * 60, timezone.utc)
    return start.strftime("%Y-%m-%dT%H:%M")


def _claimed(job: str, slot: str) -> bool:
    return db.session.get(ScheduledRun, (job, slot)) is not None


def run_digest(now: datetime) -> str | None:
    """Write this week's digests if no scheduler has; returns what happened, or None."""

    slot = digest_slot(now)
    if slot is None or _claimed("digest", slot):
        db.session.rollback()
        return None
    run = ScheduledRun(job="digest", slot=slot, host=host_name(), started_at=now)
    try:
        db.session.add(run)
        db.session.flush()  # PostgreSQL: waits here while another host's claim is uncommitted
        result = write_digests(now)
        run.finished_at = utcnow()
        run.outcome = result.summary()[:500]
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        log.info("digest %s: another scheduler wrote it", slot)
        return None
    log.info("digest %s: %s", slot, run.outcome)
    return run.outcome


def run_imports(now: datetime) -> str | None:

    slot = import_slot(now)
    if slot is None or not ticket_sources() or _claimed("import", slot):
        db.session.rollback()
        return None
    try:
        db.session.add(ScheduledRun(job="import", slot=slot, host=host_name(), started_at=now))
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return None
    outcomes = []
    for name in sorted(ticket_sources()):
        try:
            result = import_from_source(name)
            outcomes.append(f"{name}: {result.summary()}")
        except ServiceError as error:
            db.session.rollback()
            outcomes.append(f"{name}: {error.message}")
    run = db.session.get(ScheduledRun, ("import", slot))
    run.finished_at = utcnow()
    run.outcome = "; ".join(outcomes)[:500]
    db.session.commit()
    log.info("import %s: %s", slot, run.outcome)
    return run.outcome


def run_due_jobs(now: datetime | None = None) -> list[str]:
    """One round: every job that is due and not yet claimed by any host. Commits."""
    now = now or utcnow()
    done = [outcome for outcome in (run_digest(now), run_imports(now)) if outcome]
    db.session.execute(db.delete(ScheduledRun).where(ScheduledRun.started_at < now - KEEP_RUNS))
    db.session.commit()
    return done


@click.command("scheduler")
@click.option("--interval", default=30.0, show_default=True, help="Seconds between looks at the clock.")
@click.option("--once", is_flag=True, help="Run what is due now, then stop (for a cron job or a timer).")
@with_appcontext
def scheduler_command(interval, once):
    """Run the weekly digest and scheduled imports when due (safe on several hosts at once)."""

    def step():
        for outcome in run_due_jobs():
            click.echo(outcome)

    if once:
        return step()
    log.info("scheduler: digest on %s at %02d:00 UTC; imports %s", current_app.config["CARELOOP_DIGEST_WEEKDAY"],
             current_app.config["CARELOOP_DIGEST_HOUR"],
             f"every {current_app.config['CARELOOP_IMPORT_EVERY_MINUTES']} minutes"
             if current_app.config["CARELOOP_IMPORT_EVERY_MINUTES"] else "off")
    watch_loop("scheduler", step, interval)


@click.command("backup")
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def backup_command(target: Path):
    """Copy a SQLite database to TARGET while Careloop runs (SQLite's online backup API).

    For PostgreSQL use pg_dump (docs/deploying.md)."""

    url = db.engine.url
    if url.get_backend_name() != "sqlite":
        raise click.ClickException("careloop backup is for SQLite; for PostgreSQL use pg_dump -Fc (docs/deploying.md).")
    if target.exists():
        raise click.ClickException(f"{target} exists already; choose a new file name.")
    source = sqlite3.connect(url.database)
    copy = sqlite3.connect(target)
    try:
        with copy:
            source.backup(copy, pages=1024)
        check = copy.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        copy.close()
        source.close()
    if check != "ok":
        raise click.ClickException(f"The copy failed its integrity check: {check}")
    click.echo(f"Backed up {url.database} to {target} ({target.stat().st_size:,} bytes, integrity ok).")
