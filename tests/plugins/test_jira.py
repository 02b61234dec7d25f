"""The Jira importer against a fake Jira on a real loopback HTTP server.

The source on its own (pages, fields, cursor, retries, errors), then through the core
(``import_from_source``, the CLI, ``POST /hooks/jira``), then the fix-linking functions.
ADF conversion has its own file, test_jira_adf.py.
"""

from __future__ import annotations

import ast
import hashlib
import hmac
import json
import time
from datetime import datetime
from pathlib import Path

import pytest
import requests

from app.extensions import db
from app.imports.importer import import_from_source
from app.models import ImportRun, Report
from app.plugin_api import AuthenticationFailed, SourceError, TicketPage, WebhookRejected
from plugins.jira import client as jira_client
from plugins.jira import source as jira_source
from plugins.jira.client import add_remote_link, create_issue, status_category
from plugins.jira.source import FIELDS, OVERLAP_MS, JiraSource, Watermark, build_jql, strip_order_by
from tests.plugins.fixtures.jira.fake_jira import BASE_JQL, EMAIL, GONE, PAT, TOKEN, FakeClock, FakeJira

SEARCH = "/rest/api/3/search/jql"
DC_SEARCH = "/rest/api/2/search"
SETTING_NAMES = [s.name for s in jira_source.SETTINGS]
WEBHOOK_SECRET = "whsec-correct-horse-battery"


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def fake(httpserver, clock):
    return FakeJira(httpserver, deployment="cloud", clock=clock)


@pytest.fixture
def dc_fake(httpserver, clock):
    return FakeJira(httpserver, deployment="datacenter", clock=clock)


def cloud_settings(fake: FakeJira, **extra) -> dict[str, str]:
    return {jira_client.URL: fake.base_url, jira_client.EMAIL: EMAIL, jira_client.TOKEN: TOKEN,
            jira_client.JQL: BASE_JQL, jira_client.DEPLOYMENT: "cloud", **extra}


def dc_settings(fake: FakeJira, **extra) -> dict[str, str]:
    return {jira_client.URL: fake.base_url, jira_client.PAT: PAT, jira_client.JQL: BASE_JQL,
            jira_client.DEPLOYMENT: "datacenter", **extra}


def make_source(clock: FakeClock, **kw) -> JiraSource:
    return JiraSource(sleep=clock.sleep, clock=clock.time, random=lambda: 0.5, **kw)


def run(source: JiraSource, settings, cursor=None) -> list[TicketPage]:
    return list(source.fetch(settings, cursor))


def keys(pages: list[TicketPage]) -> list[str]:
    return [t.external_id for page in pages for t in page.tickets]


@pytest.fixture
def configure(app_ctx, monkeypatch, clock):
    """Put the Jira settings in app.config for one test (restored after); the registered
    source's sleep is replaced by the fake clock's."""
    saved = {name: app_ctx.config[name] for name in SETTING_NAMES if name in app_ctx.config}
    runtime = app_ctx.extensions["careloop.sources"]["jira"].fetch.__self__
    monkeypatch.setattr(runtime, "sleep", clock.sleep)

    def apply(settings: dict[str, str]) -> None:
        for name in SETTING_NAMES:
            app_ctx.config[name] = settings.get(name, "")

    yield apply
    for name in SETTING_NAMES:
        app_ctx.config.pop(name, None)
    app_ctx.config.update(saved)


def stored() -> dict[str, Report]:
    rows = db.session.scalars(db.select(Report).where(Report.source == "jira").order_by(Report.id)).all()
    assert len(rows) == len({r.external_id for r in rows}), "an issue has two reports"
    return {r.external_id: r for r in rows}


# --- the source: pages, fields, mapping -------------------------------------------------


def test_hook_register_ticket_sources_registers_jira(app):
    source = app.extensions["careloop.sources"]["jira"]
    assert (source.name, source.title) == ("jira", "Jira")
    assert source.handle_webhook is not None
    required = {s.name for s in source.settings if s.required}
    assert required == {"CARELOOP_JIRA_URL", "CARELOOP_JIRA_JQL"}
    assert {s.name for s in source.settings if s.secret} == {
        "CARELOOP_JIRA_TOKEN", "CARELOOP_JIRA_PAT", "CARELOOP_JIRA_WEBHOOK_SECRET"}


