"""How the grouping engine scales: suggestions, ingest and memory at 10k, 100k, 1M reports.

    .venv/bin/python bench/grouping_scale.py --sizes 10000,100000,1000000
    .venv/bin/python bench/grouping_scale.py --sizes 10000,100000,1000000 \
        --database-url postgresql+psycopg://postgres@127.0.0.1:5433/careloop_grouping --reset

The database is built by the migrations (a temporary SQLite file by default; ``--reset``
drops every table of the given database first, so point it only at a scratch database).
It is filled up to each size in turn with generated reports, problems and reporters, and
their vectors. Encoding a million texts with MiniLM would take hours on two cores, so the
stored vectors are real MiniLM vectors of a pool of generated texts, each report's vector
its topic's vector plus noise (cosine about 0.9 within a problem), packed exactly as the
engine stores them. Everything timed uses the real model and the real code:

- ``load_s``: a new process's first search loads the index from the database;
- ``suggest_ms_p50/p95``: ``similar_problems(text, limit=5)`` for new texts (encode, the
  refresh query and the search); ``suggest_open_ms_p95`` restricted to half the problems;
- ``ingest_per_s``: the engine alone: stored reports indexed one by one, a commit each
  (encode, write the vector and the change, commit); ``ingest_batch_per_s`` the same in
  pages of 100, as ``grouping-reindex`` and an import page do; ``ingest_2proc_per_s`` and
  ``ingest_batch_2proc_per_s`` the same in two processes at once (two workers, two cores);
- ``filing_per_s``: the whole filing service (``file_report``: the grouping decision,
  reporter, problem, report, audit events, vector), a commit per report as the web form
  files; ``filing_2proc_per_s`` two processes doing that at once; ``filing_pages_per_s``
  pages of 100 with the page's texts encoded together first and a commit per page, as an
  import stores a page of tickets (``filing_pages_2proc_per_s`` in two processes). After
  each two-process run the main process checks that it sees every report they indexed;
- ``rss_mb``: the process's resident memory after the measurements (model, index, Python);
  ``index_mb`` what loading the index added.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import secrets
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import sqlalchemy as sa

THINGS = ["card reader", "parking barrier", "lift", "website login", "phone line", "invoice", "refund",
          "delivery van", "ticket machine", "self checkout", "coffee machine", "booking form", "mobile app",
          "loyalty card", "door entry system", "printer", "wifi", "appointment reminder", "hearing loop",
          "baby changing room", "ramp", "chat window", "password reset", "direct debit", "statement",
          "contactless payment", "queue system", "out of hours line", "car park lights", "toilet lock"]
FAULTS = ["keeps rejecting", "does not work", "is broken", "freezes", "charges twice", "is far too slow",
          "sends the wrong amount", "never arrives", "shows an error", "was switched off", "times out",
          "cannot be reached", "is out of order again", "asks for a code that never comes", "crashed"]
PLACES = ["at the front desk", "in the north branch", "on the second floor", "on the website", "in the app",
          "at the main entrance", "in the car park", "at the station", "by the lifts", "at reception"]
WHEN = ["every morning", "since last week", "at weekends", "after 6pm", "this month", "again today",
        "for the third time", "whenever it rains", "since the update", "most days"]
EXTRA = ["please fix it", "this is the second time", "my mother could not get in", "nobody answered",
         "I had to leave", "staff were kind but could not help", "it cost me a taxi", "very frustrating"]


def generated_text(rng: random.Random, topic: int | None = None) -> str:
    if topic is not None:
        local = random.Random(topic)
        thing, fault, place = local.choice(THINGS), local.choice(FAULTS), local.choice(PLACES)
    else:
        thing, fault, place = rng.choice(THINGS), rng.choice(FAULTS), rng.choice(PLACES)
    text = f"The {thing} {place} {fault} {rng.choice(WHEN)}"
    if rng.random() < 0.6:
        text += f", {rng.choice(EXTRA)}"
    return text + "."


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def packed(vectors: np.ndarray) -> list[bytes]:
    scale = np.abs(vectors).max(axis=1) / 127.0
    q = np.round(vectors / scale[:, None]).astype(np.int8)
    tail = scale.astype("<f4")
    return [q[i].tobytes() + tail[i].tobytes() for i in range(len(q))]


def fill(app, target: int, pool: np.ndarray, pool_texts: list[str], rng: random.Random, batch: int = 20_000) -> None:
    """Add generated problems, reporters, reports and vectors until there are ``target`` reports."""
    from app.extensions import db
    from app.models import Problem, Report, Reporter, utcnow
    from app.models.grouping import SimilarityVector

    backend_model = app.extensions["careloop.similarity_index"].backend.model
    nrng = np.random.default_rng(rng.randrange(2**32))
    have = db.session.scalar(sa.select(sa.func.count(Report.id))) or 0
    next_report = (db.session.scalar(sa.select(sa.func.max(Report.id))) or 0) + 1
    next_problem = (db.session.scalar(sa.select(sa.func.max(Problem.id))) or 0) + 1
    next_reporter = (db.session.scalar(sa.select(sa.func.max(Reporter.id))) or 0) + 1
    now = utcnow()
    while have < target:
        n = min(batch, target - have)
        problems, reporters, reports, vectors = [], [], [], []
        topics = []
        while len(topics) < n:  # problems of 1 to 15 reports
            size = min(rng.randint(1, 15), n - len(topics))
            topic = rng.randrange(len(pool))
            problems.append({"id": next_problem, "title": pool_texts[topic][:80], "status": "new",
                             "created_at": now, "updated_at": now})
            topics += [(next_problem, topic)] * size
            next_problem += 1
        for i, (problem_id, topic) in enumerate(topics):
            if i % 4 == 0:
                reporters.append({"id": next_reporter, "kind": "customer", "contact_ok": False,
                                  "token": secrets.token_urlsafe(24), "created_at": now})
                next_reporter += 1
            reports.append({"id": next_report + i, "text": pool_texts[topic], "channel": "web",
                            "created_at": now, "problem_id": problem_id, "reporter_id": next_reporter - 1})
        raw = pool[[t for _, t in topics]] + nrng.normal(0, 0.5 / np.sqrt(pool.shape[1]), (n, pool.shape[1]))
        raw /= np.linalg.norm(raw, axis=1, keepdims=True)
        blobs = packed(raw.astype(np.float32))
        vectors = [{"report_id": next_report + i, "problem_id": topics[i][0], "model": backend_model,
                    "vector": blobs[i], "marks": 0} for i in range(n)]
        db.session.execute(sa.insert(Problem), problems)
        db.session.execute(sa.insert(Reporter), reporters)
        db.session.execute(sa.insert(Report), reports)
        db.session.execute(sa.insert(SimilarityVector), vectors)
        db.session.commit()
        next_report += n
        have += n
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as conn:  # explicit ids were used: move the sequences past them
            for table in ("problems", "reporters", "reports"):
                conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                     f"(SELECT max(id) FROM {table}))"))
            conn.execute(sa.text("ANALYZE"))


def file_reports(rng: random.Random, count: int, page: int = 1) -> None:
    """``file_report`` for ``count`` new reports, a commit per report (``page`` 1, as the web
    form files) or per page with the page's texts encoded together first (as an import does)."""
    from app import services
    from app.extensions import db
    from app.grouping import similarity_index

    for start in range(0, count, page):
        texts = [generated_text(rng) + f" Ref {rng.randrange(10**6)}." for _ in range(min(page, count - start))]
        if page > 1:
            similarity_index().prime(texts)
        for text in texts:
            services.file_report(text=text, reporter=services.new_reporter(name=None))
            if page == 1:
                db.session.commit()
        db.session.commit()


