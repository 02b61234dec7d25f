"""The Zendesk plugin end to end: a real HTTP server on loopback answers like Zendesk,
the import goes through the core (``import_from_source``, the CLI, POST /hooks/zendesk)
into the test database. Time is faked: the plugin's rate limiter and retries sleep on a
fake clock, and the server notes the fake time of every request it gets.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from werkzeug import Request, Response

from app.extensions import db
from app.imports.importer import import_from_source
from app.models import ImportRun, Report, SourceState
from app.plugin_api import PermanentError, SourceError
from app.plugins.manager import source_settings, ticket_sources
from plugins.zendesk.source import SETTINGS, sign
from tests.plugins.fake_time import FakeTime

FIXTURES = Path(__file__).parent / "fixtures" / "zendesk"
START = "2024-01-01"
START_EPOCH = 1704067200
EMAIL, TOKEN = "agent@example.org", "tok-123"
SECRET = "whsec-test-5f2a"
BASIC = "Basic " + base64.b64encode(f"{EMAIL}/token:{TOKEN}".encode()).decode()
EXPORT = "/api/v2/incremental/tickets/cursor.json"
SEARCH_EXPORT = "/api/v2/search/export.json"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def zticket(ticket_id: int, description: str = "", *, subject: str | None = None, status: str = "open",
            requester_id: int = 9100, tags: tuple[str, ...] = (), updated_at: str = "2024-04-01T10:00:00Z") -> dict:
    """A Zendesk ticket as the export sends it (only the fields the plugin reads, plus a few)."""
    return {
        "url": f"https://careloop-test.zendesk.com/api/v2/tickets/{ticket_id}.json",
        "id": ticket_id,
        "via": {"channel": "web", "source": {"from": {}, "to": {}, "rel": None}},
        "created_at": "2024-04-01T09:00:00Z",
        "updated_at": updated_at,
        "subject": subject if subject is not None else f"Ticket {ticket_id}",
        "raw_subject": subject if subject is not None else f"Ticket {ticket_id}",
        "description": description or f"Ticket {ticket_id}: the booking page times out on step 3.",
        "status": status,
        "requester_id": requester_id,
        "tags": list(tags),
        "followup_ids": [],
        "generated_timestamp": 1711962000 + ticket_id,
    }


def zuser(user_id: int = 9100, name: str = "Ada Byrne", email: str | None = "ada@example.net") -> dict:
    return {"id": user_id, "name": name, "email": email, "role": "end-user"}


def export_page(tickets: list[dict], after: str | None, end: bool, users: list[dict] | None = None) -> dict:
    return {
        "tickets": tickets,
        "users": users if users is not None else [zuser()],
        "after_url": f"https://careloop-test.zendesk.com{EXPORT}?cursor={after}" if after else None,
        "after_cursor": after,
        "before_url": None,
        "before_cursor": None,
        "end_of_stream": end,
    }


def json_response(body, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers or {}, content_type="application/json")


def merge_comments(target: int | None, text: str | None = None) -> dict:
    """GET /tickets/{id}/comments.json of a ticket closed by a merge, latest first."""
    via = ({"channel": "merge", "source": {"from": {}, "to": {"ticket_id": target, "subject": "Target"},
                                           "rel": "merge"}}
           if target else {"channel": "web", "source": {"from": {}, "to": {}, "rel": None}})
    body = text or f'This request was closed and merged into request #{target} "Target".'
    return {"comments": [
        {"id": 2, "type": "Comment", "body": body, "plain_body": body, "public": False, "via": via},
        {"id": 1, "type": "Comment", "body": "First words", "public": True,
         "via": {"channel": "web", "source": {"from": {}, "to": {}, "rel": None}}},
    ], "meta": {"has_more": False}}


class FakeZendesk:
    """Answers like Zendesk: the export by cursor, tickets, comments and updates.

    ``export[key]`` is a queue of responses for one position (``start:<epoch>`` or
    ``cursor:<c>``); its last response is served again for later calls.
    """

    def __init__(self, time: FakeTime):
        self.time = time
        self.export: dict[str, list[Response]] = {}
        self.tickets: dict[str, list[Response]] = {}
        self.comments: dict[str, dict] = {}
        self.put_responses: list[Response] = []
        self.log: list[dict] = []
        self.on_me: dict | None = None  # GET /api/v2/users/me.json (anonymous unless set)
        self.views: dict[str, tuple[str, list[dict]]] = {}  # view id -> (title, its tickets now)
        self.view_page_max = 100  # Zendesk's most per page of a view's tickets
        self.search_index: dict[str, list[dict]] = {}  # a query (without dates) -> the tickets it matches
        self.search_page_max = 1000  # Zendesk's most per page of a search export

    def on_export(self, key: str, *responses) -> None:
        self.export[key] = [r if isinstance(r, Response) else json_response(r) for r in responses]

    def exports(self) -> list[dict]:
        return [entry for entry in self.log if entry["path"] == EXPORT]

    def searches(self) -> list[dict]:
        return [entry for entry in self.log if entry["path"] == SEARCH_EXPORT]

    def _cursor_page(self, items: list[dict], args, page_max: int) -> tuple[list[dict], dict]:
        """One page of cursor pagination as Zendesk answers it: ``page[size]`` (capped),
        ``page[after]`` an opaque cursor, ``meta.has_more``/``after_cursor``."""
        size = min(int(args.get("page[size]", 100)), page_max)
        after = args.get("page[after]")
        start = int(base64.b64decode(after).decode().split(":")[1]) if after else 0
        chunk = items[start:start + size]
        more = start + size < len(items)
        cursor = base64.b64encode(f"offset:{start + size}".encode()).decode() if chunk else None
        meta = {"has_more": more, "after_cursor": cursor, "before_cursor": None}
        return chunk, meta

    def _view(self, view_id: str, tickets_list: bool, args) -> Response:
        if view_id not in self.views:
            return json_response({"error": "RecordNotFound", "description": "Not found"}, 404)
        title, tickets = self.views[view_id]
        if not tickets_list:
            return json_response({"view": {"id": int(view_id), "title": title, "active": True,
                                           "url": f"https://careloop-test.zendesk.com/api/v2/views/{view_id}.json"}})
        chunk, meta = self._cursor_page(tickets, args, self.view_page_max)
        base = f"https://careloop-test.zendesk.com/api/v2/views/{view_id}/tickets.json"
        return json_response({"tickets": chunk, "meta": meta, "links": {
            "prev": None, "next": f"{base}?page%5Bafter%5D={meta['after_cursor']}" if meta["has_more"] else None}})

    def _search(self, args) -> Response:
        """GET /api/v2/search/export: ``filter[type]`` required, ``type:`` in the query
        refused; ``updated>``/``updated<`` compared with each indexed ticket's updated_at."""
        if args.get("filter[type]") not in ("ticket", "user", "organization", "group"):
            return json_response({"error": {"title": "Invalid attribute",
                                             "message": "filter[type] is required"}}, 400)
        query = args.get("query", "")
        if re.search(r"(?<![\w])type:", query):
            return json_response({"error": {"title": "Invalid search",
                                             "message": "type is not allowed in the query"}}, 400)
        after = dict(re.findall(r"updated([<>])(\S+)", query))
        words = re.sub(r"\s*updated[<>]\S+", "", query).strip()
        found = [t for t in self.search_index.get(words, [])
                 if ("<" not in after or t["updated_at"] < after["<"])
                 and (">" not in after or t["updated_at"] > after[">"])]
        chunk, meta = self._cursor_page(found, args, self.search_page_max)
        return json_response({"results": [{**t, "result_type": "ticket"} for t in chunk], "facets": None,
                              "meta": meta, "links": {"prev": None, "next": None}})

    def handle(self, request: Request) -> Response:
        entry = {"at": self.time.now, "method": request.method, "path": request.path,
                 "args": dict(request.args), "headers": dict(request.headers), "body": request.get_data()}
        self.log.append(entry)
        if request.path == EXPORT:
            args = request.args
            key = f"cursor:{args['cursor']}" if "cursor" in args else f"start:{args.get('start_time')}"
            return self._next(self.export, key)
        if match := re.fullmatch(r"/api/v2/views/(\d+)(/tickets)?\.json", request.path):
            return self._view(match.group(1), bool(match.group(2)), request.args)
        if request.path == SEARCH_EXPORT:
            return self._search(request.args)
        if request.path == "/api/v2/users/me.json":
            return json_response(self.on_me or {"user": {"id": None, "name": "Anonymous user", "role": "end-user"}})
        if match := re.fullmatch(r"/api/v2/tickets/(\d+)/comments\.json", request.path):
            if match.group(1) in self.comments:
                return json_response(self.comments[match.group(1)])
            return json_response({"error": "RecordNotFound", "description": "Not found"}, 404)
        if match := re.fullmatch(r"/api/v2/tickets/(\d+)\.json", request.path):
            if request.method == "PUT":
                if self.put_responses:
                    return self.put_responses.pop(0)
                return json_response({"ticket": {"id": int(match.group(1))}, "audit": {"events": []}})
            return self._next(self.tickets, match.group(1))
        return json_response({"error": "unexpected request", "description": request.full_path}, 400)

    @staticmethod
    def _next(queues: dict[str, list[Response]], key: str) -> Response:
        queue = queues.get(key)
        if not queue:
            return json_response({"error": "RecordNotFound", "description": f"nothing for {key}"}, 404)
        return queue.pop(0) if len(queue) > 1 else queue[0]