def test_cloud_pages_to_the_end_by_next_page_token(fake, clock):
    pages = run(make_source(clock), cloud_settings(fake))

    assert keys(pages) == ["SUP-1", "SUP-2", "SUP-3", "SUP-4", "SUP-10"]  # OPS-7 does not match the JQL
    assert [len(p.tickets) for p in pages] == [2, 2, 1]  # one TicketPage per HTTP page
    assert [p.done for p in pages] == [False, False, True]
    calls = fake.calls(SEARCH)
    assert len(calls) == 3 and len(fake.requests) == 3  # never the removed /rest/api/3/search
    assert "nextPageToken" not in calls[0]["args"]
    assert calls[1]["args"]["nextPageToken"] and calls[2]["args"]["nextPageToken"] != calls[1]["args"]["nextPageToken"]
    for call in calls:
        assert set(call["args"]["fields"][0].split(",")) == set(FIELDS)
        assert call["args"]["jql"] == [f"({BASE_JQL}) ORDER BY updated ASC, key ASC"]


def test_the_search_asks_for_the_fields_it_reads(fake, clock, monkeypatch):
    """The fake, like Jira Cloud, returns only ids for fields not asked for: forgetting one fails."""
    monkeypatch.setattr(jira_source, "FIELDS", ("summary", "description"))
    with pytest.raises(SourceError, match="without its key or the fields asked for"):
        run(make_source(clock), cloud_settings(fake))


def test_issues_are_mapped_to_tickets(fake, clock):
    pages = run(make_source(clock), cloud_settings(fake))
    tickets = {t.external_id: t for p in pages for t in p.tickets}

    first = tickets["SUP-1"]
    assert first.title == "Card reader rejects contactless payments"
    assert first.text == ("The card reader at desk 2 rejects every contactless card since Monday.\n\n"
                          "- Chip and PIN still works\n- Phones are refused too")
    assert (first.requester_name, first.requester_email) == ("Maria Lopez", "maria@example.net")
    assert first.url == f"{fake.base_url}/browse/SUP-1"
    assert first.created_at == datetime(2026, 1, 5, 8, 0)  # 09:00+01:00, naive UTC
    assert first.updated_at == datetime(2026, 1, 5, 8, 30, 0, 250000)
    assert first.created_at.tzinfo is None and first.status == "open"

    assert "@Sam Okafor saw it too." in tickets["SUP-2"].text
    assert tickets["SUP-3"].text == "" and tickets["SUP-3"].title == "Hold music loops the same 10 seconds"
    assert tickets["SUP-3"].requester_email is None and tickets["SUP-3"].status == "closed"  # statusCategory done
    assert tickets["SUP-3"].created_at == datetime(2026, 1, 6, 13, 0)  # 08:00-05:00
    assert "```text\nRef: INV-2026-0042\n```" in tickets["SUP-4"].text


def test_datacenter_pages_with_start_at_and_a_personal_access_token(dc_fake, clock):
    pages = run(make_source(clock), dc_settings(dc_fake))

    assert keys(pages) == ["SUP-1", "SUP-2", "SUP-3", "SUP-4", "SUP-10"]
    assert pages[-1].done and not any(p.done for p in pages[:-1])
    tickets = {t.external_id: t for p in pages for t in p.tickets}
    assert tickets["SUP-1"].text.startswith("The card reader at *desk 2*")  # v2: wiki text as it is
    assert tickets["SUP-1"].created_at == datetime(2026, 1, 5, 8, 0)
    calls = dc_fake.calls(DC_SEARCH)
    assert all(c["headers"]["Authorization"] == f"Bearer {PAT}" for c in calls)
    assert all(set(c["args"]["fields"][0].split(",")) == set(FIELDS) for c in calls)
    assert calls[0]["args"]["startAt"] == ["0"]
    assert all("updated >= " in c["args"]["jql"][0] for c in calls[1:])  # each page from the watermark


def test_datacenter_bulk_change_in_one_millisecond_is_stepped_over_with_start_at(dc_fake, clock):
    for n in range(11, 16):
        dc_fake.add(f"SUP-{n}", f"Bulk {n}", updated=1_800_000_000_000)
    pages = run(make_source(clock), dc_settings(dc_fake))

    assert sorted(keys(pages)) == sorted(dc_fake.matching_keys())
    assert len(keys(pages)) == len(set(keys(pages)))
    starts = [c["args"]["startAt"][0] for c in dc_fake.calls(DC_SEARCH)]
    assert any(int(s) > 0 for s in starts)  # five issues in one millisecond, pages of two


def test_datacenter_issue_edited_during_the_run_skips_nothing(dc_fake, clock):
    """Edited after page 1, SUP-1 moves to the end: a growing startAt would skip SUP-3."""
    dc_fake.after_search = lambda count: count == 1 and dc_fake.touch("SUP-1", summary="Card reader (edited)")
    pages = run(make_source(clock), dc_settings(dc_fake))

    assert keys(pages) == ["SUP-1", "SUP-2", "SUP-3", "SUP-4", "SUP-10", "SUP-1"]
    assert pages[-1].tickets[-1].title == "Card reader (edited)"


