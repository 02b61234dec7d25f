"""A real `careloop import zendesk` process killed with SIGKILL (no clean-up at all), mid-page
and between pages, then run again at once: it is not blocked by the dead run, resumes from
the last page committed, and every ticket ends up stored exactly once.

The lock is a PostgreSQL advisory lock on the run's own connection, or an flock beside the
SQLite file: both vanish with the process. Run on SQLite and PostgreSQL (DATABASE_URL).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from werkzeug import Request

from app.extensions import db
from app.imports.importer import import_from_source
from app.models import ImportRun, Report, SourceState
from tests.plugins.test_zendesk import (  # noqa: F401 - configure is a fixture
    EMAIL,
    EXPORT,
    START,
    TOKEN,
    configure,
    export_page,
    json_response,
    zticket,
)

PAGES = 6
PER_PAGE = 40
ROOT = Path(__file__).resolve().parents[2]


def page_for(request: Request):
    cursor = request.args.get("cursor")
    index = int(cursor.removeprefix("c")) if cursor else 0
    tickets = [zticket(1000 + index * PER_PAGE + n, f"Ticket {index}-{n}: error code Z{index * PER_PAGE + n} "
                                                     f"on screen {n % 7}, shop {index}")
               for n in range(PER_PAGE)]
    last = index == PAGES - 1
    return index, json_response(export_page(tickets, None if last else f"c{index + 1}", last))


def start_import(app, httpserver, encoder_processes: int = 0) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "SECRET_KEY": "kill-test",
        "CARELOOP_ZENDESK_URL": httpserver.url_for("/").rstrip("/"),
        "CARELOOP_ZENDESK_EMAIL": EMAIL,
        "CARELOOP_ZENDESK_TOKEN": TOKEN,
        "CARELOOP_ZENDESK_START": START,
        "CARELOOP_ZENDESK_REQUESTS_PER_MINUTE": "0",
        "CARELOOP_IMPORT_ENCODE_PROCESSES": str(encoder_processes),
    }
    command = [str(Path(sys.executable).with_name("careloop"))]
    if encoder_processes:  # the workers start with the first page, not after 500 texts
        command = [sys.executable, "-c", "import app.grouping.encoding as e; e.WARM_FROM = e.USE_FROM = 1; "
                                         "from app.cli import main; main()"]
    return subprocess.Popen([*command, "import", "zendesk"], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if Path(f"/proc/{pid}").exists()
            and Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"}


def stored_count() -> int:
    db.session.rollback()
    return db.session.scalar(db.select(db.func.count(Report.id)))


def kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(30)


def assert_next_run_resumes_at_once_with_everything_exactly_once(configure, httpserver, cursor_at_kill):
    configure(requests_per_minute="0")
    asked = []
    httpserver.clear()
    httpserver.expect_request(EXPORT).respond_with_handler(lambda r: (asked.append(r.args.get("cursor")),
                                                                      page_for(r)[1])[1])
    result = import_from_source("zendesk")  # at once: no lease to wait out
    assert result.ok, result.error_message
    # resumed at the last committed page (or at the start, when no page was whole)
    assert asked[0] == (cursor_at_kill.removeprefix("cursor:") if cursor_at_kill else None)
    ids = db.session.scalars(db.select(Report.external_id)).all()
    assert len(ids) == len(set(ids)) == PAGES * PER_PAGE  # nothing lost, nothing doubled
    killed = db.session.scalars(db.select(ImportRun).order_by(ImportRun.id)).all()[0]
    assert killed.finished_at is not None and "without finishing" in killed.error_message
    assert db.session.get(SourceState, "zendesk").running_since is None


@pytest.mark.parametrize("encoder_processes", [0, 2])
def test_killed_between_pages_the_next_run_resumes_at_once(app, app_ctx, httpserver, configure, encoder_processes):
    """With encoder processes (app/grouping/encoding.py) too: they leave with the run."""
    fourth_asked, release = threading.Event(), threading.Event()

    def handle(request: Request):
        index, response = page_for(request)
        if index == 3:
            fourth_asked.set()
            release.wait(60)  # the process is killed while it waits for this page
        return response

    httpserver.expect_request(EXPORT).respond_with_handler(handle)
    process = start_import(app, httpserver, encoder_processes)
    try:
        assert fourth_asked.wait(120), "the import never asked for the fourth page"
        # The run reads a page ahead while it stores the one before (app/imports/pipeline.py):
        # kill it once the third page is committed, while it waits for the fourth.
        deadline = time.monotonic() + 120
        while stored_count() < 3 * PER_PAGE and time.monotonic() < deadline:
            time.sleep(0.02)
        helpers = children(process.pid)
        kill(process)
    finally:
        if process.poll() is None:
            process.kill()
        release.set()

    if encoder_processes:
        assert len(helpers) >= encoder_processes  # the workers (and multiprocessing's tracker)
        deadline = time.monotonic() + 30
        while alive(helpers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(helpers), "encoder processes outlived the killed import"
    assert stored_count() == 3 * PER_PAGE
    cursor = db.session.get(SourceState, "zendesk").cursor
    assert cursor == "cursor:c3"
    assert_next_run_resumes_at_once_with_everything_exactly_once(configure, httpserver, cursor)


def test_killed_mid_page_the_next_run_resumes_at_once(app, app_ctx, httpserver, configure):
    served: list[int] = []
    httpserver.expect_request(EXPORT).respond_with_handler(
        lambda r: (lambda index, response: (served.append(index), response)[1])(*page_for(r)))
    process = start_import(app, httpserver)
    try:
        # Freeze the process (SIGSTOP) once it holds a page it has not committed yet: the
        # page was served, and neither its tickets nor the cursor after it are stored (the
        # run reads ahead, so it may hold the next one too). If it froze when it held no
        # such page, let it go on and try again on a later page. Then SIGKILL.
        caught = None
        while process.poll() is None and caught is None:
            if served and served[-1] > 0:
                process.send_signal(signal.SIGSTOP)
                whole = stored_count() // PER_PAGE  # pages committed; page `whole` is the next
                if 0 < whole <= served[-1]:  # served, not committed
                    caught = whole
                else:
                    process.send_signal(signal.SIGCONT)
            time.sleep(0.005)
        assert caught is not None, "the import finished before it could be caught mid-page"
        kill(process)
    finally:
        if process.poll() is None:
            process.kill()

    # The page in hand was one transaction: none of it is stored, and the cursor is the
    # one before it (after the last whole page).
    assert stored_count() == caught * PER_PAGE
    cursor = db.session.get(SourceState, "zendesk").cursor
    assert cursor == f"cursor:c{caught}"
    assert_next_run_resumes_at_once_with_everything_exactly_once(configure, httpserver, cursor)


@pytest.mark.parametrize("holder_alive", [True, False])
def test_a_live_run_still_excludes_another_but_a_dead_one_does_not(app, app_ctx, httpserver, configure,
                                                                    holder_alive):
    """Another process holds the import (a live run); stopping it frozen still excludes a
    second run; once it is killed, a run goes ahead at once."""
    fourth_asked, release = threading.Event(), threading.Event()

    def handle(request: Request):
        index, response = page_for(request)
        if index == 1:
            fourth_asked.set()
            release.wait(60)
        return response

    httpserver.expect_request(EXPORT).respond_with_handler(handle)
    process = start_import(app, httpserver)
    try:
        assert fourth_asked.wait(120)
        if holder_alive:
            result = import_from_source("zendesk")
            assert not result.ok and "already running" in result.error_message
        else:
            kill(process)
            release.set()  # the killed run's request is answered into the void
            configure(requests_per_minute="0")
            httpserver.clear()
            httpserver.expect_request(EXPORT).respond_with_handler(
                lambda r: json_response(export_page([zticket(9999)], None, True)))  # the rest, in short
            result = import_from_source("zendesk")
            assert result.ok and result.created == 1
    finally:
        release.set()
        if process.poll() is None:
            process.wait(120)