@pytest.fixture
def zendesk(app):
    """The app's ZendeskSource object (loaded through the ``zendesk`` entry point)."""
    source = ticket_sources(app)["zendesk"]
    return source.fetch.__self__


@pytest.fixture
def fake_time(zendesk, monkeypatch):
    time = FakeTime()
    monkeypatch.setattr(zendesk, "clock", time.clock)
    monkeypatch.setattr(zendesk, "sleep", time.sleep)
    monkeypatch.setattr(zendesk, "jitter", lambda: 0.5)
    monkeypatch.setattr(zendesk, "limiters", {})  # limiters built in this test use the fake clock
    return time


@pytest.fixture
def fake(httpserver, fake_time):
    fake = FakeZendesk(fake_time)
    httpserver.expect_request(re.compile(r"^/api/v2/.*")).respond_with_handler(fake.handle)
    return fake


@pytest.fixture
def configure(app_ctx, httpserver):
    """Set the plugin's settings in app.config for one test (restored afterwards)."""
    names = [s.name for s in SETTINGS]
    saved = {name: app_ctx.config.get(name) for name in names}
    present = {name for name in names if name in app_ctx.config}

    def configure(**values):
        base = {name: "" for name in names}  # "" means unset, so the environment cannot leak in
        base.update({
            "CARELOOP_ZENDESK_URL": httpserver.url_for("/").rstrip("/"),
            "CARELOOP_ZENDESK_EMAIL": EMAIL,
            "CARELOOP_ZENDESK_TOKEN": TOKEN,
            "CARELOOP_ZENDESK_START": START,
            "CARELOOP_ZENDESK_WEBHOOK_SECRET": SECRET,
        })
        base.update({f"CARELOOP_ZENDESK_{k.upper()}": v for k, v in values.items()})
        app_ctx.config.update(base)
        return base

    configure()
    yield configure
    for name in names:
        if name in present:
            app_ctx.config[name] = saved[name]
        else:
            app_ctx.config.pop(name, None)