def test_same_millisecond_issues_resume_exactly(fake, clock):
    at = 1_800_000_000_000
    for key in ("SUP-21", "SUP-22", "SUP-23"):
        fake.add(key, f"Issue {key}", updated=at)
    source, settings = make_source(clock), cloud_settings(fake)
    everything = run(source, settings)
    assert keys(everything)[-3:] == ["SUP-21", "SUP-22", "SUP-23"]

    # A run stopped after the page that ended inside the millisecond ([SUP-10, SUP-21])...
    cursor = next(p for p in everything if "SUP-21" in [t.external_id for t in p.tickets]).cursor
    saved = json.loads(cursor)
    assert set(saved.pop("sums")) == {"SUP-21"}  # what was imported at the watermark's exact time
    assert saved == {"v": 1, "updated": at, "since": at - OVERLAP_MS, "seen": {"SUP-21": at}}
    # ...resumes with the other issues of that millisecond, and only them.
    assert keys(run(source, settings, cursor)) == ["SUP-22", "SUP-23"]
    assert f"updated >= {at - OVERLAP_MS}" in fake.requests[-1]["args"]["jql"][0]
    # A run with nothing new imports nothing and keeps the cursor.
    last = run(source, settings, everything[-1].cursor)
    assert keys(last) == [] and last[-1].done and last[-1].cursor == everything[-1].cursor


def test_an_issue_indexed_late_behind_the_watermark_is_still_found(fake, clock):
    """Jira Cloud's search is eventually consistent: an issue updated before the last one
    imported can appear in the index after it. The next run looks OVERLAP_MS behind."""
    source, settings = make_source(clock), cloud_settings(fake)
    cursor = run(source, settings)[-1].cursor
    watermark = json.loads(cursor)["updated"]
    fake.add("SUP-30", "Late in the index", updated=watermark - 90_000)  # 90 s before the watermark
    late = run(source, settings, cursor)
    assert keys(late) == ["SUP-30"]
    assert json.loads(late[-1].cursor)["updated"] == watermark  # the watermark does not go back
    assert keys(run(source, settings, late[-1].cursor)) == []


def test_an_edited_issue_comes_again(fake, clock):
    source, settings = make_source(clock), cloud_settings(fake)
    cursor = run(source, settings)[-1].cursor
    fake.touch("SUP-2", description=None, summary="Parking page: now a blank screen")
    again = run(source, settings, cursor)
    assert keys(again) == ["SUP-2"] and again[-1].tickets[0].title == "Parking page: now a blank screen"


def test_jql_is_wrapped_and_its_order_by_replaced():
    assert build_jql("project = SUP ORDER BY created DESC", 5) == \
        "(project = SUP) AND updated >= 5 ORDER BY updated ASC, key ASC"
    assert build_jql("summary ~ \"order by mistake\"", None) == \
        "(summary ~ \"order by mistake\") ORDER BY updated ASC, key ASC"
    assert strip_order_by("a = 'ORDER BY' order by b") == "a = 'ORDER BY' "
    assert build_jql("", 7) == "updated >= 7 ORDER BY updated ASC, key ASC"


def test_unreadable_cursor_starts_again_and_a_bare_number_is_a_watermark():
    assert Watermark.decode("not json").updated is None
    assert Watermark.decode('{"v":1}').updated is None
    assert Watermark.decode('{"v":1,"updated":5,"seen":{"A-1":"x"}}').updated is None
    assert Watermark.decode("1767225600000").since == 1767225600000 - OVERLAP_MS
    assert Watermark.decode(None).encode(default=None) is None


def test_the_cursor_forgets_issues_older_than_the_overlap():
    mark = Watermark()
    for key, ms in [("SUP-1", 1_000), ("SUP-2", OVERLAP_MS + 2_000), ("SUP-3", OVERLAP_MS + 2_000)]:
        assert mark.take({"key": key, "fields": {"updated": ms}})
    assert not mark.take({"key": "SUP-3", "fields": {"updated": OVERLAP_MS + 2_000}})
    saved = json.loads(mark.encode())
    assert set(saved.pop("sums")) == {"SUP-2", "SUP-3"}
    assert saved == {"v": 1, "updated": OVERLAP_MS + 2_000, "since": 2_000,
                     "seen": {"SUP-2": OVERLAP_MS + 2_000, "SUP-3": OVERLAP_MS + 2_000}}


def test_after_a_bulk_change_the_overlap_is_capped_but_stays_exact(fake, clock):
    """300 issues (here 3) updated within the overlap: the next run starts at the 3rd newest,
    not 10 minutes back, so it never re-reads a bulk change page after page."""
    base = 1_800_000_000_000
    for n, offset in enumerate([0, 1_000, 2_000, 3_000, 3_000, 4_000]):
        fake.add(f"SUP-{40 + n}", f"Bulk {n}", updated=base + offset)
    source = make_source(clock, overlap_max_issues=3)
    cursor = run(source, cloud_settings(fake))[-1].cursor
    data = json.loads(cursor)
    # The 3rd newest is at +3000, shared by two issues: both kept, so the cut is exact.
    assert data["since"] == base + 3_000 and data["seen"] == {"SUP-43": base + 3_000, "SUP-44": base + 3_000,
                                                              "SUP-45": base + 4_000}
    assert keys(run(source, cloud_settings(fake), cursor)) == []
    assert f"updated >= {base + 3_000} " in fake.requests[-1]["args"]["jql"][0]


