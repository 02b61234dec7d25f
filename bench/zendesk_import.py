"""Benchmark: a Zendesk backfill of N generated tickets through the whole core, grouping on.

A local HTTP server answers the cursor-based incremental export like Zendesk, in pages
of --page-size tickets with users side-loaded. The plugin's rate limiter is lifted
(CARELOOP_ZENDESK_REQUESTS_PER_MINUTE=0), so this measures Careloop, not Zendesk's limit.
The result is a ratio to Zendesk's own ceiling for an export, 10 pages of 1,000 tickets a
minute: 1.0 means the import keeps up with the fastest Zendesk lets anyone read.

The database is PostgreSQL with --database-url (it is emptied and migrated first: give a
throwaway database), or a throwaway SQLite file. Grouping uses the configured backend
(minilm by default), as in production.

    .venv/bin/python bench/zendesk_import.py --database-url postgresql+psycopg://postgres@127.0.0.1:5443/bench
    .venv/bin/python bench/zendesk_import.py --tickets 5000  # a quick check on SQLite
    .venv/bin/python bench/zendesk_import.py --tickets 3000 --baseline page \
        --database-url postgresql+psycopg://postgres@127.0.0.1:5461/bench \
        --baseline-database-url postgresql+psycopg://postgres@127.0.0.1:5461/bench_baseline

With --baseline (and --baseline-database-url, a second throwaway database, for
PostgreSQL) the same tickets are also imported an earlier way, interleaved page by page
with ``import_from_source`` (one incremental run per page as Zendesk hands the pages out),
so both rates come from the same minutes on the same machine, whatever else it is doing:

- ``--baseline page``: the version before reading ahead (one transaction per page, the
  page's texts encoded first on the storing thread, a flush per ticket, each filing's
  person looked up);
- ``--baseline`` or ``--baseline ticket``: two versions back (one transaction per ticket:
  each ticket looked up, its person made in a savepoint, the similarity copy refreshed
  from the database before each placement).

--texts distinct gives every ticket words of its own, so every one is encoded by the model
(a real desk); by default 180 texts repeat and the figure is the core without the model.

Measured on the shared 2-core machine (other agents at work), PostgreSQL 15, hybrid
backend; see docs/imports.md ("Throughput") for the table and where the time goes:

- 3,000 tickets, repeated texts, --baseline page: 120.9 tickets/s (0.73 x the ceiling) vs
  65.3, pages in turn: 1.85 x the version before (2.0 x before the index's own speed-up).
- alone, repeated texts: 10,000 tickets 201.0 tickets/s = 1.21 x the ceiling; 30,000
  205.5 = 1.23 x; 100,000 207.5 = 1.25 x (482 s; load 1-2).
- --texts distinct (every ticket encoded by the models, about 6.3 ms of CPU a text): with the
  encoding in worker processes (app/grouping/encoding.py) and MiniLM's graph rewritten,
  100,000 tickets at 177.2, 170.0 and 170.2 tickets/s = 1.06, 1.02 and 1.02 x the ceiling in
  three runs on the quiet machine, bound by its two cores (docs/imports.md).

Nothing leaves the machine: the server listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

EXPORT = "/api/v2/incremental/tickets/cursor.json"
START_EPOCH = 1704067200  # 2024-01-01
SUBJECTS = ["Card reader rejects contactless payments", "Booking page times out on step 3",
            "Phone line hangs up after the menu", "Invoice shows the wrong address",
            "Lift to platform 2 out of order", "Website login loops back to the start"]


PLACES = ["the north gate", "platform 2", "the main library", "the east car park", "the town hall",
          "the swimming pool", "the market square", "the clinic", "the museum shop", "the bus station",
          "the harbour office", "the sports centre", "the college", "the old bridge kiosk", "the airport desk"]
MOODS = ["again today; I tried twice and asked at the desk.", "since Monday, every single time.",
         "this morning, and the staff could not help.", "for the third week now.",
         "whenever it rains, it seems.", "and my neighbour has the same trouble."]


# With --texts distinct every ticket's words differ (as in a real desk), so each one is
# encoded; by default 180 texts repeat and the model's work is remembered after page one.
DEVICES = ["on my phone", "on the laptop", "with the tablet", "at the kiosk", "by the ticket machine",
           "on the old card", "with the new card", "from home", "at work", "with my partner's account",
           "on the second try"]
WHEN = ["before breakfast", "late at night", "around lunchtime", "on the weekend", "after the update",
        "during the storm", "on a busy day", "when it was quiet", "just after opening", "near closing time",
        "in the school holidays", "on a bank holiday", "at rush hour"]
WHO = ["My daughter", "A colleague", "The man behind me", "My neighbour", "An old friend", "The driver",
       "A nurse", "The cleaner", "My brother", "A student", "The shop assistant", "A tourist", "My aunt",
       "The caretaker", "Another customer", "A teacher", "The porter"]
SAID = ["said it happens to her too", "had the same thing", "told me to write to you",
        "thought it was the weather", "laughed and said it is always like this", "was stuck as well",
        "gave up and left", "filmed it", "asked for the manager", "said it was fixed last year",
        "could not believe it", "called the helpline", "waited with me", "tried it twice",
        "complained at the desk", "wrote it down", "shrugged", "said nobody listens", "took a photo"]


def ticket_words(ticket_id: int, distinct: bool) -> str:
    words = (f"{SUBJECTS[ticket_id % len(SUBJECTS)]} at {PLACES[ticket_id % len(PLACES)]} "
             f"{MOODS[(ticket_id // 7) % len(MOODS)]}")
    if distinct:  # 6 x 15 x 11 x 13 x 17 x 19 combinations by the ticket number: distinct up to 1.4 million
        words += (f" It happened {DEVICES[ticket_id % 11]} {WHEN[ticket_id % 13]}. "
                  f"{WHO[ticket_id % 17]} {SAID[ticket_id % 19]}.")
    return words


class FakeExport:
    """Pages of generated tickets: page n is asked for with ``cursor=p<n>`` (page 0 with start_time)."""

    def __init__(self, tickets: int, page_size: int, distinct: bool = False):
        self.distinct = distinct
        self.tickets = tickets
        self.page_size = page_size
        self.pages = math.ceil(tickets / page_size)
        self.available = self.pages  # pages Zendesk has so far (--baseline hands them out one by one)
        self.requests = 0

    def page(self, number: int) -> bytes:
        first = number * self.page_size + 1
        last = min(self.tickets, first + self.page_size - 1)
        tickets, users = [], {}
        for ticket_id in range(first, last + 1):
            requester = 1_000_000 + ticket_id % 20_000
            users[requester] = {"id": requester, "name": f"Customer {requester}",
                                "email": f"customer{requester}@example.net", "role": "end-user"}
            stamp = START_EPOCH + ticket_id * 30
            when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))
            tickets.append({
                "url": f"https://bench.zendesk.com/api/v2/tickets/{ticket_id}.json",
                "id": ticket_id,
                "via": {"channel": "web", "source": {"from": {}, "to": {}, "rel": None}},
                "created_at": when, "updated_at": when,
                "subject": SUBJECTS[ticket_id % len(SUBJECTS)],
                "raw_subject": SUBJECTS[ticket_id % len(SUBJECTS)],
                "description": ticket_words(ticket_id, self.distinct),
                "status": "open", "requester_id": requester, "submitter_id": requester,
                "tags": [], "followup_ids": [], "generated_timestamp": stamp,
            })
        end = number >= self.pages - 1
        after = f"p{number + 1}"
        return json.dumps({"tickets": tickets, "users": list(users.values()),
                           "after_url": f"https://bench.zendesk.com{EXPORT}?cursor={after}",
                           "after_cursor": after, "before_url": None, "before_cursor": None,
                           "end_of_stream": end}).encode()

    def handler(self):
        export = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                export.requests += 1
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                if parts.path != EXPORT:
                    return self._send(404, b'{"error":"RecordNotFound"}')
                if "cursor" in query:
                    number = int(query["cursor"][0].lstrip("p"))
                else:
                    number = 0
                if number >= min(export.pages, export.available):  # after the end: nothing new (yet)
                    body = json.dumps({"tickets": [], "users": [], "after_cursor": f"p{number}",
                                       "end_of_stream": True}).encode()
                else:
                    body = export.page(number)
                self._send(200, body)

            def _send(self, status: int, body: bytes):
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        return Handler


def ticket_by_ticket(source, settings, number: int) -> int:
    """Page ``number`` the way the previous version stored it: a transaction per ticket, each
    ticket looked up and its person made on its own, the similarity copy read before each."""
    from contextlib import closing

    from app.extensions import db
    from app.grouping import similarity_index
    from app.imports.importer import ImportResult, store_ticket, ticket_text

    result = ImportResult(source="zendesk")
    with closing(source.fetch(settings, f"cursor:p{number}" if number else None)) as pages:
        page = next(pages)
        similarity_index().prime([ticket_text(t) for t in page.tickets])
        for ticket in page.tickets:
            store_ticket("zendesk", ticket, result, created_here=set())
            db.session.commit()
    return result.created


def page_by_page(source, settings, number: int) -> int:
    """Page ``number`` the way the version before reading ahead stored it: one transaction
    per page, the page's texts encoded first on the same thread, then a flush per ticket
    (each report's id from its insert) and each filing's person looked up."""
    from contextlib import closing

    from app.extensions import db
    from app.grouping import similarity_index
    from app.imports.importer import ImportResult, _known_reports, _make_people, store_ticket, ticket_text
    from app.services.telling import PEOPLE_MADE

    result = ImportResult(source="zendesk")
    index = similarity_index()
    with closing(source.fetch(settings, f"cursor:p{number}" if number else None)) as pages:
        page = next(pages)
        with index.batch():
            index.prime([ticket_text(t) for t in page.tickets])
            known = _known_reports("zendesk", page.tickets)
            _make_people(page.tickets)
            db.session.info.pop(PEOPLE_MADE, None)
            for ticket in page.tickets:
                store_ticket("zendesk", ticket, result, created_here=set(), known=known)
            db.session.commit()
    return result.created


LOOPS = {"ticket": ticket_by_ticket, "page": page_by_page}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--per-minute", type=int, default=10, help="Zendesk's export limit (pages a minute)")
    parser.add_argument("--texts", choices=("repeated", "distinct"), default="repeated",
                        help="repeated: 180 texts in turn (the model's work is remembered after the first "
                             "page); distinct: every ticket's words differ, as in a real desk")
    parser.add_argument("--database-url", default=None,
                        help="a throwaway PostgreSQL database (emptied first); default: a temporary SQLite file")
    parser.add_argument("--baseline", nargs="?", const="ticket", choices=sorted(LOOPS),
                        help="also import the same pages an earlier way, page by page in turn: 'ticket' "
                             "(the default: a transaction per ticket, two versions back) or 'page' (a "
                             "transaction per page, a flush per ticket, no reading ahead: the version before)")
    parser.add_argument("--baseline-database-url", default=None,
                        help="with --baseline on PostgreSQL: a second throwaway database for the previous loop")
    args = parser.parse_args()

    import sqlalchemy as sa
    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db
    from app.grouping import similarity_index
    from app.imports.importer import import_from_source
    from app.models import Problem, Report
    from app.plugins.manager import source_settings, ticket_sources

    export = FakeExport(args.tickets, args.page_size, distinct=args.texts == "distinct")
    server = ThreadingHTTPServer(("127.0.0.1", 0), export.handler())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"

    def make_app(database: str):
        return create_app({
            "SQLALCHEMY_DATABASE_URI": database,
            "SECRET_KEY": "bench",
            "CARELOOP_PLUGINS": ["zendesk"],
            "CARELOOP_ZENDESK_URL": url,
            "CARELOOP_ZENDESK_EMAIL": "bench@example.org",
            "CARELOOP_ZENDESK_TOKEN": "bench-token",
            "CARELOOP_ZENDESK_OAUTH_TOKEN": "",
            "CARELOOP_ZENDESK_START": str(START_EPOCH),
            "CARELOOP_ZENDESK_REQUESTS_PER_MINUTE": "0",
        })

    def empty_database(app) -> None:
        with app.app_context():
            meta = sa.MetaData()
            meta.reflect(bind=db.engine)
            meta.drop_all(bind=db.engine)
            upgrade()
            similarity_index().forget()
            db.session.remove()

    with tempfile.TemporaryDirectory() as tmp:
        database = args.database_url or f"sqlite:///{Path(tmp) / 'bench.sqlite'}"
        app = make_app(database)
        empty_database(app)
        base_app = None
        if args.baseline:
            if args.database_url and not args.baseline_database_url:
                parser.error("--baseline with --database-url needs --baseline-database-url (a second database)")
            base_app = make_app(args.baseline_database_url or f"sqlite:///{Path(tmp) / 'baseline.sqlite'}")
            empty_database(base_app)
        with app.app_context():
            backend = app.config.get("CARELOOP_GROUPING_BACKEND", "minilm")
            # Baseline in the same run: the plugin alone (HTTP + JSON + mapping, no database).
            source = ticket_sources()["zendesk"]
            settings = source_settings(source)
            started = time.perf_counter()
            fetched = sum(len(page.tickets) for page in source.fetch(settings, None))
            fetch_seconds = time.perf_counter() - started

        # Through the whole core: each ticket placed by the grouping engine as if filed
        # alone after the ones before it, each page committed with its cursor. With
        # --baseline, Zendesk "has" one more page at a time and each way imports it in turn.
        steps = [export.pages] if base_app is None else range(1, export.pages + 1)
        import_seconds, base_seconds, base_created, created, errors, failure = 0.0, 0.0, 0, 0, 0, None
        for available in steps:
            export.available = available
            if base_app is not None:
                with base_app.app_context():
                    started = time.perf_counter()
                    base_created += LOOPS[args.baseline](source, settings, available - 1)
                    base_seconds += time.perf_counter() - started
                    db.session.remove()
            with app.app_context():
                started = time.perf_counter()
                result = import_from_source("zendesk")
                import_seconds += time.perf_counter() - started
                created, errors = created + result.created, errors + result.errors
                failure = failure or result.error_message
                db.session.remove()
        with app.app_context():
            stored = db.session.scalar(db.select(db.func.count(Report.id)))
            problems = db.session.scalar(db.select(db.func.count(Problem.id)))
            dialect = db.engine.dialect.name
            db.session.remove()
            db.engine.dispose()
        if base_app is not None:
            with base_app.app_context():
                base_stored = db.session.scalar(db.select(db.func.count(Report.id)))
                db.session.remove()
                db.engine.dispose()
    server.shutdown()

    ceiling = args.per_minute * args.page_size / 60  # tickets a second Zendesk lets an export read
    rate = created / import_seconds if import_seconds else 0.0
    print(f"tickets: {args.tickets:,} in {export.pages:,} pages of {args.page_size:,}; database: {dialect}; "
          f"grouping backend: {backend}; texts: {args.texts}")
    print(f"Zendesk's ceiling: {args.per_minute} pages of {args.page_size:,} a minute = {ceiling:,.0f} tickets/s")
    print(f"plugin only (HTTP + mapping, no database): {fetched:,} tickets in {fetch_seconds:.1f} s "
          f"= {fetched / fetch_seconds:,.0f} tickets/s = {fetched / fetch_seconds / ceiling:.2f} x the ceiling")
    print(f"through the core with grouping: {created:,} created, {errors} errors, {stored:,} reports "
          f"in {problems:,} problems, {import_seconds:.1f} s = {rate:,.1f} tickets/s = "
          f"{rate / ceiling:.2f} x Zendesk's ceiling")
    if base_app is not None:
        before = base_created / base_seconds if base_seconds else 0.0
        loop = {"ticket": "a transaction per ticket", "page": "a flush per ticket, no reading ahead"}[args.baseline]
        print(f"earlier loop ({loop}), pages in turn: {base_created:,} created "
              f"({base_stored:,} stored) in {base_seconds:.1f} s = {before:,.1f} tickets/s = "
              f"{before / ceiling:.2f} x Zendesk's ceiling")
        if before:
            print(f"now {rate / before:.2f} x as fast as that earlier loop, measured page by page in turn")
    if failure:
        print(f"import error: {failure}")
        return 1
    return 0 if stored == args.tickets else 1


if __name__ == "__main__":
    raise SystemExit(main())
