"""Benchmark: the dashboard and the backlog's first page with 100,000 reports in 10,000 problems.

Builds a fresh database with the migrations, fills it with bulk inserts (owners, statuses,
handoffs and the other events, channels, due dates, messages in the outbox), then renders
the pages through Flask's test client as a signed-in leader and prints the median of
several runs, next to a bare page (base.html only, same process, same sign-in) for scale.

    .venv/bin/python bench/dashboard.py                      # SQLite in a temporary folder
    .venv/bin/python bench/dashboard.py --reports 20000 --problems 2000   # a quick check
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5433/careloop_bench \\
        .venv/bin/python bench/dashboard.py                  # SQLite, then that PostgreSQL

The PostgreSQL database named by DATABASE_URL is emptied and rebuilt: never point it at
data you want to keep. After loading, the tables are ANALYZEd (VACUUM ANALYZE on
PostgreSQL), as autovacuum would do on a live system.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_MS = 300
AREAS = ["Billing", "Website", "Phone line", "Branch visit", "Delivery", "Accessibility"]
SUBJECTS = ["Refund takes weeks", "Password reset email never arrives", "Phone line drops calls",
            "Ramp blocked by deliveries", "Parcel left in the rain", "Letters sent to an old address",
            "Booking page times out", "Card reader rejects contactless", "Lift out of order",
            "Invoice shows the wrong amount"]
WORDS = ("waited again today and nobody could tell me when it would be sorted; I have called three times "
         "and was told to wait another week").split()
CHANNELS = [("web", 50), ("staff", 25), ("zendesk", 15), ("jira", 5), ("api", 5)]


def _weighted(rng: random.Random, pairs):
    values, weights = zip(*pairs)
    return rng.choices(values, weights)[0]


class Generator:
    """Rows for every table, as plain dicts, with explicit ids (no RETURNING round trips)."""

    def __init__(self, problems: int, reports: int, now: datetime, seed: int = 6):
        self.rng = random.Random(seed)
        self.now = now
        self.n_problems = problems
        self.n_reports = reports
        self.users: list[dict] = []
        self.reporters: list[dict] = []
        self.problems: list[dict] = []
        self.reports: list[dict] = []
        self.events: list[dict] = []
        self.messages: list[dict] = []
        self.comments: list[dict] = []

    def event(self, verb, at, problem_id=None, actor_id=None, report_id=None, subject_user_id=None, **details):
        self.events.append(dict(id=len(self.events) + 1, verb=verb, created_at=at, problem_id=problem_id,
                                actor_id=actor_id, report_id=report_id, subject_user_id=subject_user_id,
                                details=details))
        return len(self.events)

    def build(self, password_hash: str) -> None:
        rng, now = self.rng, self.now
        start = now - timedelta(days=730)
        for i in range(1, 51):
            role = "admin" if i == 1 else "leader" if i <= 31 else "staff"
            self.users.append(dict(id=i, name=f"{role.title()} {i:02d}", email=f"{role}{i}@bench.example",
                                   password_hash=password_hash, role=role, active=i not in (29, 30),
                                   created_at=start))
        leaders = [u["id"] for u in self.users if u["role"] in ("leader", "admin") and u["active"]]
        staff = [u["id"] for u in self.users if u["role"] == "staff"]
        n_reporters = int(self.n_reports * 0.7)
        for i in range(1, n_reporters + 1):
            has_email = rng.random() < 0.7
            self.reporters.append(dict(id=i, display_name=f"Person {i}", email=f"p{i}@bench.example" if has_email else None,
                                       kind="customer", contact_ok=has_email, token=f"bench-{i:08d}",
                                       user_id=None, created_at=start, unsubscribed_at=None))
        # Reports per problem: a long tail (a few problems affect many people), at least one each.
        weights = [rng.paretovariate(1.3) for _ in range(self.n_problems)]
        scale = (self.n_reports - self.n_problems) / sum(weights)
        counts = [1 + int(w * scale) for w in weights]
        for i in range(self.n_reports - sum(counts)):
            counts[i % self.n_problems] += 1
        report_id = 0
        for pid in range(1, self.n_problems + 1):
            created = start + timedelta(seconds=rng.uniform(0, 730 * 86400))
            area = rng.choice(AREAS)
            age = (now - created).days
            status = _weighted(rng, [("new", 8), ("owned", 12), ("in_progress", 12), ("changed", 50), ("declined", 18)]
                               if age > 60 else [("new", 30), ("owned", 35), ("in_progress", 25), ("changed", 10)])
            problem = dict(id=pid, title=f"{rng.choice(SUBJECTS)} ({area}, #{pid})", area=area, owner_id=None,
                           status=status, due_on=None, created_at=created, updated_at=created, change_what=None,
                           change_since=None, change_evidence_url=None, changed_at=None, decline_reason=None,
                           public_title=None, public_summary=None, published_at=None)
            self.problems.append(problem)
            self.event("problem_created", created, pid, title=problem["title"])
            people = set()
            for k in range(counts[pid - 1]):
                report_id += 1
                at = created if k == 0 else min(created + timedelta(days=rng.expovariate(1 / 30)), now)
                channel = _weighted(rng, CHANNELS)
                reporter = rng.randint(1, n_reporters)
                people.add(reporter)
                imported = channel in ("zendesk", "jira")  # an import: channel "import", the source its name
                filed_by = rng.choice(staff) if channel == "staff" else None
                self.reports.append(dict(
                    id=report_id, text=f"{problem['title']}: " + " ".join(rng.sample(WORDS, 12)),
                    location=area, occurred_on=None, impact=None, channel="import" if imported else channel,
                    source=channel if imported else None, external_id=str(report_id) if imported else None,
                    external_url=None, external_updated_at=None, removed_at=None, created_at=at,
                    problem_id=pid, reporter_id=reporter, filed_by_id=filed_by))
                self.event("report_filed", at, pid, actor_id=filed_by, report_id=report_id,
                           **({"channel": "import", "source": channel} if imported else {"channel": channel}))
            self._workflow(problem, leaders, sorted(people))

    def _workflow(self, p: dict, leaders: list[int], people: list[int]) -> None:
        rng, now = self.rng, self.now
        if p["status"] == "new":
            return
        at = min(p["created_at"] + timedelta(days=rng.expovariate(1 / 6)), now - timedelta(minutes=5))
        owner = rng.choice(leaders)
        p["owner_id"] = owner
        taken = self.event("took_ownership", at, p["id"], actor_id=owner, subject_user_id=owner)
        self.event("status_changed", at, p["id"], actor_id=owner, before={"status": "new"}, after={"status": "owned"})
        self._tell(p, "owned", taken, at, people)
        handoffs = _weighted(rng, [(0, 70), (1, 17), (2, 8), (3, 3), (4, 1), (5, 1)])
        for _ in range(handoffs):
            at = min(at + timedelta(days=rng.expovariate(1 / 5)), now - timedelta(minutes=4))
            new_owner = rng.choice([u for u in leaders if u != owner])
            self.event("handed_over", at, p["id"], actor_id=owner, subject_user_id=new_owner,
                       before={"owner_id": owner}, after={"owner_id": new_owner}, reason="Better placed to fix it.")
            owner = new_owner
        p["owner_id"] = owner
        if p["status"] in ("in_progress", "changed", "declined") and rng.random() < 0.7:
            at = min(at + timedelta(days=rng.expovariate(1 / 7)), now - timedelta(minutes=3))
            self.event("status_changed", at, p["id"], actor_id=owner, before={"status": "owned"},
                       after={"status": "in_progress"})
        if p["status"] == "changed":
            at = min(at + timedelta(days=rng.expovariate(1 / 25)), now - timedelta(minutes=2))
            p.update(change_what="The process now works differently for everyone who reported it.",
                     change_since=at.date(), changed_at=at)
            self.event("change_recorded", at, p["id"], actor_id=owner, what=p["change_what"])
            if rng.random() < 0.85:
                at = min(at + timedelta(days=rng.expovariate(1 / 3)), now - timedelta(minutes=1))
                p.update(public_title=p["title"], public_summary="What changed, in plain words.", published_at=at)
                published = self.event("published", at, p["id"], actor_id=owner)
                self._tell(p, "changed", published, at, people)
        elif p["status"] == "declined":
            at = min(at + timedelta(days=rng.expovariate(1 / 20)), now - timedelta(minutes=1))
            p["decline_reason"] = "We looked at this carefully and cannot change it this year, because…"
            declined = self.event("declined", at, p["id"], actor_id=owner, reason=p["decline_reason"])
            self._tell(p, "declined", declined, at, people)
        elif rng.random() < 0.4:
            p["due_on"] = (now + timedelta(days=rng.randint(-45, 45))).date()
        if rng.random() < 0.3:
            at = min(at + timedelta(days=rng.expovariate(1 / 10)), now)
            self.comments.append(dict(id=len(self.comments) + 1, problem_id=p["id"], author_id=owner,
                                      text="Checked in on this.", created_at=at))
            self.event("commented", at, p["id"], actor_id=owner)
        if rng.random() < 0.05:
            self.event("still_happening", min(at + timedelta(days=3), now), p["id"], status=p["status"])
        p["updated_at"] = at

    def _tell(self, p: dict, kind: str, event_id: int, at: datetime, people: list[int]) -> None:
        rng = self.rng
        for reporter_id in people:
            reporter = self.reporters[reporter_id - 1]
            if not reporter["contact_ok"]:
                continue
            status = _weighted(rng, [("sent", 93), ("pending", 3), ("failed", 2), ("bounced", 2)])
            self.messages.append(dict(
                id=len(self.messages) + 1, kind=kind, status=status, problem_id=p["id"], reporter_id=reporter_id,
                user_id=None, event_id=event_id, report_ids=[], to_address=reporter["email"],
                subject=f"About problem #{p['id']}", body_text="(bench)", body_html=None, attempts=1,
                next_attempt_at=at, claimed_by=None, claimed_until=None, last_error=None,
                sent_at=at + timedelta(minutes=3) if status == "sent" else None, created_at=at))


def load(db, gen: Generator) -> float:
    from sqlalchemy import insert

    from app.models import Comment, Event, Message, Problem, Report, Reporter, User

    started = time.perf_counter()
    for model, rows in ((User, gen.users), (Reporter, gen.reporters), (Problem, gen.problems),
                        (Report, gen.reports), (Event, gen.events), (Message, gen.messages),
                        (Comment, gen.comments)):
        for i in range(0, len(rows), 20_000):
            db.session.execute(insert(model.__table__), rows[i:i + 20_000])
    db.session.commit()
    engine = db.engine
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            for table in ("users", "reporters", "problems", "reports", "events", "messages", "comments"):
                conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                     f"(SELECT coalesce(max(id), 1) FROM {table}))")
            conn.commit()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    return time.perf_counter() - started


def _drop_everything(engine) -> None:
    import sqlalchemy as sa

    meta = sa.MetaData()
    meta.reflect(bind=engine)
    meta.drop_all(bind=engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")


def run(url: str, args, label: str) -> dict:
    from flask import render_template_string
    from flask_login import login_required
    from flask_migrate import upgrade
    from sqlalchemy import event
    from werkzeug.security import generate_password_hash

    from app import create_app
    from app.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "WTF_CSRF_ENABLED": False,
                      "CARELOOP_PLUGINS": []})

    @login_required
    def bare():
        return render_template_string('{% extends "base.html" %}{% block content %}<h1>Bare</h1>{% endblock %}')

    app.add_url_rule("/bench/bare", "bench_bare", bare)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    with app.app_context():
        _drop_everything(db.engine)
        upgrade()
        gen = Generator(args.problems, args.reports, now)
        started = time.perf_counter()
        gen.build(generate_password_hash("bench-password"))
        build_s = time.perf_counter() - started
        load_s = load(db, gen)
        print(f"[{label}] generated {len(gen.reports):,} reports in {len(gen.problems):,} problems, "
              f"{len(gen.events):,} events, {len(gen.messages):,} messages in {build_s:.1f} s; "
              f"inserted in {load_s:.1f} s")
        open_problems = sum(p["status"] in ("new", "owned", "in_progress") for p in gen.problems)
        db.session.remove()

    queries = {"n": 0}

    def count(*_):
        queries["n"] += 1

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", count)
    client = app.test_client()
    response = client.post("/login", data={"email": "leader2@bench.example", "password": "bench-password"})
    assert response.status_code == 302, response.status_code

    pages = {"bare page (base.html)": "/bench/bare", "dashboard": "/dashboard", "backlog, first page": "/backlog"}
    if args.extra:
        pages.update({"backlog, by last action": "/backlog?sort=idle",
                      "backlog, search 'refund'": "/backlog?q=refund",
                      "backlog, overdue, by due date": "/backlog?due=overdue&sort=due"})
    results = {}
    for name, path in pages.items():
        for _ in range(2):  # warm up: first-request setup, template compilation, caches
            assert client.get(path).status_code == 200, path
        times = []
        for _ in range(args.runs):
            queries["n"] = 0
            started = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (path, response.status_code)
        results[name] = (statistics.median(times), min(times), max(times), queries["n"])
    bare_ms = results["bare page (base.html)"][0]
    print(f"[{label}] {open_problems:,} open problems; median of {args.runs} runs each:")
    for name, (median, low, high, n) in results.items():
        verdict = "" if name.startswith("bare") else (" ok" if median < TARGET_MS else f" OVER {TARGET_MS} ms")
        print(f"  {name:<32} {median:7.1f} ms  (min {low:.1f}, max {high:.1f}; {n} queries; "
              f"{median / bare_ms:5.1f}x the bare page){verdict}")
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=100_000)
    parser.add_argument("--problems", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--extra", action="store_true", help="also time some filtered and sorted backlog views")
    parser.add_argument("--postgres-only", action="store_true", help="skip SQLite (needs DATABASE_URL)")
    args = parser.parse_args()

    ok = True
    if not args.postgres_only:
        with tempfile.TemporaryDirectory() as tmp:
            results = run(f"sqlite:///{Path(tmp) / 'bench.sqlite'}", args, "SQLite")
            ok &= all(m < TARGET_MS for name, (m, *_) in results.items())
    url = os.environ.get("DATABASE_URL")
    if url:
        url = url.replace("postgres://", "postgresql+psycopg://", 1).replace("postgresql://", "postgresql+psycopg://", 1)
        results = run(url, args, "PostgreSQL")
        ok &= all(m < TARGET_MS for name, (m, *_) in results.items())
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