# --- retries, rate limits, errors -------------------------------------------------------


def test_429_with_retry_after_is_honoured_never_sooner(fake, clock):
    fake.fail(SEARCH, 429, headers={"Retry-After": "7"}, skip=1)
    pages = run(make_source(clock), cloud_settings(fake))

    assert len(keys(pages)) == 5
    times = [c["time"] for c in fake.calls(SEARCH)]
    assert len(times) == 4
    assert times[2] - times[1] >= 7  # the retry came at least Retry-After seconds later
    assert 7 <= clock.sleeps[0] <= 7 + 1.7 + 0.01  # plus a little jitter, never less


def test_429_retry_after_as_http_date_and_rate_limit_reset(fake, clock):
    stamp = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(clock.now + 30))
    fake.fail(SEARCH, 429, headers={"Retry-After": stamp})
    reset = time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(clock.now + 30 + 120))
    fake.fail(SEARCH, 429, headers={"X-RateLimit-Reset": reset})
    run(make_source(clock), cloud_settings(fake))
    assert clock.sleeps[0] >= 30 and clock.sleeps[1] >= 60  # waited until the reset minute


def test_429_without_retry_after_backs_off_exponentially_with_jitter(fake, clock):
    fake.fail(SEARCH, 429, times=3)
    pages = run(make_source(clock), cloud_settings(fake))
    assert len(keys(pages)) == 5
    assert clock.sleeps == [0.75, 1.5, 3.0]  # base 1 s doubling, half fixed + half random(0.5)
    jittery = JiraSource(sleep=clock.sleep, clock=clock.time, random=lambda: 0.999)
    fake.fail(SEARCH, 429)
    run(jittery, cloud_settings(fake))
    assert 0.99 < clock.sleeps[-1] < 1.0


def test_rate_limit_longer_than_the_limit_stops_without_calling_early(fake, clock):
    fake.fail(SEARCH, 429, headers={"Retry-After": "3600"})
    with pytest.raises(SourceError, match=r"wait \d+ s .*next run resumes"):
        run(make_source(clock), cloud_settings(fake))
    assert clock.sleeps == [] and len(fake.calls(SEARCH)) == 1


def test_503_backs_off_with_jitter_then_recovers(fake, clock):
    fake.fail(SEARCH, 503, body="<html>Service Unavailable</html>", times=2, skip=1)
    pages = run(make_source(clock), cloud_settings(fake))
    assert len(keys(pages)) == 5 and len(clock.sleeps) == 2 and clock.sleeps[1] > clock.sleeps[0] > 0


def test_5xx_gives_up_after_bounded_retries(fake, clock):
    fake.fail(SEARCH, 502, times=100)
    with pytest.raises(SourceError, match="kept answering 502 .* after 6 attempts"):
        run(make_source(clock), cloud_settings(fake))
    assert len(fake.calls(SEARCH)) == 6 and len(clock.sleeps) == 5
    assert sum(clock.sleeps) < 60


def test_unreachable_jira_is_a_source_error_after_retries(clock):
    settings = {jira_client.URL: "http://127.0.0.1:9", jira_client.EMAIL: EMAIL, jira_client.TOKEN: TOKEN,
                jira_client.JQL: BASE_JQL}
    source = make_source(clock, client_options={"timeout": (0.5, 0.5), "max_retries": 1})
    with pytest.raises(SourceError, match="could not be reached"):
        run(source, settings)
    assert len(clock.sleeps) == 1


def test_a_truncated_body_is_retried_then_the_pages_go_on(fake, clock):
    fake.fail(SEARCH, 200, body='{"issues": [{"id": "10103", "key": "SUP-3", "fields": {"summ', skip=1)
    pages = list(make_source(clock).fetch(cloud_settings(fake), None))
    assert keys(pages) == ["SUP-1", "SUP-2", "SUP-3", "SUP-4", "SUP-10"]
    assert len(clock.sleeps) == 1 and len(fake.calls(SEARCH)) == 4  # one page asked for twice


def test_a_body_truncated_every_time_is_an_error_after_the_pages_already_yielded(fake, clock):
    fake.fail(SEARCH, 200, body='{"issues": [{"id": "10103", "key": "SUP-3", "fields": {"summ', skip=1, times=6)
    fetched = make_source(clock).fetch(cloud_settings(fake), None)
    first = next(fetched)
    assert [t.external_id for t in first.tickets] == ["SUP-1", "SUP-2"]
    with pytest.raises(SourceError, match="not complete JSON"):
        next(fetched)


