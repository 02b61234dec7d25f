"""An import source that fails mid-run (a real HTTP server on loopback answering like Zendesk:
HTTP 500 on the third page, past every retry) and then recovers: the failed run is recorded
with its error, the cursor stays at the end of page 2, and the next run resumes from there
with every ticket exactly once. (tests/plugins covers a truncated page and a SIGKILL.)"""

from __future__ import annotations

from werkzeug import Response

from app.extensions import db
from app.imports.importer import import_from_source
from app.models import ImportRun, Problem
from tests.plugins.test_zendesk import (  # noqa: F401 - fixtures used by name
    START_EPOCH,
    configure,
    export_page,
    fake,
    fake_time,
    reports,
    saved_cursor,
    zd,
    zendesk,
    zticket,
)

PAGE = {1: [201, 202], 2: [203, 204], 3: [205, 206], 4: [207]}


def runs() -> list[ImportRun]:
    db.session.expire_all()
    return db.session.scalars(db.select(ImportRun).where(ImportRun.source == "zendesk").order_by(ImportRun.id)).all()


def page(n: int, last: bool = False) -> dict:
    return export_page([zticket(t) for t in PAGE[n]], None if last else f"c{n}", last)


def test_a_source_failing_on_page_3_is_recorded_and_the_next_run_resumes_without_duplicates(zd, fake_time):
    zd.on_export(f"start:{START_EPOCH}", page(1))
    zd.on_export("cursor:c1", page(2))
    zd.on_export("cursor:c2", *[Response("Internal Server Error", status=500)] * 6, page(3))
    zd.on_export("cursor:c3", page(4, last=True))

    first = import_from_source("zendesk")

    assert not first.ok and "HTTP 500" in first.error_message
    assert sorted(int(r.external_id) for r in reports()) == PAGE[1] + PAGE[2]  # pages 1-2 kept
    assert saved_cursor() == "cursor:c2"  # the end of page 2
    failed = runs()[-1]
    assert failed.error_message == first.error_message and failed.finished_at is not None
    assert (failed.created, failed.cursor_before, failed.cursor_after) == (4, None, "cursor:c2")
    assert len([e for e in zd.exports() if e["args"].get("cursor") == "c2"]) == 6  # tried, with back-off

    second = import_from_source("zendesk")  # the source is back

    assert second.ok and second.created == 3
    resumed = [e for e in zd.exports() if e["args"].get("cursor") == "c2"]
    assert len(resumed) == 7 and "start_time" not in zd.exports()[-2]["args"]  # went on from page 3
    ids = [int(r.external_id) for r in reports()]
    assert sorted(ids) == sorted(set(ids)) == [t for n in sorted(PAGE) for t in PAGE[n]]  # each exactly once
    assert all(r.problem_id is not None for r in reports())
    assert db.session.scalar(db.select(db.func.count(Problem.id))) >= 1
    ok = runs()[-1]
    assert ok.error_message is None and (ok.cursor_before, ok.created) == ("cursor:c2", 3)