@pytest.fixture
def zd(fake, configure):
    return fake


def reports() -> list[Report]:
    db.session.expire_all()
    return db.session.scalars(db.select(Report).order_by(Report.id)).all()


def report(external_id: str) -> Report:
    db.session.expire_all()
    return db.session.scalar(db.select(Report).filter_by(source="zendesk", external_id=external_id))


def saved_cursor() -> str | None:
    db.session.expire_all()
    state = db.session.get(SourceState, "zendesk")
    return state.cursor if state else None


def two_pages(zd: FakeZendesk) -> None:
    zd.on_export(f"start:{START_EPOCH}", load("export_page_1.json"))
    zd.on_export("cursor:Q1VSU09SLTE=", load("export_page_2.json"))


# -- the import --------------------------------------------------------------------------


def test_import_follows_the_pages_to_the_end(zd):
    two_pages(zd)

    result = import_from_source("zendesk")

    assert result.ok, result.error_message
    assert (result.created, result.errors) == (5, 0)
    stored = reports()
    assert [r.external_id for r in stored] == ["101", "102", "103", "104", "105"]
    card, ramp, phone, invoice, login = stored
    assert card.reporter.display_name == "Maria Lopez" and card.reporter.email == "maria@example.net"
    assert ramp.reporter.display_name == "Zoë Ångström"
    assert "fauteuil" in ramp.text and "Rampe d'accès bloquée" in ramp.text
    assert phone.reporter.email is None
    assert login.reporter.display_name is None  # requester not side-loaded: no name invented
    assert card.external_url == f"{ticket_settings()['CARELOOP_ZENDESK_URL']}/agent/tickets/101"
    assert card.created_at == datetime(2024, 3, 1, 9, 15) and card.created_at.tzinfo is None
    assert card.external_updated_at == datetime(2024, 3, 1, 9, 20)
    assert all(r.source == "zendesk" and r.channel == "import" for r in stored)

    first, second = zd.exports()
    assert first["args"] == {"start_time": str(START_EPOCH), "include": "users"}
    assert second["args"] == {"cursor": "Q1VSU09SLTE=", "include": "users"}
    assert first["headers"]["Authorization"] == BASIC
    assert saved_cursor() == "cursor:Q1VSU09SLTI="  # kept after end_of_stream for the next run