def test_401_is_authentication_failed(fake, clock):
    with pytest.raises(AuthenticationFailed, match="authentication failed"):
        run(make_source(clock), cloud_settings(fake, CARELOOP_JIRA_TOKEN="wrong"))
    assert clock.sleeps == [] and len(fake.requests) == 1  # not retried


def test_403_is_authentication_failed_too(fake, clock):
    fake.fail(SEARCH, 403, body=json.dumps({"errorMessages": ["You do not have permission."]}))
    with pytest.raises(AuthenticationFailed, match="403 .*authentication failed. You do not have permission."):
        run(make_source(clock), cloud_settings(fake))


def test_410_from_the_removed_search_says_what_to_do(fake, clock):
    """The Data Center search pointed at a Cloud site: Jira answers 410 Gone."""
    settings = cloud_settings(fake, CARELOOP_JIRA_DEPLOYMENT="datacenter")
    with pytest.raises(SourceError) as caught:
        run(make_source(clock), settings)
    message = str(caught.value)
    assert "410 Gone" in message and "/rest/api/3/search/jql" in message
    assert "CARELOOP_JIRA_DEPLOYMENT=cloud" in message and GONE in message


def test_bad_jql_shows_jiras_message(fake, clock):
    settings = cloud_settings(fake, CARELOOP_JIRA_JQL="project = NOPE")
    with pytest.raises(SourceError, match="Jira answered 400 .*unexpected JQL"):
        run(make_source(clock), settings)


@pytest.mark.parametrize("settings, message", [
    ({jira_client.URL: "jira.example.org", jira_client.JQL: "x"}, "must be the http"),
    ({jira_client.URL: "https://j.example.org", jira_client.JQL: "x", jira_client.DEPLOYMENT: "moon"}, "'cloud' or"),
    ({jira_client.URL: "https://j.example.org", jira_client.JQL: "x"}, "no credentials"),
])
def test_settings_are_checked_with_a_clear_message(settings, message, clock):
    with pytest.raises(SourceError, match=message):
        run(make_source(clock), settings)


# --- through the core --------------------------------------------------------------------


def test_import_through_the_core_creates_one_report_per_issue(fake, configure):
    configure(cloud_settings(fake))
    result = import_from_source("jira")

    assert result.ok, result.error_message
    assert (result.created, result.errors) == (5, 0)
    reports = stored()
    assert list(reports) == ["SUP-1", "SUP-2", "SUP-3", "SUP-4", "SUP-10"]
    report = reports["SUP-1"]
    assert report.text.startswith("Card reader rejects contactless payments\n\nThe card reader at desk 2")
    assert (report.channel, report.source) == ("import", "jira") and report.external_url == f"{fake.base_url}/browse/SUP-1"
    assert (report.reporter.display_name, report.reporter.email) == ("Maria Lopez", "maria@example.net")
    assert report.created_at == datetime(2026, 1, 5, 8, 0)
    assert reports["SUP-3"].text == "Hold music loops the same 10 seconds"  # no description: the summary


def test_a_second_run_creates_nothing(fake, configure):
    configure(cloud_settings(fake))
    import_from_source("jira")
    again = import_from_source("jira")
    assert again.ok and (again.created, again.updated, again.errors) == (0, 0, 0)
    assert len(stored()) == 5


def test_an_edited_issue_updates_its_report_never_a_second_one(fake, configure):
    configure(cloud_settings(fake))
    import_from_source("jira")
    fake.touch("SUP-2", description={"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": "Now it fails at once, on every card."}]}]})
    result = import_from_source("jira")

    assert (result.created, result.updated) == (0, 1)
    reports = stored()
    assert len(reports) == 5
    assert reports["SUP-2"].text.endswith("Now it fails at once, on every card.")


def test_truncated_page_keeps_earlier_pages_and_the_next_run_resumes(fake, configure):
    configure(cloud_settings(fake))
    fake.fail(SEARCH, 200, body='{"issues": [{"id": "10103", "key": "SUP-3", "fie', skip=1, times=6)
    first = import_from_source("jira")

    assert not first.ok and "not complete JSON" in first.error_message
    assert first.error_message.startswith("Jira import stopped:")
    assert list(stored()) == ["SUP-1", "SUP-2"]  # the first page was committed with its cursor

    second = import_from_source("jira")
    assert second.ok and second.created == 3
    assert list(stored()) == ["SUP-1", "SUP-2", "SUP-3", "SUP-4", "SUP-10"]  # each exactly once
    runs = db.session.scalars(db.select(ImportRun).where(ImportRun.source == "jira").order_by(ImportRun.id)).all()
    assert runs[1].cursor_before == runs[0].cursor_after and list(json.loads(runs[0].cursor_after)["seen"]) == ["SUP-2"]


