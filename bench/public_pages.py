"""Throughput of the public pages against the bare ``/healthz`` route, before and after the
render cache, in one run on the same machine (wrk on loopback, gunicorn with 2 workers).

    .venv/bin/python bench/public_pages.py                       # SQLite, demo data
    .venv/bin/python bench/public_pages.py --database-url postgresql+psycopg://…/scratch --rounds 5

"before" is ``CARELOOP_PAGE_CACHE_SIZE=0`` (every page rendered, no validators, as before this
change); "after" is the default. wrk sends no cookies, so every request to ``/`` is a first
visit: a new session, a new CSRF token and form time injected into the cached page. Targets:
``/changes`` ≥ 50 % and ``/`` ≥ 25 % of ``/healthz`` on the same run. The machine's two cores are
shared by wrk and gunicorn (and anything else running), so compare ratios, not absolutes.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PATHS = ["/healthz", "/changes", "/", "/changes.atom", "/changes/{id}"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wrk(url: str, seconds: int, connections: int) -> tuple[float, int]:
    done = subprocess.run([shutil.which("wrk") or "wrk", "-t2", f"-c{connections}", f"-d{seconds}s", url],
                          capture_output=True, text=True, timeout=seconds + 60)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", done.stdout).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", done.stdout)
    return rps, int(bad.group(1)) if bad else 0


def serve(env: dict, log: Path) -> subprocess.Popen:
    process = subprocess.Popen([str(BIN / "gunicorn"), "--config", "python:app.gunicorn_conf", "app.wsgi:app"],
                               env=env, cwd=tempfile.gettempdir(), stdout=log.open("w"), stderr=subprocess.STDOUT,
                               start_new_session=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-2000:]
        try:
            if requests.get(f"http://{env['CARELOOP_WEB_BIND']}/readyz", timeout=2).ok:
                return process
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError("gunicorn did not become ready")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url")
    parser.add_argument("--seconds", type=int, default=5, help="per wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    folder = Path(tempfile.mkdtemp(prefix="careloop-pages-"))
    url = args.database_url or f"sqlite:///{folder / 'bench.sqlite'}"
    base_env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "bench", "HF_HUB_OFFLINE": "1",
                "CARELOOP_WEB_WORKERS": "2", "CARELOOP_RATELIMIT_ENABLED": "0", "CARELOOP_LOG_LEVEL": "warning"}
    for command in (["db", "upgrade"], ["demo-data"]):
        subprocess.run([str(BIN / "careloop"), *command], env=base_env, check=True, capture_output=True, timeout=300)
    results: dict[str, dict[str, tuple[float, int]]] = {}
    for mode, size in (("before", "0"), ("after", "256")):
        port = free_port()
        env = {**base_env, "CARELOOP_PAGE_CACHE_SIZE": size, "CARELOOP_WEB_BIND": f"127.0.0.1:{port}",
               "CARELOOP_BASE_URL": f"http://127.0.0.1:{port}",
               "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="careloop-bench-metrics-")}
        process = serve(env, folder / f"gunicorn-{mode}.log")
        try:
            page = requests.get(f"http://127.0.0.1:{port}/changes", timeout=30).text
            change = re.search(r'href="/changes/(\d+)"', page).group(1)
            runs: dict[str, list[tuple[float, int]]] = {path: [] for path in PATHS}
            for path in PATHS:
                requests.get(f"http://127.0.0.1:{port}{path.format(id=change)}", timeout=30)  # warm
            # Rounds over every path, the median kept: a load that comes and goes on a shared
            # machine then affects /healthz and the pages alike.
            for _ in range(args.rounds):
                for path in PATHS:
                    runs[path].append(wrk(f"http://127.0.0.1:{port}{path.format(id=change)}", args.seconds,
                                          args.connections))
            results[mode] = {path: sorted(found)[len(found) // 2] for path, found in runs.items()}
            for path in PATHS:
                rps, bad = results[mode][path]
                print(f"{mode:<7} {path:<14} {rps:>8.0f} req/s (median of {args.rounds})"
                      f"{'  non-2xx: %d' % bad if bad else ''}", flush=True)
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(60)
    print(f"\n{'path':<14} {'before req/s':>12} {'% of healthz':>12} {'after req/s':>12} {'% of healthz':>12}")
    for path in PATHS:
        row = [path]
        for mode in ("before", "after"):
            rps = results[mode][path][0]
            row += [f"{rps:.0f}", f"{100 * rps / results[mode]['/healthz'][0]:.0f} %"]
        print(f"{row[0]:<14} {row[1]:>12} {row[2]:>12} {row[3]:>12} {row[4]:>12}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
