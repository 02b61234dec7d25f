"""The Zendesk plugin's pure parts: rate limiter, back-off, mapping, cursors, signatures,
settings checks. No app and no database; HTTP only against a loopback server."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from werkzeug import Response

from app.plugin_api import AuthenticationFailed, SourceError
from plugins.zendesk import mapping
from plugins.zendesk.client import RateLimiter, ZendeskClient, check_settings
from plugins.zendesk.source import (
    parse_cursor,
    parse_start,
    parse_webhook_time,
    sign,
    verify_signature,
    webhook_ticket_id,
)
from tests.plugins.fake_time import FakeTime

# -- the limiter -----------------------------------------------------------------------------


def test_limiter_allows_ten_a_minute_and_no_more():
    time = FakeTime(1000.0)
    limiter = RateLimiter(10, clock=time.clock, sleep=time.sleep)

    calls = []
    for _ in range(35):
        limiter.wait()
        calls.append(time.now)

    assert calls[:10] == [1000.0] * 10  # a burst of ten is allowed at once
    assert calls[10] == 1060.0  # the eleventh waits for the first to leave the window
    for n, at in enumerate(calls):
        assert sum(1 for other in calls if at <= other < at + 60) <= 10, n
    assert calls[-1] - calls[0] >= 180  # 35 calls take at least three full minutes


def test_limiter_does_not_wait_when_calls_are_spread_out():
    time = FakeTime(1000.0)
    limiter = RateLimiter(10, clock=time.clock, sleep=time.sleep)
    for _ in range(30):
        limiter.wait()
        time.now += 6.0  # one call every six seconds is exactly ten a minute
    assert time.sleeps == []


def test_limiter_off_when_zero():
    time = FakeTime(1000.0)
    limiter = RateLimiter(0, clock=time.clock, sleep=time.sleep)
    for _ in range(100):
        limiter.wait()
    assert time.sleeps == []


def test_hold_off_delays_the_next_call():
    time = FakeTime(1000.0)
    limiter = RateLimiter(10, clock=time.clock, sleep=time.sleep)
    limiter.wait()
    limiter.hold_off(30)
    limiter.wait()
    assert time.now == 1030.0


# -- the client ------------------------------------------------------------------------------

SETTINGS = {"CARELOOP_ZENDESK_EMAIL": "a@example.org", "CARELOOP_ZENDESK_TOKEN": "t"}


def client_for(httpserver, time: FakeTime, **kw) -> ZendeskClient:
    settings = {**SETTINGS, "CARELOOP_ZENDESK_URL": httpserver.url_for("/")}
    return ZendeskClient(settings, sleep=time.sleep, wall=lambda: 1_700_000_000.0, jitter=lambda: 0.0, **kw)


def test_backoff_grows_exponentially_up_to_a_cap(httpserver):
    client = client_for(httpserver, FakeTime(1000.0), backoff_base=1.0, backoff_cap=8.0)
    client.jitter = lambda: 1.0
    assert [client.backoff(n) for n in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    client.jitter = lambda: 0.0
    assert [client.backoff(n) for n in range(4)] == [0.5, 1.0, 2.0, 4.0]  # never less than half


def test_retry_after_as_an_http_date_is_honoured(httpserver):
    time = FakeTime(1000.0)
    when = datetime.fromtimestamp(1_700_000_000 + 12, UTC)
    httpserver.expect_ordered_request("/x").respond_with_response(
        Response("", status=429, headers={"Retry-After": format_datetime(when, usegmt=True)}))
    httpserver.expect_ordered_request("/x").respond_with_json({"ok": True})

    status, body = client_for(httpserver, time).get_json("/x")

    assert (status, body) == (200, {"ok": True}) and time.sleeps == [12.0]


def test_a_very_long_retry_after_stops_the_run_instead_of_hanging(httpserver):
    httpserver.expect_request("/x").respond_with_response(Response("", status=429, headers={"Retry-After": "3600"}))
    with pytest.raises(SourceError, match="wait 3600 s"):
        client_for(httpserver, FakeTime(1000.0)).get_json("/x")


def test_a_comment_is_not_sent_twice_after_an_ambiguous_500(httpserver):
    time = FakeTime(1000.0)
    httpserver.expect_request("/api/v2/tickets/1.json", method="PUT").respond_with_response(Response("oops", 500))
    with pytest.raises(SourceError, match="HTTP 500"):
        client_for(httpserver, time).put_json("/api/v2/tickets/1.json", {"ticket": {}})
    assert len(httpserver.log) == 1 and time.sleeps == []


def test_403_is_an_authentication_failure(httpserver):
    httpserver.expect_request("/x").respond_with_json({"error": "Forbidden"}, status=403)
    with pytest.raises(AuthenticationFailed, match="authentication failed"):
        client_for(httpserver, FakeTime(1000.0)).get_json("/x")


def test_an_unreachable_server_is_retried_then_reported():
    time = FakeTime(1000.0)
    settings = {**SETTINGS, "CARELOOP_ZENDESK_URL": "http://127.0.0.1:9"}  # discard port: refused
    client = ZendeskClient(settings, sleep=time.sleep, jitter=lambda: 0.0, max_retries=2, timeout=(0.5, 0.5))
    with pytest.raises(SourceError, match="could not be reached"):
        client.get_json("/x")
    assert time.sleeps == [0.5, 1.0]


# -- settings --------------------------------------------------------------------------------


@pytest.mark.parametrize(("settings", "message"), [
    ({}, "set CARELOOP_ZENDESK_URL"),
    ({"CARELOOP_ZENDESK_URL": "zendesk.example"}, "must be an http"),
    ({"CARELOOP_ZENDESK_URL": "https://x.zendesk.com"}, "no credentials"),
    ({"CARELOOP_ZENDESK_URL": "https://x.zendesk.com", "CARELOOP_ZENDESK_EMAIL": "a@b.c"}, "CARELOOP_ZENDESK_TOKEN"),
    ({"CARELOOP_ZENDESK_URL": "https://x.zendesk.com", "CARELOOP_ZENDESK_TOKEN": "t"}, "CARELOOP_ZENDESK_EMAIL"),
])
def test_settings_problems_are_named(settings, message):
    with pytest.raises(SourceError, match=message):
        check_settings(settings)


def test_either_kind_of_credentials_is_enough():
    check_settings({"CARELOOP_ZENDESK_URL": "http://127.0.0.1:8080", "CARELOOP_ZENDESK_OAUTH_TOKEN": "o"})
    check_settings({"CARELOOP_ZENDESK_URL": "https://x.zendesk.com", **SETTINGS})


def test_start_accepts_dates_times_and_epochs():
    now = 1_700_000_000.0
    assert parse_start(None, now) == int(now) - 30 * 86400
    assert parse_start("2024-01-01", now) == 1704067200
    assert parse_start("2024-01-01T01:00:00Z", now) == 1704070800
    assert parse_start("2024-01-01T02:00:00+01:00", now) == 1704070800
    assert parse_start("1704067200", now) == 1704067200
    with pytest.raises(SourceError, match="CARELOOP_ZENDESK_START"):
        parse_start("last tuesday", now)


def test_cursors_round_trip():
    assert parse_cursor(None, {"CARELOOP_ZENDESK_START": "1704067200"}, 0) == ("start", "1704067200")
    assert parse_cursor("start:1704067200", {}, 0) == ("start", "1704067200")
    assert parse_cursor("cursor:MTcwNzI3MTc0MS4wfHw0MDQ1fA==", {}, 0) == ("cursor", "MTcwNzI3MTc0MS4wfHw0MDQ1fA==")
    with pytest.raises(SourceError, match="not one this plugin wrote"):
        parse_cursor("17", {}, 0)


# -- mapping ---------------------------------------------------------------------------------


def test_times_become_naive_utc():
    assert mapping.parse_time("2024-02-08T17:26:48Z") == datetime(2024, 2, 8, 17, 26, 48)
    assert mapping.parse_time("2024-02-08T19:26:48+02:00") == datetime(2024, 2, 8, 17, 26, 48)
    assert mapping.parse_time(None) is None and mapping.parse_time("soon") is None


@pytest.mark.parametrize(("zendesk", "careloop"), [
    ("new", "open"), ("open", "open"), ("pending", "open"), ("hold", "open"),
    ("solved", "closed"), ("closed", "closed"), ("deleted", "deleted"),
])
def test_statuses(zendesk, careloop):
    assert mapping.careloop_status({"status": zendesk}) == careloop


def test_a_ticket_maps_to_plain_data():
    raw = {"id": 7, "subject": " Lift broken ", "description": "Out of order.", "status": "deleted",
           "requester_id": 5, "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-02T00:00:00Z"}
    ticket = mapping.to_ticket(raw, mapping.users_by_id([{"id": 5, "name": "Jo", "email": "jo@example.net"}]),
                               "https://x.zendesk.com/")
    assert ticket.external_id == "7" and ticket.title == "Lift broken" and ticket.text == "Out of order."
    assert (ticket.requester_name, ticket.requester_email) == ("Jo", "jo@example.net")
    assert ticket.status == "deleted" and ticket.url == "https://x.zendesk.com/agent/tickets/7"
    assert ticket.created_at == datetime(2024, 1, 1) and ticket.merged_into is None


def test_merge_signals():
    tagged = {"id": 2, "status": "closed", "tags": ["closed_by_merge"]}
    assert mapping.closed_by_merge(tagged) and mapping.merge_target(tagged) is None
    via = {"id": 2, "status": "closed", "tags": [],
           "via": {"channel": "merge", "source": {"rel": "merge", "to": {"ticket_id": 9}, "from": {}}}}
    assert mapping.closed_by_merge(via) and mapping.merge_target(via) == "9"
    plain = {"id": 3, "status": "closed", "tags": ["vip"], "via": {"channel": "web", "source": {"rel": None}}}
    assert not mapping.closed_by_merge(plain)


def test_merge_target_from_comments_prefers_via_then_words():
    by_via = [{"body": "x", "via": {"source": {"rel": "merge", "to": {"ticket_id": 44}}}}]
    by_words = [{"body": 'This request was closed and merged into request #45 "Lift".', "via": {"source": {}}}]
    assert mapping.merge_target_from_comments(by_via) == "44"
    assert mapping.merge_target_from_comments(by_words) == "45"
    assert mapping.merge_target_from_comments([{"body": "hello"}]) is None


def test_merged_tickets_come_after_their_page_mates():
    tickets = [mapping.to_ticket({"id": 1, "description": "a"}, {}, "http://z", merged_into="2"),
               mapping.to_ticket({"id": 2, "description": "b"}, {}, "http://z"),
               mapping.to_ticket({"id": 3, "description": "c"}, {}, "http://z")]
    assert [t.external_id for t in mapping.targets_first(tickets)] == ["2", "3", "1"]


# -- webhooks --------------------------------------------------------------------------------


def test_signature_is_base64_hmac_sha256_of_timestamp_and_body():
    # Computed independently:
    # printf '%s' '2024-05-01T10:00:00Z{"ticket_id":"1"}' | openssl dgst -sha256 -hmac s3cret -binary | base64
    expected = "fsvogAuG2swR9WcC4e2SntfazzHSp2SZ9emOXqu3RSk="
    assert sign("s3cret", "2024-05-01T10:00:00Z", b'{"ticket_id":"1"}') == expected
    assert verify_signature("s3cret", "2024-05-01T10:00:00Z", b'{"ticket_id":"1"}', expected)
    assert not verify_signature("s3cret", "2024-05-01T10:00:01Z", b'{"ticket_id":"1"}', expected)
    assert not verify_signature("other", "2024-05-01T10:00:00Z", b'{"ticket_id":"1"}', expected)
    assert not verify_signature("s3cret", "2024-05-01T10:00:00Z", b'{"ticket_id":"1"}', "")


@pytest.mark.parametrize("body", [
    {"ticket_id": "12"}, {"ticket_id": 12}, {"ticket": {"id": 12}},
    {"type": "zen:event-type:ticket.status_changed", "detail": {"id": "12"}},
    {"type": "zen:event-type:ticket.created", "subject": "zen:ticket:12", "detail": {}},
])
def test_webhook_bodies_name_the_ticket(body):
    assert webhook_ticket_id(json.dumps(body).encode()) == "12"


@pytest.mark.parametrize("body", [b"", b"not json", b"[1]", b'{"ticket_id": "12; DROP"}'])
def test_webhook_bodies_without_a_ticket_are_refused(body):
    with pytest.raises(ValueError):
        webhook_ticket_id(body)


def test_webhook_times():
    assert parse_webhook_time("2024-05-01T10:00:00Z") == 1714557600.0
    assert parse_webhook_time("1714557600") == 1714557600.0
    assert parse_webhook_time("yesterday") is None
