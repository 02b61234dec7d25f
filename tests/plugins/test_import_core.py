"""The core side of imports, with an in-process fake source: paging, cursors, resuming,
edits, deletions, merges, errors, the CLI, webhooks and the Sources page."""

from __future__ import annotations

import gc
from datetime import datetime

import pytest

from app.extensions import db
from app.imports.collector import YOUNG
from app.imports.importer import import_from_source
from app.models import ImportRun, Problem, Report, Role, SourceState
from app.plugin_api import (
    AuthenticationFailed,
    Setting,
    SourceError,
    Ticket,
    TicketPage,
    TicketSource,
    WebhookRejected,
    WebhookResult,
)
from app.services.import_lock import RunLock


def ticket(n: int, **kw) -> Ticket:
    defaults = dict(text=f"Ticket {n}: the card machine is broken", requester_name=f"Person {n}",
                    requester_email=f"p{n}@example.net", updated_at=datetime(2026, 1, 1, 0, 0, n % 60))
    return Ticket(external_id=str(n), **{**defaults, **kw})


class FakeRemote:
    """Pages of tickets keyed by cursor; can fail once at a given cursor."""

    def __init__(self, pages: list[list[Ticket]]):
        self.pages = pages
        self.fail_at: str | None = None
        self.auth_ok = True
        self.calls: list[str | None] = []
        self.written_back: list[tuple[str, str]] = []

    def fetch(self, settings, cursor):
        start = int(cursor or 0)
        for index in range(start, len(self.pages)):
            self.calls.append(str(index))
            if not self.auth_ok:
                raise AuthenticationFailed("401 from the fake")
            if self.fail_at == str(index):
                self.fail_at = None
                raise SourceError("truncated JSON at page %d" % index)
            yield TicketPage(tickets=self.pages[index], cursor=str(index + 1), done=index == len(self.pages) - 1)

    def webhook(self, settings, headers, body):
        if headers.get("X-Secret") != settings.get("FAKE_SECRET"):
            raise WebhookRejected("bad secret")
        return WebhookResult(invocation_id=headers["X-Id"], tickets=[ticket(int(body))])


@pytest.fixture
def remote(register_source, app_ctx):
    remote = FakeRemote([[ticket(1), ticket(2)], [ticket(3)], [ticket(4), ticket(5)]])
    register_source(TicketSource(
        name="fake", title="Fake desk",
        settings=(Setting("FAKE_URL", "where", required=True), Setting("FAKE_SECRET", "secret", secret=True)),
        fetch=remote.fetch, handle_webhook=remote.webhook,
    ))
    app_ctx.config.update(FAKE_URL="http://127.0.0.1:1", FAKE_SECRET="s3cret-value")
    yield remote
    app_ctx.config.pop("FAKE_URL", None)
    app_ctx.config.pop("FAKE_SECRET", None)


def reports():
    return db.session.scalars(db.select(Report).order_by(Report.id)).all()


def test_import_creates_one_report_per_ticket_with_its_person(remote):
    result = import_from_source("fake")
    assert result.ok and (result.created, result.errors) == (5, 0)
    stored = reports()
    assert [r.external_id for r in stored] == ["1", "2", "3", "4", "5"]
    assert stored[0].reporter.display_name == "Person 1" and stored[0].reporter.email == "p1@example.net"
    assert stored[0].source == "fake" and stored[0].channel == "import"  # a third importer is no "API"
    assert db.session.get(SourceState, "fake").cursor == "3"


def test_a_second_run_creates_nothing(remote):
    import_from_source("fake")
    db.session.get(SourceState, "fake").cursor = None  # even from the start again
    db.session.commit()
    result = import_from_source("fake")
    assert (result.created, result.unchanged) == (0, 5)
    assert len(reports()) == 5


def test_a_failure_mid_run_keeps_earlier_pages_and_resumes_exactly(remote):
    remote.fail_at = "1"
    first = import_from_source("fake")
    assert not first.ok and "truncated JSON" in first.error_message
    assert [r.external_id for r in reports()] == ["1", "2"]
    state = db.session.get(SourceState, "fake")
    assert state.cursor == "1" and "truncated JSON" in state.last_error and state.running_since is None
    second = import_from_source("fake")
    assert second.ok and second.created == 3
    assert sorted(r.external_id for r in reports()) == ["1", "2", "3", "4", "5"]
    assert db.session.get(SourceState, "fake").last_error is None


def test_authentication_failure_is_named(remote, runner):
    remote.auth_ok = False
    result = runner.invoke(args=["import", "fake"])
    assert result.exit_code != 0
    assert "Authentication failed for Fake desk" in result.output


def test_cli_prints_counts_and_succeeds(remote, runner):
    result = runner.invoke(args=["import", "fake"])
    assert result.exit_code == 0, result.output
    assert "fake: 5 created, 0 updated, 0 unchanged, 0 removed, 0 errors" in result.output


def test_unknown_source_is_a_clear_error(runner):
    result = runner.invoke(args=["import", "nowhere"])
    assert result.exit_code != 0 and "no ticket source named 'nowhere'" in result.output


def test_an_unconfigured_source_says_what_to_set(remote, app_ctx):
    app_ctx.config["FAKE_URL"] = ""
    result = import_from_source("fake")
    assert not result.ok and "set FAKE_URL" in result.error_message