def ticket_settings() -> dict[str, str]:
    return source_settings(ticket_sources()["zendesk"])


def test_a_second_run_creates_nothing(zd):
    two_pages(zd)
    import_from_source("zendesk")
    zd.on_export("cursor:Q1VSU09SLTI=", export_page([], "Q1VSU09SLTI=", True))

    again = import_from_source("zendesk")

    assert again.ok and (again.created, again.updated) == (0, 0)
    assert zd.exports()[-1]["args"] == {"cursor": "Q1VSU09SLTI=", "include": "users"}
    assert len(reports()) == 5


def test_tickets_sent_again_unchanged_create_nothing(zd):
    two_pages(zd)
    import_from_source("zendesk")
    zd.on_export("cursor:Q1VSU09SLTI=", load("export_page_2.json") | {"after_cursor": "Q1VSU09SLTM="})

    again = import_from_source("zendesk")

    assert again.ok and (again.created, again.updated, again.unchanged) == (0, 0, 2)
    assert len(reports()) == 5


def test_an_entry_without_an_id_is_skipped_not_fatal(zd):
    zd.on_export(f"start:{START_EPOCH}", export_page([{"subject": "no id"}, zticket(601)], "e1", True))

    result = import_from_source("zendesk")

    assert result.ok and result.created == 1 and report("601") is not None


def test_the_cli_imports_and_reports_counts(zd, runner):
    two_pages(zd)

    outcome = runner.invoke(args=["import", "zendesk"])

    assert outcome.exit_code == 0, outcome.output
    assert "zendesk: 5 created, 0 updated" in outcome.output


# -- rate limits and retries -------------------------------------------------------------


def test_429_with_retry_after_is_waited_out(zd, fake_time):
    zd.on_export(f"start:{START_EPOCH}",
                 json_response({"error": "APIRateLimitExceeded"}, 429, {"Retry-After": "7"}),
                 load("export_page_1.json"))
    zd.on_export("cursor:Q1VSU09SLTE=", load("export_page_2.json"))

    result = import_from_source("zendesk")

    assert result.ok and result.created == 5
    refused, retried = zd.exports()[:2]
    assert retried["at"] - refused["at"] >= 7  # never sooner than Zendesk asked
    assert 7 in fake_time.sleeps


def test_429_and_503_without_retry_after_back_off_then_succeed(zd, fake_time):
    zd.on_export(f"start:{START_EPOCH}",
                 json_response({"error": "APIRateLimitExceeded"}, 429),
                 Response("Service Unavailable", status=503),
                 load("export_page_1.json"))
    zd.on_export("cursor:Q1VSU09SLTE=", load("export_page_2.json"))

    result = import_from_source("zendesk")

    assert result.ok and result.created == 5
    assert fake_time.sleeps[:2] == [0.75, 1.5]  # exponential, with (here fixed) jitter
    times = [e["at"] for e in zd.exports()[:3]]
    assert times[1] - times[0] >= 0.75 and times[2] - times[1] >= 1.5


