"""gunicorn's settings for Careloop: ``gunicorn --config python:app.gunicorn_conf app.wsgi:app``.

* ``CARELOOP_WEB_BIND`` (``127.0.0.1:8000``): where to listen; put a TLS proxy in front.
* ``CARELOOP_WEB_WORKERS`` (``2``): worker processes; about one per core.
* ``CARELOOP_WEB_TIMEOUT`` (``30``): seconds before a stuck worker is restarted.
* The app is loaded once in the master (``preload_app``) together with the grouping model and
  the similarity index, so the workers share them instead of each holding a copy.
* Prometheus counters of all workers are summed through files in ``PROMETHEUS_MULTIPROC_DIR``
  (a fresh temporary folder unless set).

Values are checked with the app's own setting parsers: a bad one stops with one line.
"""

from __future__ import annotations

import os
import sys
import tempfile

from app.extensions import db
from app.wsgi import app, preload
from config import SETTINGS, SettingError

_VALUES = {}
for _name in ("CARELOOP_WEB_BIND", "CARELOOP_WEB_WORKERS", "CARELOOP_WEB_TIMEOUT", "CARELOOP_WEB_PRELOAD",
              "CARELOOP_PROXY_COUNT"):
    _spec = SETTINGS[_name]
    _raw = os.environ.get(_name, _spec.default)
    try:
        _VALUES[_name] = _spec.parse(_raw)
    except ValueError as _error:
        print(f"careloop: {SettingError(_name, _raw, str(_error))}", file=sys.stderr, flush=True)
        sys.exit(2)

bind = [_VALUES["CARELOOP_WEB_BIND"]]
workers = _VALUES["CARELOOP_WEB_WORKERS"]
timeout = _VALUES["CARELOOP_WEB_TIMEOUT"]
graceful_timeout = 20
preload_app = _VALUES["CARELOOP_WEB_PRELOAD"]
# A worker is replaced after this many requests (spread out), so a slow leak cannot grow forever.
max_requests = 5000
max_requests_jitter = 500
# Careloop reads X-Forwarded-* itself (werkzeug's ProxyFix, CARELOOP_PROXY_COUNT); gunicorn trusts none.
forwarded_allow_ips = ""
accesslog = "-"
access_log_format = '%(t)s access %(h)s "%(r)s" %(s)s %(b)s %(L)ss [%({x-request-id}o)s]'
errorlog = "-"

if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="careloop-metrics-")


def when_ready(server):
    """In the master, after the app is loaded and before any worker forks."""
    if not preload_app:
        return

    preload(app)


def post_fork(server, worker):
    if not preload_app:
        return

    with app.app_context():
        db.engine.dispose(close=False)  # never share the master's connections


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)

# gunicorn 23+ would open a control socket in the home folder; Careloop does not use it.
control_socket_disable = True