def test_authentication_failure_through_the_core(fake, configure):
    configure(cloud_settings(fake, CARELOOP_JIRA_TOKEN="revoked"))
    result = import_from_source("jira")
    assert result.error_message.startswith("Authentication failed for Jira: Jira answered 401")
    assert "authentication failed" in result.error_message and stored() == {}


def test_the_import_command(dc_fake, configure, runner):
    configure(dc_settings(dc_fake))
    result = runner.invoke(args=["import", "jira"])
    assert result.exit_code == 0, result.output
    assert "jira: 5 created, 0 updated, 0 unchanged, 0 removed, 0 errors" in result.output
    again = runner.invoke(args=["import", "jira"])
    assert "jira: 0 created, 0 updated" in again.output


def test_an_unconfigured_source_says_which_settings_are_missing(configure):
    configure({jira_client.URL: "https://j.example.org"})
    result = import_from_source("jira")
    assert result.error_message == "Jira is not configured: set CARELOOP_JIRA_JQL."


# --- webhooks ---------------------------------------------------------------------------


def webhook_body(event: str, key: str, summary: str = "Stale summary from the webhook body", **extra) -> bytes:
    """A Jira Cloud webhook delivery (shape as documented), our own data."""
    body = {
        "timestamp": int(time.time() * 1000),
        "webhookEvent": event,
        "issue_event_type_name": {"jira:issue_updated": "issue_generic", "jira:issue_created": "issue_created"}.get(event),
        "user": {"accountId": "5b10a2844c20165700ede21g", "displayName": "Maria Lopez"},
        "issue": {"id": "10102", "self": "https://example.atlassian.net/rest/api/2/issue/10102", "key": key,
                  "fields": {"summary": summary, "description": "wiki text in the body, not used"}},
        **extra,
    }
    return json.dumps(body).encode()


def signed(body: bytes, secret: str = WEBHOOK_SECRET, identifier: str | None = "b4c1e2d3-0001") -> dict[str, str]:
    headers = {"Content-Type": "application/json",
               "X-Hub-Signature": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}
    if identifier:
        headers["X-Atlassian-Webhook-Identifier"] = identifier
    return headers


@pytest.fixture
def hooks(fake, configure, client):
    configure(cloud_settings(fake, CARELOOP_JIRA_WEBHOOK_SECRET=WEBHOOK_SECRET))
    return client


def test_webhook_with_a_good_signature_imports_the_issue_fetched_fresh(hooks, fake):
    body = webhook_body("jira:issue_updated", "SUP-2")
    response = hooks.post("/hooks/jira", data=body, headers=signed(body))

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["created"] == 1
    report = stored()["SUP-2"]
    assert report.text.startswith("Parking payment page times out")  # from the API, not the body
    assert "Stale summary" not in report.text
    issue_calls = fake.calls("/rest/api/3/issue/SUP-2")
    assert len(issue_calls) == 1 and set(issue_calls[0]["args"]["fields"][0].split(",")) == set(FIELDS)
    check = fake.calls(SEARCH)[-1]["args"]  # is it a report? asked with read-after-write consistency
    assert check["jql"] == [f"({BASE_JQL}) AND key = SUP-2"] and check["reconcileIssues"] == ["10102"]


def test_webhook_about_an_issue_outside_the_jql_stores_nothing(hooks, fake):
    body = webhook_body("jira:issue_created", "OPS-7")
    response = hooks.post("/hooks/jira", data=body, headers=signed(body))
    assert response.status_code == 200 and response.get_json()["created"] == 0 and stored() == {}


def test_webhook_matches_what_polling_imports(hooks, fake):
    body = webhook_body("jira:issue_created", "SUP-1")
    assert hooks.post("/hooks/jira", data=body, headers=signed(body)).status_code == 200
    by_webhook = stored()["SUP-1"].text
    result = import_from_source("jira")
    assert stored()["SUP-1"].text == by_webhook and result.updated == 0


def test_webhook_with_the_shared_secret_header(hooks):
    body = webhook_body("jira:issue_updated", "SUP-4")
    response = hooks.post("/hooks/jira", data=body, headers={"X-Careloop-Webhook-Secret": WEBHOOK_SECRET})
    assert response.status_code == 200 and "SUP-4" in stored()


@pytest.mark.parametrize("headers", [
    {"X-Careloop-Webhook-Secret": "guess"},
    {"X-Hub-Signature": "sha256=" + "0" * 64},
    {"X-Hub-Signature": "md5=abc"},
    {},
])
def test_webhook_with_a_bad_or_missing_secret_is_refused(hooks, fake, headers):
    body = webhook_body("jira:issue_updated", "SUP-2")
    response = hooks.post("/hooks/jira", data=body, headers=headers)
    assert response.status_code == 401 and stored() == {} and fake.requests == []


