"""Load run and fault run: many people filing at once through gunicorn on PostgreSQL, then
the same while PostgreSQL is stopped and started again.

What it does, end to end (nothing to set up beforehand; PostgreSQL's server binaries and
``wrk`` come from Debian, and ``wrk`` is installed with apt-get when missing and run as root):

1. starts a throwaway PostgreSQL cluster (initdb into a temporary folder, a free port on
   127.0.0.1, **fsync off**: figures are for the app, not the disk), ``careloop db upgrade``;
2. seeds it with bench/dashboard.py's generator (reports, problems, owners, published
   changes) and ``careloop grouping-reindex`` so new reports are grouped against them;
3. starts ``gunicorn -w N 'app:create_app()'`` with ``CARELOOP_RATELIMIT_ENABLED=0`` and
   ``CARELOOP_SPAM_MIN_SECONDS=0`` (the limits would otherwise refuse one machine's load);
4. **normal phase**: C concurrent filers for S seconds. Each filer is a new person: GET the
   form, take its hidden fields (CSRF token …), POST a report carrying a unique marker, answer
   "Is it one of these?" when offered (mostly "something else", sometimes "me too"), and follow
   the redirect to the thank-you page; status and latency of every request are recorded;
5. GET throughput with ``wrk``: ``/changes`` as a share of the bare ``/healthz`` on the same gunicorn;
6. **fault phase**: the same filers while PostgreSQL is stopped (``pg_ctl -m fast``) for a few
   seconds and started again; what the clients saw (503s, anything else) and how long after the
   restart requests succeeded again;
7. drains the grouping queue when the app has one, then checks in the database that every
   accepted report (it reached the thank-you page) is stored exactly once, in a problem, in the
   similarity index, with its audit event, that no new problem is empty, and that nothing is lost.

Prints a table and one JSON line; exits 1 when a check fails.

    .venv/bin/python bench/load.py                                   # 50 clients, 60 s + 60 s, 2 workers
    .venv/bin/python bench/load.py --seconds 30 --fault-seconds 30   # shorter
    .venv/bin/python bench/load.py --workers 4 --clients 100 --backend lexical
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.faults.consistency import inconsistencies, last_problem_id, stored_texts  # noqa: E402
from tests.faults.pgcluster import PgCluster, free_port  # noqa: E402

BIN = Path(sys.executable).parent
MARKER = re.compile(r"\[load-[0-9a-f]+-[a-z]+-\d+-\d+\]")
SUBJECTS = ["My refund has taken weeks to arrive", "The password reset email never arrives",
            "The phone line drops my call after ten minutes on hold", "Deliveries block the ramp at the entrance",
            "My parcel was left outside in the rain", "Letters still go to my old address",
            "The booking page times out when I pay", "The card reader rejects contactless payments",
            "The lift at the station is out of order again", "My invoice shows the wrong amount"]
TAILS = ["I have called three times.", "Nobody could tell me when it would be sorted.",
         "This is the second time this month.", "It cost me a day off work.", "Please fix it for everyone."]
AREAS = ["Billing", "Website", "Phone line", "Branch visit", "Delivery", "Accessibility"]


# -- the filers -------------------------------------------------------------------------


class FormFields(HTMLParser):
    """The hidden inputs of the page's post form and the problems offered as radio buttons."""

    def __init__(self):
        super().__init__()
        self.in_form = False
        self.hidden: dict[str, str] = {}
        self.choices: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and (a.get("method") or "").lower() == "post" and not a.get("action"):
            self.in_form = True
        elif tag == "input" and self.in_form:
            if a.get("type") == "hidden" and a.get("name"):
                self.hidden[a["name"]] = a.get("value") or ""
            elif a.get("type") == "radio" and a.get("name") == "problem_choice" and (a.get("value") or "").isdigit():
                self.choices.append(a["value"])

    def handle_endtag(self, tag):
        if tag == "form":
            self.in_form = False


def form_fields(page: str) -> FormFields:
    parser = FormFields()
    parser.feed(page)
    return parser


