"""An import killed mid-run (SIGKILL, no clean-up at all) and run again ends with every
ticket exactly once: the cursor is committed with the page it covers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from werkzeug import Request

from app.extensions import db
from app.imports.importer import import_from_source
from app.models import Report, SourceState
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
PER_PAGE = 50
ROOT = Path(__file__).resolve().parents[2]


def test_an_import_killed_mid_run_resumes_with_every_ticket_exactly_once(app, app_ctx, httpserver, configure):
    third_page_served, release = threading.Event(), threading.Event()

    def handle(request: Request):
        cursor = request.args.get("cursor")
        index = int(cursor.removeprefix("c")) if cursor else 0
        if index >= 3:
            third_page_served.set()
            release.wait(30)  # hold the rest back: the process is killed while it waits
        tickets = [zticket(1000 + index * PER_PAGE + n) for n in range(PER_PAGE)]
        last = index == PAGES - 1
        return json_response(export_page(tickets, None if last else f"c{index + 1}", last))

    httpserver.expect_request(EXPORT).respond_with_handler(handle)
    env = {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "SECRET_KEY": "kill-test",
        "CARELOOP_ZENDESK_URL": httpserver.url_for("/").rstrip("/"),
        "CARELOOP_ZENDESK_EMAIL": EMAIL,
        "CARELOOP_ZENDESK_TOKEN": TOKEN,
        "CARELOOP_ZENDESK_START": START,
        "CARELOOP_ZENDESK_REQUESTS_PER_MINUTE": "0",
    }
    careloop = Path(sys.executable).with_name("careloop")
    process = subprocess.Popen([str(careloop), "import", "zendesk"], env=env, cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert third_page_served.wait(60), "the import never reached the fourth page"
        time.sleep(0.5)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
        release.set()

    db.session.expire_all()
    stored = db.session.scalars(db.select(Report.external_id)).all()
    assert len(stored) == 3 * PER_PAGE  # three whole pages, nothing partial
    state = db.session.get(SourceState, "zendesk")
    assert state.cursor == "cursor:c3" and state.running_since is not None  # the claim the kill left

    # The next run takes over the stale claim and resumes from the saved cursor.
    state.running_since = state.running_since.replace(year=state.running_since.year - 1)
    db.session.commit()
    httpserver.clear()
    httpserver.expect_request(EXPORT).respond_with_handler(
        lambda request: json_response(export_page(
            [zticket(1000 + int(request.args["cursor"][1:]) * PER_PAGE + n) for n in range(PER_PAGE)],
            None if request.args["cursor"] == f"c{PAGES - 1}" else f"c{int(request.args['cursor'][1:]) + 1}",
            request.args["cursor"] == f"c{PAGES - 1}")))
    configure(requests_per_minute="0")
    result = import_from_source("zendesk")
    assert result.ok and result.created == 3 * PER_PAGE
    ids = db.session.scalars(db.select(Report.external_id)).all()
    assert len(ids) == len(set(ids)) == PAGES * PER_PAGE