def test_webhook_signed_with_another_secret_is_refused(hooks):
    body = webhook_body("jira:issue_updated", "SUP-2")
    assert hooks.post("/hooks/jira", data=body, headers=signed(body, secret="other")).status_code == 401


def test_webhook_replay_is_refused(hooks):
    body = webhook_body("jira:issue_updated", "SUP-2")
    assert hooks.post("/hooks/jira", data=body, headers=signed(body)).status_code == 200
    replay = hooks.post("/hooks/jira", data=body, headers=signed(body))
    assert replay.status_code == 409 and "replay" in replay.get_json()["error"]


def test_webhook_without_an_identifier_is_deduplicated_by_its_body(hooks):
    body = webhook_body("jira:issue_updated", "SUP-2")
    headers = {"X-Careloop-Webhook-Secret": WEBHOOK_SECRET}
    assert hooks.post("/hooks/jira", data=body, headers=headers).status_code == 200
    assert hooks.post("/hooks/jira", data=body, headers=headers).status_code == 409


def test_webhook_issue_deleted_removes_the_report(hooks, fake):
    import_from_source("jira")
    body = webhook_body("jira:issue_deleted", "SUP-1")
    response = hooks.post("/hooks/jira", data=body, headers=signed(body, identifier="del-1"))

    assert response.status_code == 200 and response.get_json()["removed"] == 1
    report = stored()["SUP-1"]
    assert report.text == "" and report.removed_at is not None
    assert fake.calls("/rest/api/3/issue/SUP-1") == []  # nothing to fetch for a deleted issue


def test_webhook_refusals_when_not_enabled_or_stale(hooks, app_ctx):
    old = json.loads(webhook_body("jira:issue_updated", "SUP-2"))
    old["timestamp"] -= 4 * 24 * 3600 * 1000
    body = json.dumps(old).encode()
    assert hooks.post("/hooks/jira", data=body, headers=signed(body)).status_code == 401
    app_ctx.config["CARELOOP_JIRA_WEBHOOK_SECRET"] = ""
    fresh = webhook_body("jira:issue_updated", "SUP-2")
    response = hooks.post("/hooks/jira", data=fresh, headers=signed(fresh))
    assert response.status_code == 401 and "CARELOOP_JIRA_WEBHOOK_SECRET" in response.get_json()["error"]


def test_webhook_about_no_issue_or_a_vanished_one_stores_nothing(hooks, fake):
    sprint = json.dumps({"timestamp": int(time.time() * 1000), "webhookEvent": "sprint_started",
                         "sprint": {"id": 1}}).encode()
    assert hooks.post("/hooks/jira", data=sprint, headers=signed(sprint, identifier="s-1")).get_json()["created"] == 0
    gone = webhook_body("jira:issue_updated", "SUP-999")
    response = hooks.post("/hooks/jira", data=gone, headers=signed(gone, identifier="g-1"))
    assert response.status_code == 200 and response.get_json()["created"] == 0 and stored() == {}


def test_webhook_with_a_good_signature_but_no_json_is_a_400(hooks):
    body = b"not json at all"
    assert hooks.post("/hooks/jira", data=body, headers=signed(body)).status_code == 400


def test_webhook_when_jira_refuses_the_credentials_is_a_502(hooks, app_ctx):
    app_ctx.config["CARELOOP_JIRA_TOKEN"] = "revoked"
    body = webhook_body("jira:issue_updated", "SUP-2")
    response = hooks.post("/hooks/jira", data=body, headers=signed(body))
    assert response.status_code == 502 and "authentication failed" in response.get_json()["error"]


def test_handle_webhook_directly_checks_the_key_before_using_it(fake, clock):
    source = make_source(clock)
    body = webhook_body("jira:issue_updated", "../../admin")
    result = source.handle_webhook(cloud_settings(fake, CARELOOP_JIRA_WEBHOOK_SECRET="s"),
                                   {"X-Careloop-Webhook-Secret": "s"}, body)
    assert result.tickets == [] and fake.requests == []
    with pytest.raises(WebhookRejected):
        source.handle_webhook(cloud_settings(fake, CARELOOP_JIRA_WEBHOOK_SECRET="s"), {}, body)