class Recorder:
    def __init__(self):
        self.requests: list[tuple] = []  # (phase, started, ended, step, status or error name)
        self.filings: list[tuple] = []  # (phase, started, ended, outcome, marker)

    def request(self, phase, step, started, status):
        self.requests.append((phase, started, time.monotonic(), step, status))


def file_one(base: str, phase: str, marker: str, rng: random.Random, rec: Recorder, timeout: float) -> str:
    """One new person files one report; returns the outcome: accepted, HTTP <code> or an error name."""
    session = requests.Session()
    try:
        started = time.monotonic()
        page = session.get(base + "/", timeout=timeout)
        rec.request(phase, "GET /", started, page.status_code)
        if page.status_code != 200:
            return f"HTTP {page.status_code}"
        text = f"{rng.choice(SUBJECTS)}. {rng.choice(TAILS)} {marker}"
        data = {**form_fields(page.text).hidden, "text": text, "name": f"Person {marker[6:-1]}",
                "email": f"p{abs(hash(marker)) % 10**9}@load.example", "contact_ok": "y",
                "location": rng.choice(AREAS)}
        for _attempt in range(2):
            started = time.monotonic()
            response = session.post(base + "/", data=data, timeout=timeout, allow_redirects=False)
            rec.request(phase, "POST /", started, response.status_code)
            if response.status_code in (200, 422):
                offered = form_fields(response.text)
                if not offered.choices:
                    return f"HTTP {response.status_code} (form refused)"
                # "Is it one of these?": mostly something else, sometimes "me too".
                choice = offered.choices[0] if rng.random() < 0.3 else "new"
                data = {**data, **offered.hidden, "problem_choice": choice}
                continue
            break
        if response.status_code not in (302, 303) or "/thanks" not in response.headers.get("Location", ""):
            return f"HTTP {response.status_code}"
        started = time.monotonic()
        thanks = session.get(urljoin(base + "/", response.headers["Location"]), timeout=timeout)
        rec.request(phase, "GET thanks", started, thanks.status_code)
        return "accepted" if thanks.status_code == 200 else f"HTTP {thanks.status_code} (thanks page)"
    except requests.RequestException as error:
        rec.request(phase, "error", time.monotonic(), type(error).__name__)
        return type(error).__name__
    finally:
        session.close()


def run_phase(base: str, run: str, phase: str, clients: int, seconds: float, rec: Recorder,
              timeout: float, during=None) -> float:
    stop_at = time.monotonic() + seconds

    def filer(number: int):
        rng = random.Random(f"{run}-{phase}-{number}")
        n = 0
        while time.monotonic() < stop_at:
            n += 1
            marker = f"[load-{run}-{phase}-{number}-{n}]"
            started = time.monotonic()
            outcome = file_one(base, phase, marker, rng, rec, timeout)
            rec.filings.append((phase, started, time.monotonic(), outcome, marker))
            if outcome != "accepted":
                time.sleep(0.5)  # a person who got an error page waits a moment before trying again

    threads = [threading.Thread(target=filer, args=(i,), daemon=True) for i in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    if during is not None:
        during(started)
    for t in threads:
        t.join()
    return time.monotonic() - started


# -- the server side --------------------------------------------------------------------


def careloop(env: dict, *args: str, capture: bool = False) -> str:
    result = subprocess.run([str(BIN / "careloop"), *args], env=env, cwd=ROOT, check=True, text=True,
                            stdout=subprocess.PIPE if capture else subprocess.DEVNULL, timeout=1800)
    return result.stdout or ""


def seed(url: str, reports: int, problems: int) -> int:
    """bench/dashboard.py's generator: people, problems at every stage, published changes."""
    from werkzeug.security import generate_password_hash

    from app import create_app
    from app.extensions import db
    from bench.dashboard import Generator, load

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "CARELOOP_PLUGINS": []})
    with app.app_context():
        gen = Generator(problems, reports, datetime.now(timezone.utc).replace(tzinfo=None))
        gen.build(generate_password_hash("bench-password"))
        load(db, gen)
        published = sum(1 for p in gen.problems if p.get("published_at"))
        db.session.remove()
        db.engine.dispose()
    return published