def test_an_edited_ticket_updates_its_report(remote):
    import_from_source("fake")
    remote.pages = [[ticket(2, text="Ticket 2: now it also eats cards")]]
    db.session.get(SourceState, "fake").cursor = None
    db.session.commit()
    result = import_from_source("fake")
    assert result.updated == 1
    assert len(reports()) == 5
    assert db.session.scalar(db.select(Report).filter_by(external_id="2")).text == "Ticket 2: now it also eats cards"


def test_a_deleted_ticket_loses_its_words_but_the_problem_keeps_its_count(remote):
    import_from_source("fake")
    report = db.session.scalar(db.select(Report).filter_by(external_id="3"))
    problem_id = report.problem_id
    remote.pages = [[ticket(3, status="deleted")]]
    db.session.get(SourceState, "fake").cursor = None
    db.session.commit()
    assert import_from_source("fake").removed == 1
    db.session.expire_all()
    report = db.session.scalar(db.select(Report).filter_by(external_id="3"))
    assert report.text == "" and report.removed_at is not None
    assert report.reporter.email is None and report.reporter.display_name is None
    assert db.session.get(Problem, problem_id).people_affected == 1


def test_a_merged_ticket_follows_the_ticket_it_was_merged_into(remote):
    import_from_source("fake")
    target = db.session.scalar(db.select(Report).filter_by(external_id="1"))
    remote.pages = [[ticket(4, merged_into="1", status="closed")]]
    db.session.get(SourceState, "fake").cursor = None
    db.session.commit()
    import_from_source("fake")
    moved = db.session.scalar(db.select(Report).filter_by(external_id="4"))
    assert moved.problem_id == target.problem_id
    assert target.problem.people_affected == 2


def test_two_runs_at_once_are_refused(remote):
    held = RunLock("fake")
    assert held.acquire()  # a live run holds the source
    try:
        result = import_from_source("fake")
        assert not result.ok and "already running" in result.error_message
        assert reports() == []
    finally:
        held.release()
    assert import_from_source("fake").ok  # released: the next run goes ahead at once


def test_every_run_is_recorded(remote):
    remote.fail_at = "2"
    import_from_source("fake")
    run = db.session.scalar(db.select(ImportRun))
    assert (run.created, run.errors, run.cursor_before, run.cursor_after) == (3, 1, None, "2")
    assert run.finished_at is not None and "truncated" in run.error_message


def test_webhook_imports_a_verified_ticket_and_refuses_replays_and_bad_secrets(remote, client):
    good = {"X-Secret": "s3cret-value", "X-Id": "inv-1"}
    response = client.post("/hooks/fake", data="7", headers=good)
    assert response.status_code == 200 and response.json["created"] == 1
    assert client.post("/hooks/fake", data="7", headers=good).status_code == 409
    bad = client.post("/hooks/fake", data="8", headers={"X-Secret": "nope", "X-Id": "inv-2"})
    assert bad.status_code == 401 and "bad secret" in bad.json["error"]
    assert [r.external_id for r in reports()] == ["7"]
    assert client.post("/hooks/nowhere", data="1").status_code == 404


def test_sources_page_masks_secrets_and_runs_an_import(remote, client, auth, make_user):
    auth.login(make_user(Role.ADMIN))
    page = client.get("/admin/sources").get_data(as_text=True)
    assert "Fake desk" in page and "http://127.0.0.1:1" in page
    assert "s3cret-value" not in page and "•••• ue" in page
    assert client.post("/admin/sources/fake/run").status_code == 302
    # The import runs in a background thread; wait for its run to be recorded.
    import time

    for _ in range(100):
        db.session.expire_all()
        run = db.session.scalar(db.select(ImportRun).filter_by(source="fake"))
        if run is not None and run.finished_at is not None:
            break
        time.sleep(0.05)
    assert run.trigger == "admin" and run.created == 5
    assert "5 created" in client.get("/admin/sources").get_data(as_text=True)
    assert client.post("/admin/sources/nowhere/run").status_code == 404


def test_a_plugin_bug_is_recorded_and_releases_the_claim(remote):
    def broken(settings, cursor):
        yield TicketPage(tickets=[ticket(1)], cursor="1")
        raise KeyError("plugin bug")

    remote.fetch = broken
    import dataclasses

    from app.plugins.manager import ticket_sources

    ticket_sources()["fake"] = dataclasses.replace(ticket_sources()["fake"], fetch=broken)
    result = import_from_source("fake")
    assert not result.ok and "failed unexpectedly: KeyError" in result.error_message
    state = db.session.get(SourceState, "fake")
    assert state.running_since is None and state.cursor == "1"
    assert [r.external_id for r in reports()] == ["1"]


def test_a_run_collects_garbage_less_often_and_leaves_the_process_as_it_was(register_source, app_ctx):
    before = gc.get_threshold()
    seen = []
    remote = FakeRemote([[ticket(1), ticket(2)], [ticket(3)]])

    def watching(settings, cursor):
        for page in remote.fetch(settings, cursor):
            seen.append(gc.get_threshold())
            yield page

    register_source(TicketSource(name="watched", title="Watched desk", settings=(), fetch=watching))
    assert import_from_source("watched").ok
    assert len(seen) == 2 and all(threshold[0] >= YOUNG for threshold in seen)
    assert gc.get_threshold() == before
    remote.pages.append([ticket(4)])
    remote.fail_at = "2"
    assert not import_from_source("watched").ok  # a run that fails restores them too
    assert gc.get_threshold() == before