def test_datacenter_webhook_reads_the_issue_through_api_2(dc_fake, clock):
    settings = dc_settings(dc_fake, CARELOOP_JIRA_WEBHOOK_SECRET="dc-secret")
    body = webhook_body("jira:issue_updated", "SUP-4")
    result = make_source(clock).handle_webhook(settings, signed(body, secret="dc-secret"), body)

    assert result.invocation_id == "jira:b4c1e2d3-0001"
    assert [t.text for t in result.tickets] == [
        "I changed my name in March; the bills still use the old one.\n{code}Ref: INV-2026-0042{code}"]
    assert dc_fake.calls("/rest/api/2/issue/SUP-4")
    assert dc_fake.calls(DC_SEARCH)[-1]["args"]["jql"] == [f"({BASE_JQL}) AND key = SUP-4"]
    unsigned = make_source(clock).handle_webhook(settings, {"X-Careloop-Webhook-Secret": "dc-secret"}, body)
    assert unsigned.invocation_id == "sha256:" + hashlib.sha256(body).hexdigest()


# --- linking a fix ----------------------------------------------------------------------


def test_create_issue_on_cloud_sends_adf(fake):
    key, url = create_issue(cloud_settings(fake, CARELOOP_JIRA_ISSUE_TYPE="Improvement"), "SUP",
                            "Fix the card readers\nat every desk", "Reports: 14.\n\nSee Careloop problem 12.")
    assert (key, url) == ("SUP-100", f"{fake.base_url}/browse/SUP-100")
    fields = fake.created[0]["fields"]
    assert fields["summary"] == "Fix the card readers at every desk"
    assert fields["issuetype"] == {"name": "Improvement"} and fields["project"] == {"key": "SUP"}
    assert fields["description"]["type"] == "doc" and len(fields["description"]["content"]) == 2


def test_create_issue_on_datacenter_sends_text(dc_fake):
    key, url = create_issue(dc_settings(dc_fake), "SUP", "Fix the hold music", "Loops every 10 s.")
    assert url.endswith(f"/browse/{key}")
    assert dc_fake.created[0]["fields"]["description"] == "Loops every 10 s."
    assert dc_fake.created[0]["fields"]["issuetype"] == {"name": "Task"}
    assert dc_fake.calls("/rest/api/2/issue")


def test_create_issue_is_never_repeated_after_a_server_error(fake):
    fake.fail("/rest/api/3/issue", 500, method="POST")
    with pytest.raises(SourceError, match="500"):
        create_issue(cloud_settings(fake), "SUP", "Fix it", "")
    assert len(fake.calls("/rest/api/3/issue")) == 1 and fake.created == []


def test_create_issue_reports_jiras_field_errors(fake):
    fake.fail("/rest/api/3/issue", 400, method="POST",
              body=json.dumps({"errorMessages": [], "errors": {"priority": "Field 'priority' is required"}}))
    with pytest.raises(SourceError, match="400 .*priority: Field 'priority' is required"):
        create_issue(cloud_settings(fake), "SUP", "Fix it", "")
    with pytest.raises(ValueError, match="summary"):
        create_issue(cloud_settings(fake), "SUP", "  \n ", "")


def test_add_remote_link_is_idempotent(fake):
    settings = cloud_settings(fake)
    first = add_remote_link(settings, "SUP-1", "http://careloop.test/problems/12", "Careloop: card readers")
    second = add_remote_link(settings, "SUP-1", "http://careloop.test/problems/12", "Careloop: card readers (3)")
    assert first == second and len(fake.remote_links) == 1
    link = next(iter(fake.remote_links.values()))["body"]
    assert link["globalId"] == "careloop=http://careloop.test/problems/12"
    assert link["object"] == {"url": "http://careloop.test/problems/12", "title": "Careloop: card readers (3)"}


def test_status_category(fake):
    settings = cloud_settings(fake, CARELOOP_JIRA_DONE_WHEN="done")
    assert [status_category(settings, k) for k in ("SUP-1", "SUP-2", "SUP-3")] == ["new", "indeterminate", "done"]
    fake.touch("SUP-4", status="undefined")
    assert status_category(settings, "SUP-4") == "new"
    assert fake.calls("/rest/api/3/issue/SUP-1")[0]["args"]["fields"] == ["status,fixVersions"]
    with pytest.raises(SourceError, match="404"):
        status_category(settings, "SUP-999")
    with pytest.raises(ValueError):
        status_category(settings, "SUP-1/../../x")


# --- the plugin is an adapter -----------------------------------------------------------


def test_the_plugin_never_touches_the_database():
    forbidden = ("app.extensions", "app.models", "flask_sqlalchemy", "sqlalchemy", "app.services")
    for path in Path(jira_source.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                assert not name.startswith(forbidden), f"{path.name} imports {name}"


def test_one_session_per_run_with_explicit_timeouts(fake, clock, monkeypatch):
    sessions, timeouts = [], []
    original = requests.Session.request

    def spy(self, *args, **kwargs):
        sessions.append(id(self))
        timeouts.append(kwargs.get("timeout"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", spy)
    run(make_source(clock), cloud_settings(fake))
    assert len(set(sessions)) == 1 and len(sessions) == 3
    assert all(t == (5.0, 30.0) for t in timeouts)