def start_gunicorn(env: dict, workers: int, port: int, log: Path) -> subprocess.Popen:
    command = [str(BIN / "gunicorn"), "-w", str(workers), "-b", f"127.0.0.1:{port}", "--timeout", "120",
               "--graceful-timeout", "10", "app:create_app()"]
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT,
                               start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited; see {log}:\n{log.read_text()[-2000:]}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return process
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError("gunicorn did not answer /healthz within 120 s")


def stop_gunicorn(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # the arbiter stops its own workers
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def ensure_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk is None and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is needed for the GET throughput: apt-get install wrk")
    return wrk


def wrk_rps(wrk: str, url: str, seconds: int, connections: int) -> dict:
    done = subprocess.run([wrk, "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url],
                          capture_output=True, text=True, timeout=seconds + 60)
    out = done.stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"wrk failed on {url}: {out[-500:]} {done.stderr[-500:]}")
    rps = float(found.group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    p50 = re.search(r"\s50%\s+(\S+)", out)
    return {"rps": rps, "non_2xx": int(bad.group(1)) if bad else 0,
            "socket_errors": errors.group(0) if errors else None, "p50": p50.group(1) if p50 else None}


def grouping_queue_drain(env: dict) -> str:
    """If grouping runs from a queue (``careloop grouping-work``), work it off before checking."""
    commands = careloop(env, "--help", capture=True)
    if "grouping-work" not in commands:
        return "no queue (grouping happens while filing)"
    help_text = careloop(env, "grouping-work", "--help", capture=True)
    args = ["grouping-work"]
    for flag in ("--drain", "--once", "--until-empty"):
        if flag in help_text:
            args.append(flag)
            break
    out = careloop(env, *args, capture=True)
    return f"careloop {' '.join(args)}: {out.strip()[:200]}"


# -- figures ----------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def phase_figures(rec: Recorder, phase: str, seconds: float) -> dict:
    filings = [f for f in rec.filings if f[0] == phase]
    requests_ = [r for r in rec.requests if r[0] == phase]
    accepted = [f for f in filings if f[3] == "accepted"]
    posts = [(r[2] - r[1]) * 1000 for r in requests_ if r[3] == "POST /" and isinstance(r[4], int) and r[4] < 500]
    whole = [(f[2] - f[1]) * 1000 for f in accepted]
    statuses = Counter(str(r[4]) for r in requests_)
    return {
        "seconds": round(seconds, 1),
        "filings": len(filings),
        "accepted": len(accepted),
        "accepted_per_s": round(len(accepted) / seconds, 2),
        "post_ms": {q: round(percentile(posts, q), 1) for q in (50, 95, 99)},
        "filing_ms": {q: round(percentile(whole, q), 1) for q in (50, 95, 99)},
        "requests": len(requests_),
        "statuses": dict(sorted(statuses.items())),
        "outcomes": dict(sorted(Counter(f[3] for f in filings).items())),
        "http_5xx": sum(n for s, n in statuses.items() if s.isdigit() and int(s) >= 500),
        "http_500": sum(n for s, n in statuses.items() if s.isdigit() and int(s) >= 500 and s != "503"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (2-4 on a small machine)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent filers")
    parser.add_argument("--seconds", type=float, default=60, help="normal phase")
    parser.add_argument("--fault-seconds", type=float, default=60, help="phase with PostgreSQL stopped and started")
    parser.add_argument("--down-after", type=float, default=0.3, help="share of the fault phase before the stop")
    parser.add_argument("--down-seconds", type=float, default=8, help="how long PostgreSQL stays down")
    parser.add_argument("--seed-reports", type=int, default=3000)
    parser.add_argument("--seed-problems", type=int, default=300)
    parser.add_argument("--wrk-seconds", type=int, default=10)
    parser.add_argument("--wrk-connections", type=int, default=16)
    parser.add_argument("--backend", default="minilm", help="CARELOOP_GROUPING_BACKEND for the run")
    parser.add_argument("--timeout", type=float, default=60, help="client timeout per request, seconds")
    args = parser.parse_args()

    run = os.urandom(4).hex()
    wrk = ensure_wrk()
    rec = Recorder()
    work = Path(tempfile.mkdtemp(prefix="careloop-load-"))
    print(f"load run {run}: {args.clients} clients, {args.workers} gunicorn workers, backend {args.backend}, "
          f"PostgreSQL with fsync=off in {work}", flush=True)
    cluster = PgCluster(connect_timeout=3)
    gunicorn = None
    try:
        cluster.start()
        url = cluster.createdb("careloop_load")
        port = free_port()
        env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "load-bench-" + run,
               "CARELOOP_INSTANCE_PATH": str(work), "CARELOOP_BASE_URL": f"http://127.0.0.1:{port}",
               "CARELOOP_RATELIMIT_ENABLED": "0", "CARELOOP_SPAM_MIN_SECONDS": "0",
               "CARELOOP_GROUPING_BACKEND": args.backend, "HF_HUB_OFFLINE": "1", "MAIL_SERVER": ""}
        os.environ.update({k: env[k] for k in ("CARELOOP_INSTANCE_PATH", "HF_HUB_OFFLINE",
                                               "CARELOOP_GROUPING_BACKEND", "SECRET_KEY")})
        careloop(env, "db", "upgrade")
        t = time.monotonic()
        published = seed(url, args.seed_reports, args.seed_problems)
        careloop(env, "grouping-reindex")
        print(f"seeded {args.seed_reports} reports in {args.seed_problems} problems ({published} published "
              f"changes) and indexed them in {time.monotonic() - t:.1f} s", flush=True)
        import sqlalchemy as sa

        engine = sa.create_engine(url, pool_pre_ping=True)
        with engine.connect() as conn:
            problems_before = last_problem_id(conn)
        engine.dispose()

        gunicorn = start_gunicorn(env, args.workers, port, work / "gunicorn.log")
        base = f"http://127.0.0.1:{port}"
        run_phase(base, run, "warmup", min(args.clients, 2 * args.workers), 5, rec, args.timeout)
        print("normal phase …", flush=True)
        normal_s = run_phase(base, run, "normal", args.clients, args.seconds, rec, args.timeout)

        print("GET throughput with wrk …", flush=True)
        health = wrk_rps(wrk, base + "/healthz", args.wrk_seconds, args.wrk_connections)
        changes = wrk_rps(wrk, base + "/changes", args.wrk_seconds, args.wrk_connections)

        outage: dict = {}

        def stop_and_start(phase_started: float):
            time.sleep(args.fault_seconds * args.down_after)
            outage["stopping"] = time.monotonic()
            cluster.stop("fast")
            outage["down"] = time.monotonic()
            time.sleep(args.down_seconds)
            outage["starting"] = time.monotonic()
            cluster.start()
            outage["up"] = time.monotonic()

        print("fault phase: PostgreSQL will be stopped and started …", flush=True)
        fault_s = run_phase(base, run, "fault", args.clients, args.fault_seconds, rec, args.timeout,
                            during=stop_and_start)
        gunicorn_alive = gunicorn.poll() is None

        drained = grouping_queue_drain(env)
        engine = sa.create_engine(url, pool_pre_ping=True)
        with engine.connect() as conn:
            like = f"%[load-{run}-%"
            stored = Counter(MARKER.search(text).group(0) for text in stored_texts(conn, like))
            broken = inconsistencies(conn, like, after_problem=problems_before)
        engine.dispose()
    finally:
        if gunicorn is not None:
            stop_gunicorn(gunicorn)
        cluster.destroy()

    accepted = {f[4] for f in rec.filings if f[3] == "accepted"}
    attempted_not_accepted = {f[4] for f in rec.filings if f[3] != "accepted"}
    lost = sorted(accepted - set(stored))
    twice = sorted(m for m, n in stored.items() if n > 1)
    unconfirmed = sorted(set(stored) - accepted)  # stored, but the person never saw the thank-you page
    unknown = sorted(set(stored) - accepted - attempted_not_accepted)

    normal = phase_figures(rec, "normal", normal_s)
    fault = phase_figures(rec, "fault", fault_s)
    fault_requests = [r for r in rec.requests if r[0] == "fault"]
    after_up = [r for r in fault_requests if r[2] >= outage["up"] and isinstance(r[4], int) and r[4] < 500]
    first_ok_after = min((r[2] for r in after_up), default=None)
    late_errors = [r for r in fault_requests if r[1] >= outage["up"] and not (isinstance(r[4], int) and r[4] < 500)]
    in_outage = Counter(str(r[4]) for r in fault_requests if outage["stopping"] <= r[2] <= outage["up"])
    fault.update({
        "db_down_s": round(outage["up"] - outage["stopping"], 1),
        "statuses_while_down": dict(sorted(in_outage.items())),
        "first_success_after_restart_s": round(first_ok_after - outage["up"], 2) if first_ok_after else None,
        "errors_started_after_restart": len(late_errors),
    })
    ratio = changes["rps"] / health["rps"] if health["rps"] else float("nan")

    checks = {
        "no 5xx in the normal phase": normal["http_5xx"] == 0,
        "only 503 (never 500) while the database was down": fault["http_500"] == 0,
        "no client errors or timeouts": not any(not s.isdigit() for s in {**normal["statuses"], **fault["statuses"]}),
        "503s seen while down": in_outage.get("503", 0) > 0,
        "recovered after the restart": first_ok_after is not None,
        "every accepted report stored (none lost)": not lost,
        "no report stored twice": not twice and broken["stored_twice"] == 0,
        "every stored report in a problem": broken["without_problem"] == 0,
        "every stored report in the similarity index": broken["not_indexed"] == 0,
        "every stored report has its audit event": broken["without_filed_event"] == 0,
        "no empty or unrecorded new problem": broken["empty_new_problems"] == 0
        and broken["new_problems_without_created_event"] == 0,
        "gunicorn stayed up": gunicorn_alive,
    }

    print()
    print(f"{'phase':<8} {'s':>5} {'filings':>8} {'accepted':>9} {'acc/s':>7} {'POST p50':>9} {'p95':>8} {'p99':>8}"
          f"  statuses")
    for name, f in (("normal", normal), ("fault", fault)):
        print(f"{name:<8} {f['seconds']:>5} {f['filings']:>8} {f['accepted']:>9} {f['accepted_per_s']:>7} "
              f"{f['post_ms'][50]:>7}ms {f['post_ms'][95]:>6}ms {f['post_ms'][99]:>6}ms  {f['statuses']}")
    print(f"whole filing (GET form, POST, thank-you page), normal phase: p50 {normal['filing_ms'][50]} ms, "
          f"p95 {normal['filing_ms'][95]} ms, p99 {normal['filing_ms'][99]} ms")
    print(f"GET /healthz {health['rps']:.0f}/s, /changes {changes['rps']:.0f}/s: /changes at {ratio:.1%} of the "
          f"bare route (wrk, {args.wrk_connections} connections, {args.wrk_seconds} s; non-2xx "
          f"{health['non_2xx']} / {changes['non_2xx']})")
    print(f"fault: PostgreSQL down {fault['db_down_s']} s; clients saw {fault['statuses_while_down']} meanwhile; "
          f"first success {fault['first_success_after_restart_s']} s after it was back; outcomes "
          f"{fault['outcomes']}")
    print(f"grouping: {drained}")
    print(f"consistency: {len(accepted)} accepted, {sum(stored.values())} stored, {len(lost)} lost, "
          f"{len(twice)} stored twice, {len(unconfirmed)} stored without the person seeing the thank-you page "
          f"({len(unknown)} never attempted); {broken}")
    for name, ok in checks.items():
        print(f"  {'ok  ' if ok else 'FAIL'} {name}")
    print(json.dumps({
        "run": run, "workers": args.workers, "clients": args.clients, "backend": args.backend,
        "seed_reports": args.seed_reports, "normal": normal, "fault": fault,
        "get": {"healthz_rps": health["rps"], "changes_rps": changes["rps"], "changes_ratio": round(ratio, 4)},
        "accepted": len(accepted), "stored": sum(stored.values()), "lost": len(lost), "stored_twice": len(twice),
        "stored_unconfirmed": len(unconfirmed), "inconsistencies": broken, "grouping": drained,
        "checks": checks, "ok": all(checks.values()),
    }))
    if all(checks.values()):
        shutil.rmtree(work, ignore_errors=True)
        return 0
    print(f"gunicorn's log is kept in {work / 'gunicorn.log'}")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