def _work_in_process(url: str, mode: str, count: int, seed: int, barrier) -> float:
    """Another app process (as a second gunicorn worker would be) ingesting ``count`` reports:
    ``engine`` indexes stored reports one per commit, ``engine_pages`` a page of 100 per commit;
    ``filing``/``pages`` run ``file_reports``."""
    from app import create_app
    from app.extensions import db
    from app.grouping import similarity_index

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "CARELOOP_BASE_URL": "http://bench.invalid"})
    rng = random.Random(seed)
    with app.app_context():
        index = similarity_index()
        index.backend.encode(["warm up"])
        index.refresh()  # a worker that has been running: its copy is loaded already
        items = new_reports(count, rng) if mode.startswith("engine") else []
        barrier.wait()  # both workers start together
        began = time.perf_counter()
        if mode == "engine":
            for report_id, problem_id, text in items:
                index.index_report(report_id, problem_id, text)
                db.session.commit()
        elif mode == "engine_pages":
            for start in range(0, len(items), 100):
                index.index_reports(items[start:start + 100])
                db.session.commit()
        else:
            file_reports(rng, count, page=100 if mode == "pages" else 1)
        elapsed = time.perf_counter() - began
        db.session.remove()
        db.engine.dispose()
    return elapsed


def in_two_processes(url: str, mode: str, count: int, seed: int) -> float:
    """Reports per second ingested by two processes at once (one per core)."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, context.Pool(2) as pool:
        barrier = manager.Barrier(2)
        elapsed = pool.starmap(_work_in_process, [(url, mode, count, seed, barrier),
                                                  (url, mode, count, seed + 1, barrier)])
        return 2 * count / max(elapsed)


def new_reports(count: int, rng: random.Random) -> list[tuple[int, int, str]]:
    """Store ``count`` reports (each its own problem) without indexing them, for timing the index."""
    from app.extensions import db
    from app.models import Problem, Report, Reporter, utcnow

    now = utcnow()
    texts = [generated_text(rng) + f" Ref {rng.randrange(10**6)}." for _ in range(count)]
    problem_ids = [db.session.execute(sa.insert(Problem).values(title=t[:80], status="new", created_at=now,
                                                                updated_at=now).returning(Problem.id)).scalar_one()
                   for t in texts]
    reporter_id = db.session.execute(sa.insert(Reporter).values(kind="customer", contact_ok=False,
                                                                token=secrets.token_urlsafe(24), created_at=now)
                                     .returning(Reporter.id)).scalar_one()
    report_ids = [db.session.execute(sa.insert(Report).values(text=t, channel="web", created_at=now, problem_id=p,
                                                              reporter_id=reporter_id).returning(Report.id)).scalar_one()
                  for t, p in zip(texts, problem_ids)]
    db.session.commit()
    return list(zip(report_ids, problem_ids, texts))


def measure(app, size: int, rng: random.Random, queries: int, ingest: int) -> dict:
    from app.extensions import db
    from app.grouping import INDEX, DatabaseIndex
    from app.models import Problem

    old = app.extensions.pop(INDEX)
    backend = old.backend
    del old
    gc.collect()
    before = rss_mb()
    index = DatabaseIndex(app, backend)
    app.extensions[INDEX] = index
    began = time.perf_counter()
    index.refresh()
    load_s = time.perf_counter() - began
    index_mb = rss_mb() - before

    texts = [generated_text(rng) + f" (ref {rng.randrange(10**6)})" for _ in range(queries)]
    timings = []
    for text in texts:
        began = time.perf_counter()
        index.similar_problems(text, limit=5)
        timings.append((time.perf_counter() - began) * 1000)
    problem_ids = [pid for pid in db.session.scalars(sa.select(Problem.id)) if pid % 2 == 0]
    open_timings = []
    for text in texts[: queries // 2]:
        text = text + " again"
        began = time.perf_counter()
        index.similar_problems(text, limit=5, problem_ids=problem_ids)
        open_timings.append((time.perf_counter() - began) * 1000)

    # The engine alone: reports already stored, indexed one per commit, then in pages of 100.
    items = new_reports(ingest, rng)
    began = time.perf_counter()
    for report_id, problem_id, text in items:
        index.index_report(report_id, problem_id, text)
        db.session.commit()
    ingest_rate = ingest / (time.perf_counter() - began)
    items = new_reports(ingest, rng)
    began = time.perf_counter()
    for start in range(0, len(items), 100):
        index.index_reports(items[start:start + 100])
        db.session.commit()
    batch_rate = ingest / (time.perf_counter() - began)

    # The filing service: one report per commit (the web form), then pages (an import).
    began = time.perf_counter()
    file_reports(rng, ingest)
    filing_rate = ingest / (time.perf_counter() - began)
    began = time.perf_counter()
    file_reports(rng, ingest, page=100)
    pages_rate = ingest / (time.perf_counter() - began)

    url = str(db.engine.url.render_as_string(hide_password=False))
    two = {}
    for mode in ("engine", "engine_pages", "filing", "pages"):
        before = index.size()
        two[mode] = in_two_processes(url, mode, ingest, size + len(two))
        index.refresh()
        assert index.size() == before + 2 * ingest  # this process sees what the other two wrote
    return {
        "reports": size,
        "load_s": round(load_s, 2),
        "suggest_ms_p50": round(float(np.percentile(timings, 50)), 2),
        "suggest_ms_p95": round(float(np.percentile(timings, 95)), 2),
        "suggest_open_ms_p95": round(float(np.percentile(open_timings, 95)), 2),
        "ingest_per_s": round(ingest_rate, 1),
        "ingest_batch_per_s": round(batch_rate, 1),
        "ingest_2proc_per_s": round(two["engine"], 1),
        "ingest_batch_2proc_per_s": round(two["engine_pages"], 1),
        "filing_per_s": round(filing_rate, 1),
        "filing_2proc_per_s": round(two["filing"], 1),
        "filing_pages_per_s": round(pages_rate, 1),
        "filing_pages_2proc_per_s": round(two["pages"], 1),
        "index_mb": round(index_mb, 1),
        "rss_mb": round(rss_mb(), 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--database-url")
    parser.add_argument("--reset", action="store_true", help="drop every table of --database-url first")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--ingest", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))

    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db
    from app.grouping import similarity_index

    folder = Path(tempfile.mkdtemp(prefix="careloop-grouping-bench-"))
    url = args.database_url or f"sqlite:///{folder / 'bench.sqlite'}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "CARELOOP_BASE_URL": "http://bench.invalid"})
    rng = random.Random(args.seed)
    results = []
    with app.app_context():
        tables = sa.inspect(db.engine).get_table_names()
        if tables and not args.reset:
            raise SystemExit("That database has tables; pass --reset to drop them (scratch databases only).")
        if tables:
            meta = sa.MetaData()
            meta.reflect(bind=db.engine)
            meta.drop_all(bind=db.engine)
        upgrade()
        index = similarity_index()
        began = time.perf_counter()
        pool_texts = [generated_text(rng, topic=t) for t in range(3000)]
        pool = index.backend.encode(pool_texts)
        print(f"# {url.split('@')[-1]}: encoded a pool of {len(pool)} texts in {time.perf_counter() - began:.0f} s",
              flush=True)
        for size in sizes:
            began = time.perf_counter()
            fill(app, size, pool, pool_texts, rng)
            print(f"# filled to {size} reports in {time.perf_counter() - began:.0f} s", flush=True)
            result = measure(app, size, rng, args.queries, args.ingest)
            result["database"] = db.engine.dialect.name
            results.append(result)
            print(json.dumps(result), flush=True)
        db.session.remove()
        db.engine.dispose()
    shutil.rmtree(folder, ignore_errors=True)
    print("# reports  load_s  suggest p50/p95 ms  open p95  engine/s (one, pages, one x2, pages x2)"
          "  filing/s (one, one x2, pages, pages x2)  index MB  RSS MB  peak MB")
    for r in results:
        print(f"# {r['reports']:>8}  {r['load_s']:>6}  {r['suggest_ms_p50']:>7}/{r['suggest_ms_p95']:<7}  "
              f"{r['suggest_open_ms_p95']:>8}  {r['ingest_per_s']:>6} {r['ingest_batch_per_s']:>6} "
              f"{r['ingest_2proc_per_s']:>6} {r['ingest_batch_2proc_per_s']:>6}  {r['filing_per_s']:>6} {r['filing_2proc_per_s']:>6} "
              f"{r['filing_pages_per_s']:>6} {r['filing_pages_2proc_per_s']:>6}  {r['index_mb']:>8}  "
              f"{r['rss_mb']:>6}  {r['peak_rss_mb']:>7}")


if __name__ == "__main__":
    main()