def test_endless_503_gives_up_after_bounded_retries(zd):
    zd.on_export(f"start:{START_EPOCH}", Response("down", status=503))

    result = import_from_source("zendesk")

    assert not result.ok
    assert "HTTP 503" in result.error_message and "gave up after 6 attempts" in result.error_message
    assert len(zd.exports()) == 6  # the first try and five retries
    assert reports() == [] and saved_cursor() is None


def test_export_keeps_to_ten_requests_a_minute(zd, fake_time):
    keys = [f"start:{START_EPOCH}"] + [f"cursor:c{n}" for n in range(1, 12)]
    for n, key in enumerate(keys):
        last = n == len(keys) - 1
        zd.on_export(key, export_page([zticket(500 + n)], f"c{n + 1}", last))

    result = import_from_source("zendesk")

    assert result.ok and result.created == 12
    times = [e["at"] for e in zd.exports()]
    assert len(times) == 12
    assert all(later - earlier >= 60 for earlier, later in zip(times, times[10:], strict=False))
    assert times[10] - times[0] == 60 and sum(fake_time.sleeps) == 60


def test_the_limit_can_be_lifted_for_local_servers(zd, configure, fake_time):
    configure(requests_per_minute="0")
    keys = [f"start:{START_EPOCH}"] + [f"cursor:c{n}" for n in range(1, 12)]
    for n, key in enumerate(keys):
        zd.on_export(key, export_page([zticket(500 + n)], f"c{n + 1}", n == len(keys) - 1))

    assert import_from_source("zendesk").created == 12
    assert fake_time.sleeps == []


# -- errors ------------------------------------------------------------------------------


