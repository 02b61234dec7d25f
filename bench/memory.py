"""Memory of the web process at 100,000 reports, for 1, 2 and 4 gunicorn workers, before and
after loading the grouping model and the similarity index once in the master (preload).

    .venv/bin/python bench/memory.py                    # SQLite in a temporary folder
    .venv/bin/python bench/memory.py --reports 100000 --database-url postgresql+psycopg://…/scratch --reset

"before" is ``CARELOOP_WEB_PRELOAD=0`` (each worker imports the app and loads its own model and
index copy, as before this change); "after" is the default (loaded before fork, shared
copy-on-write). Both run the real gunicorn with ``app/gunicorn_conf.py`` in the same run.

Each worker is made to load the model and the index by ``/suggest`` requests until every worker
has answered some. Then, from /proc: RSS of each process (shared pages counted in every
process that maps them), and PSS (each shared page split between the processes sharing it), whose
sum is the memory the machine really spends. The cost of an extra worker is
(PSS total at 4 workers − PSS total at 1 worker) / 3.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed(url: str, reports: int, reset: bool) -> None:
    import numpy as np
    import sqlalchemy as sa
    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db
    from app.grouping import similarity_index
    from bench.grouping_scale import fill, generated_text

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "CARELOOP_PLUGINS": []})
    with app.app_context():
        if reset:
            meta = sa.MetaData()
            meta.reflect(bind=db.engine)
            meta.drop_all(bind=db.engine)
        upgrade()
        index = similarity_index(app)
        rng = random.Random(7)
        texts = [generated_text(rng, topic) for topic in range(400)]
        pool = index.backend.encode(texts).astype(np.float32)
        fill(app, reports, pool, texts, rng)
        # Public titles approved, so anonymous /suggest searches every open problem.
        db.session.execute(sa.text("UPDATE problems SET public_title = title"))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


def memory_of(pid: int) -> tuple[float, float]:
    """(RSS, PSS) in MB from /proc/<pid>/smaps_rollup."""
    rss = pss = 0
    with open(f"/proc/{pid}/smaps_rollup") as handle:
        for line in handle:
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    return rss / 1024, pss / 1024


def children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as handle:
        return [int(p) for p in handle.read().split()]


def run(url: str, workers: int, preload: bool, log: Path) -> dict:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "bench", "HF_HUB_OFFLINE": "1",
           "CARELOOP_WEB_BIND": f"127.0.0.1:{port}", "CARELOOP_WEB_WORKERS": str(workers),
           "CARELOOP_WEB_PRELOAD": "1" if preload else "0", "CARELOOP_WEB_TIMEOUT": "300",
           "CARELOOP_RATELIMIT_ENABLED": "0", "CARELOOP_PLUGINS": "", "CARELOOP_LOG_LEVEL": "warning",
           "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="careloop-bench-metrics-")}
    process = subprocess.Popen([str(BIN / "gunicorn"), "--config", "python:app.gunicorn_conf", "app.wsgi:app"],
                               env=env, cwd=tempfile.gettempdir(), stdout=log.open("w"),
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while True:
            assert process.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, "gunicorn did not start"
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        while len(children(process.pid)) < workers:
            time.sleep(0.2)
        pids = set(children(process.pid))
        served: dict[int, int] = {}
        session = requests.Session()
        # /suggest searches the index: it loads the model and the index in the worker that answers.
        from concurrent.futures import ThreadPoolExecutor

        def ask(n: int):
            answer = requests.get(f"http://127.0.0.1:{port}/suggest",
                                  params={"text": f"The lift at the north entrance is broken again {n}"}, timeout=300)
            answer.raise_for_status()

        rounds = 0
        while rounds < 40:
            with ThreadPoolExecutor(max_workers=workers * 2) as pool:
                list(pool.map(ask, range(rounds * workers * 4, (rounds + 1) * workers * 4)))
            rounds += 1
            loaded = [pid for pid in pids if memory_of(pid)[0] > 0]
            # Every worker has searched once its RSS includes the index: wait until all look alike.
            rss = sorted(memory_of(pid)[0] for pid in loaded)
            if rounds >= 5 and rss and rss[0] > 0.8 * rss[-1]:
                break
        del session, served
        master_rss, master_pss = memory_of(process.pid)
        worker_mem = [memory_of(pid) for pid in sorted(pids)]
        return {
            "mode": "after (preload)" if preload else "before (each worker loads)",
            "workers": workers,
            "master_rss_mb": round(master_rss),
            "worker_rss_mb": [round(r) for r, _ in worker_mem],
            "worker_pss_mb": [round(p) for _, p in worker_mem],
            "total_pss_mb": round(master_pss + sum(p for _, p in worker_mem)),
        }
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=100_000)
    parser.add_argument("--database-url")
    parser.add_argument("--reset", action="store_true", help="drop every table of --database-url first")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="careloop-memory-"))
    url = args.database_url or f"sqlite:///{folder / 'bench.sqlite'}"
    started = time.monotonic()
    seed(url, args.reports, args.reset or not args.database_url)
    print(f"seeded {args.reports:,} reports with vectors in {time.monotonic() - started:.0f} s", flush=True)
    results = []
    for preload in (False, True):
        for workers in (1, 2, 4):
            result = run(url, workers, preload, folder / f"gunicorn-{preload}-{workers}.log")
            results.append(result)
            print(json.dumps(result), flush=True)
    print(f"\n{'mode':<28} {'workers':>7} {'total PSS MB':>12} {'RSS per worker MB':>24} {'PSS per worker MB':>24}")
    for r in results:
        print(f"{r['mode']:<28} {r['workers']:>7} {r['total_pss_mb']:>12} {str(r['worker_rss_mb']):>24} "
              f"{str(r['worker_pss_mb']):>24}")
    for mode in ("before (each worker loads)", "after (preload)"):
        one, four = (next(r for r in results if r["mode"] == mode and r["workers"] == n) for n in (1, 4))
        print(f"{mode}: each extra worker costs {(four['total_pss_mb'] - one['total_pss_mb']) / 3:.0f} MB "
              f"(total PSS, 1 → 4 workers)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