def test_a_truncated_page_is_retried_and_the_run_goes_on(zd, fake_time):
    page_2 = json.dumps(load("export_page_2.json"))
    zd.on_export(f"start:{START_EPOCH}", load("export_page_1.json"))
    zd.on_export("cursor:Q1VSU09SLTE=",
                 Response(page_2[: len(page_2) // 2], content_type="application/json"),
                 Response(page_2, content_type="application/json"))

    result = import_from_source("zendesk")

    assert result.ok and result.created == 5
    assert [e["args"].get("cursor") for e in zd.exports()] == [None, "Q1VSU09SLTE=", "Q1VSU09SLTE="]
    assert len(fake_time.sleeps) == 1  # one back-off before the retry
    assert sorted(r.external_id for r in reports()) == ["101", "102", "103", "104", "105"]


def test_a_page_that_stays_truncated_stops_at_the_last_good_page_and_the_next_run_resumes(zd):
    page_2 = json.dumps(load("export_page_2.json"))
    zd.on_export(f"start:{START_EPOCH}", load("export_page_1.json"))
    zd.on_export("cursor:Q1VSU09SLTE=", *[Response(page_2[: len(page_2) // 2], content_type="application/json")] * 6,
                 Response(page_2, content_type="application/json"))

    first = import_from_source("zendesk")

    assert not first.ok and "not valid JSON" in first.error_message and "resumes" in first.error_message
    assert first.created == 3
    assert saved_cursor() == "cursor:Q1VSU09SLTE="
    run = db.session.scalar(db.select(ImportRun).order_by(ImportRun.id.desc()))
    assert run.error_message == first.error_message

    second = import_from_source("zendesk")

    assert second.ok and second.created == 2
    assert zd.exports()[-1]["args"]["cursor"] == "Q1VSU09SLTE="
    ids = [r.external_id for r in reports()]
    assert sorted(ids) == ["101", "102", "103", "104", "105"]  # every ticket exactly once


def test_401_says_authentication_failed(zd, runner):
    zd.on_export(f"start:{START_EPOCH}",
                 json_response({"error": "Couldn't authenticate you"}, 401))

    result = import_from_source("zendesk")

    assert not result.ok
    assert result.error_message.startswith("Authentication failed for Zendesk")
    assert "authentication failed (HTTP 401" in result.error_message
    assert reports() == []
    outcome = runner.invoke(args=["import", "zendesk"])
    assert outcome.exit_code != 0 and "Authentication failed for Zendesk" in outcome.output


def test_missing_credentials_are_named(zd, configure):
    configure(token="")

    result = import_from_source("zendesk")

    assert not result.ok
    assert "CARELOOP_ZENDESK_TOKEN" in result.error_message
    assert zd.log == []


def test_missing_url_means_not_configured(zd, configure):
    configure(url="")

    result = import_from_source("zendesk")

    assert result.error_message == "Zendesk is not configured: set CARELOOP_ZENDESK_URL."


def test_oauth_token_is_sent_as_bearer(zd, configure):
    configure(email="", token="", oauth_token="oauth-abc")
    two_pages(zd)

    assert import_from_source("zendesk").ok
    assert zd.exports()[0]["headers"]["Authorization"] == "Bearer oauth-abc"


def test_422_too_recent_means_nothing_new(zd):
    zd.on_export(f"start:{START_EPOCH}", json_response(
        {"error": "InvalidValue", "description": "Too recent start_time. Use a start_time older than 1 minute."},
        422))

    result = import_from_source("zendesk")

    assert result.ok and result.created == 0
    assert saved_cursor() == f"start:{START_EPOCH}"  # asked again next time


def test_a_start_within_the_last_minute_is_never_asked_for(zd, configure):
    configure(start=str(int(datetime.now(UTC).timestamp()) - 10))

    result = import_from_source("zendesk")

    assert result.ok and result.created == 0
    assert zd.exports() == []


# -- edits, deletions, merges -------------------------------------------------------------


def test_an_edited_ticket_updates_its_report_and_a_deleted_one_loses_its_text(zd):
    zd.on_export(f"start:{START_EPOCH}", load("export_page_1.json"))
    import_from_source("zendesk")
    edited = load("export_page_1.json")["tickets"][0] | {
        "description": "The card reader refuses contactless cards AND chip cards now.",
        "updated_at": "2024-03-05T08:00:00Z"}
    deleted = load("export_page_1.json")["tickets"][1] | {"status": "deleted", "updated_at": "2024-03-05T09:00:00Z"}
    zd.on_export("cursor:Q1VSU09SLTE=", export_page([edited, deleted], "Q1VSU09SLTM=", True))

    result = import_from_source("zendesk")

    assert result.ok and (result.created, result.updated, result.removed) == (0, 1, 1)
    assert len(reports()) == 3  # never a second report for the edited ticket
    card = report("101")
    assert "AND chip cards" in card.text
    assert card.external_updated_at == datetime(2024, 3, 5, 8, 0)
    ramp = report("102")
    assert ramp.text == "" and ramp.removed_at is not None
    assert ramp.reporter.email is None and ramp.reporter.display_name is None


def test_a_ticket_closed_by_a_merge_follows_its_target(zd):
    zd.on_export(f"start:{START_EPOCH}", export_page([zticket(201), zticket(202)], "m1", True))
    import_from_source("zendesk")
    assert report("201").problem_id != report("202").problem_id
    merged = zticket(202, status="closed", tags=("closed_by_merge",), updated_at="2024-04-02T10:00:00Z")
    zd.on_export("cursor:m1", export_page([merged, zticket(201, updated_at="2024-04-02T10:00:00Z")], "m2", True))
    zd.comments["202"] = merge_comments(201)

    result = import_from_source("zendesk")

    assert result.ok and result.updated == 1
    assert report("202").problem_id == report("201").problem_id
    assert len(reports()) == 2


def test_a_merge_target_in_the_same_page_is_stored_first(zd):
    merged = zticket(302, status="closed", tags=("closed_by_merge",))
    zd.on_export(f"start:{START_EPOCH}", export_page([merged, zticket(301)], "m1", True))
    # An account whose merge comment has no via details: the words still name the target.
    zd.comments["302"] = merge_comments(None, 'This request was closed and merged into request #301 "Booking".')

    result = import_from_source("zendesk")

    assert result.ok and result.created == 2
    assert report("302").problem_id == report("301").problem_id


# -- write-back ------------------------------------------------------------------------------


def test_write_back_posts_a_public_comment(zd):
    source = ticket_sources()["zendesk"]

    source.write_back(ticket_settings(), "101", "We moved the card reader; it accepts contactless again.")

    (put,) = [e for e in zd.log if e["method"] == "PUT"]
    assert put["path"] == "/api/v2/tickets/101.json"
    assert json.loads(put["body"]) == {"ticket": {"comment": {
        "body": "We moved the card reader; it accepts contactless again.", "public": True}}}
    assert put["headers"]["Authorization"] == BASIC
    assert put["headers"]["Content-Type"] == "application/json"


def test_write_back_waits_out_429_then_posts_once(zd, fake_time):
    zd.put_responses = [json_response({"error": "APIRateLimitExceeded"}, 429, {"Retry-After": "3"})]

    ticket_sources()["zendesk"].write_back(ticket_settings(), "101", "Fixed.")

    puts = [e for e in zd.log if e["method"] == "PUT"]
    assert len(puts) == 2 and puts[1]["at"] - puts[0]["at"] >= 3


def test_write_back_errors_raise_source_error(zd):
    zd.put_responses = [json_response({"error": "RecordNotFound", "description": "Not found"}, 404)]

    with pytest.raises(SourceError, match="RecordNotFound"):
        ticket_sources()["zendesk"].write_back(ticket_settings(), "999", "Fixed.")


def test_write_back_can_be_turned_off(zd, configure):
    configure(write_back="off")

    with pytest.raises(PermanentError, match="write-back is off"):
        ticket_sources()["zendesk"].write_back(ticket_settings(), "101", "Fixed.")

    assert zd.log == []


# -- webhooks --------------------------------------------------------------------------------


def signed(body: bytes, *, secret: str = SECRET, at: datetime | None = None, invocation: str = "inv-1") -> dict:
    stamp = (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "Content-Type": "application/json",
        "X-Zendesk-Webhook-Signature": sign(secret, stamp, body),
        "X-Zendesk-Webhook-Signature-Timestamp": stamp,
        "X-Zendesk-Webhook-Invocation-Id": invocation,
    }


def show_ticket(zd: FakeZendesk, ticket: dict, users: list[dict] | None = None) -> None:
    zd.tickets[str(ticket["id"])] = [json_response({"ticket": ticket, "users": users or [zuser()]})]


def test_a_signed_webhook_creates_the_report(zd, client):
    show_ticket(zd, zticket(401, "The lift to platform 2 has been out of order for a week."))
    body = b'{"ticket_id": "401"}'

    response = client.post("/hooks/zendesk", data=body, headers=signed(body))

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["created"] == 1
    stored = report("401")
    assert "platform 2" in stored.text and stored.reporter.display_name == "Ada Byrne"
    (get,) = [e for e in zd.log if e["path"] == "/api/v2/tickets/401.json"]
    assert get["args"] == {"include": "users"} and get["headers"]["Authorization"] == BASIC


def test_a_webhook_in_zendesk_event_shape_is_understood(zd, client):
    show_ticket(zd, zticket(402))
    body = json.dumps({"type": "zen:event-type:ticket.created", "subject": "zen:ticket:402",
                       "detail": {"id": "402", "status": "NEW"}, "id": "evt-1"}).encode()

    response = client.post("/hooks/zendesk", data=body, headers=signed(body, invocation="inv-event"))

    assert response.status_code == 200 and report("402") is not None


def test_a_webhook_with_a_bad_signature_is_refused(zd, client):
    body = b'{"ticket_id": "401"}'

    response = client.post("/hooks/zendesk", data=body, headers=signed(body, secret="not-the-secret"))

    assert response.status_code == 401
    assert "signature" in response.get_json()["error"]
    assert zd.log == [] and reports() == []


def test_a_stale_webhook_is_refused(zd, client):
    body = b'{"ticket_id": "401"}'
    old = datetime.now(UTC) - timedelta(minutes=6)

    response = client.post("/hooks/zendesk", data=body, headers=signed(body, at=old))

    assert response.status_code == 401 and "5 minutes" in response.get_json()["error"]
    assert zd.log == []


def test_a_webhook_from_the_future_is_refused(zd, client):
    body = b'{"ticket_id": "401"}'

    response = client.post("/hooks/zendesk", data=body,
                           headers=signed(body, at=datetime.now(UTC) + timedelta(minutes=10)))

    assert response.status_code == 401


def test_a_replayed_webhook_is_refused(zd, client):
    show_ticket(zd, zticket(403))
    body = b'{"ticket_id": "403"}'
    headers = signed(body, invocation="inv-replay")

    assert client.post("/hooks/zendesk", data=body, headers=headers).status_code == 200
    again = client.post("/hooks/zendesk", data=body, headers=headers)

    assert again.status_code == 409
    assert len(reports()) == 1


def test_a_webhook_without_a_ticket_id_is_a_bad_request(zd, client):
    body = b'{"hello": "world"}'

    response = client.post("/hooks/zendesk", data=body, headers=signed(body))

    assert response.status_code == 400 and "ticket id" in response.get_json()["error"]


def test_a_webhook_for_a_deleted_ticket_removes_the_text(zd, client):
    show_ticket(zd, zticket(404))
    body = b'{"ticket_id": "404"}'
    client.post("/hooks/zendesk", data=body, headers=signed(body, invocation="inv-a"))
    zd.tickets["404"] = [json_response({"error": "RecordNotFound", "description": "Not found"}, 404)]

    response = client.post("/hooks/zendesk", data=body, headers=signed(body, invocation="inv-b"))

    assert response.status_code == 200 and response.get_json()["removed"] == 1
    assert report("404").text == ""


def test_without_a_secret_webhooks_are_refused(zd, client, configure):
    configure(webhook_secret="")
    body = b'{"ticket_id": "401"}'

    assert client.post("/hooks/zendesk", data=body, headers=signed(body)).status_code == 401


# -- write-back through the core's outbox ------------------------------------------------------


def test_a_published_change_replies_on_each_imported_ticket_through_the_outbox(zd, make_user):
    from app import services
    from app.messaging.mail import deliver_due
    from app.models import Message, MessageKind, MessageStatus, utcnow

    zd.on_export(f"start:{START_EPOCH}", export_page([zticket(101, "The card reader rejects contactless.")], "w1", True))
    assert import_from_source("zendesk").created == 1
    leader = make_user("leader", name="Dana Okafor")
    problem = report("101").problem
    services.assign_owner(problem, leader, leader)
    services.record_change(problem, leader, since=utcnow().date(),
                           what="The card reader was replaced and accepts contactless payments again at every till.")
    services.publish(problem, leader, public_title="Contactless works again", public_summary="New readers.")
    db.session.commit()
    reply, = db.session.scalars(db.select(Message).filter_by(kind=MessageKind.WRITE_BACK)).all()
    assert reply.to_address == "zendesk:101" and reply.status == MessageStatus.PENDING
    assert [e for e in zd.log if e["method"] == "PUT"] == []  # nothing is sent inside the event

    assert deliver_due().sent >= 1
    (put,) = [e for e in zd.log if e["method"] == "PUT"]
    body = json.loads(put["body"])["ticket"]["comment"]
    assert body["public"] is True
    assert "The card reader rejects contactless." in body["body"]  # their own words, quoted
    assert "accepts contactless payments again" in body["body"] and "Dana Okafor" in body["body"]
    db.session.expire_all()
    assert db.session.get(Message, reply.id).status == MessageStatus.SENT


def test_no_reply_is_queued_when_write_back_is_off(zd, configure, make_user):
    from app import services
    from app.models import Message, MessageKind

    configure(write_back="off")
    zd.on_export(f"start:{START_EPOCH}", export_page([zticket(101, "The card reader rejects contactless.")], "w1", True))
    import_from_source("zendesk")
    leader = make_user("leader")
    problem = report("101").problem
    services.decline(problem, leader, "We are replacing all the readers next year; until then please use chip and PIN.")
    db.session.commit()
    assert db.session.scalars(db.select(Message).filter_by(kind=MessageKind.WRITE_BACK)).all() == []


def test_a_ticket_merged_into_one_that_arrives_later_follows_it(zd):
    merged = zticket(402, status="closed", tags=("closed_by_merge",))
    zd.comments["402"] = merge_comments(401)
    zd.on_export(f"start:{START_EPOCH}", export_page([merged], "p1", False))
    zd.on_export("cursor:p1", export_page([zticket(401, "Booking page times out.")], "p2", True))

    assert import_from_source("zendesk").created == 2
    assert report("402").problem_id == report("401").problem_id
