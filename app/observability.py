"""Signals for operators: log lines, request ids and Prometheus metrics.

* **Logs**: every line has the time (UTC), level, logger and the request's id
  (``X-Request-ID`` from the proxy when it sends a sane one, else a new one; echoed back on the
  response). ``CARELOOP_LOG_FORMAT=json`` writes one JSON object per line instead.
* **Metrics** (prometheus-client) at ``/metrics``, for a bearer token (``CARELOOP_METRICS_TOKEN``)
  or clients in ``CARELOOP_METRICS_NETWORKS``. Request counts and latencies are counted by each
  process; under gunicorn (``PROMETHEUS_MULTIPROC_DIR`` set by ``deploy/gunicorn.conf.py``) the
  workers' files are summed on each scrape. What waits in the database (outbox, webhooks, problems
  without an owner, import lag) is read by one query each at scrape time, so every process
  answers the same.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
import re
import sys
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone

from flask import Blueprint, Flask, Response, abort, current_app, g, has_request_context, request
from sqlalchemy import func

from app.extensions import db
from app.models import Message, MessageStatus, Problem, SourceState, Status, utcnow
from app.models.webhooks import DeliveryStatus, WebhookDelivery

bp = Blueprint("observability", __name__)
log = logging.getLogger(__name__)
_REQUEST_ID = re.compile(r"[A-Za-z0-9._\-]{1,64}")
_HANDLER_MARK = "_careloop_handler"


# ---- logging ----------------------------------------------------------------------------------

class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = (g.get("request_id", "-") if has_request_context() else "-")
        return True


class TextFormatter(logging.Formatter):
    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def formatTime(self, record, datefmt=None):  # noqa: N802 - logging's name
        return datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds")


class JsonFormatter(TextFormatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {"time": self.formatTime(record), "level": record.levelname, "logger": record.name,
                "request_id": getattr(record, "request_id", "-"), "message": record.getMessage()}
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def init_logging(app: Flask) -> None:
    """One handler on the root logger (stderr), replaced when another app is built in this process."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if app.config["CARELOOP_LOG_FORMAT"] == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(app.config["CARELOOP_LOG_LEVEL"].upper())
    app.logger.handlers.clear()  # Flask's own handler would print every line twice
    app.logger.propagate = True


# ---- metrics ----------------------------------------------------------------------------------

_metrics: dict | None = None


def metrics() -> dict:
    """This process's metric objects (made once; in multiprocess mode they write to files)."""
    global _metrics
    if _metrics is None:
        from prometheus_client import Counter, Histogram

        _metrics = {
            "requests": Counter("careloop_http_requests_total", "HTTP requests answered, by endpoint and status.",
                                ["endpoint", "method", "status"], registry=None),
            "latency": Histogram("careloop_http_request_duration_seconds", "Time to answer a request, by endpoint.",
                                 ["endpoint"], registry=None,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)),
            "grouping": Histogram("careloop_grouping_decision_seconds",
                                  "Time to decide where a new report belongs (similarity search).", registry=None,
                                  buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)),
            "reconnects": Counter("careloop_worker_database_errors_total",
                                  "Database or network errors a background loop survived, by loop.",
                                  ["loop"], registry=None),
        }
    return _metrics


@contextmanager
def grouping_timer():
    started = time.perf_counter()
    try:
        yield
    finally:
        metrics()["grouping"].observe(time.perf_counter() - started)


class DatabaseCollector:
    """What waits in the database, read at scrape time (the same from every process)."""

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily


        now = utcnow()
        waiting = (MessageStatus.PENDING, MessageStatus.SENDING)
        depth, oldest = db.session.execute(
            db.select(func.count(Message.id), func.min(Message.created_at)).where(Message.status.in_(waiting))).one()
        yield GaugeMetricFamily("careloop_outbox_depth", "Messages waiting to be sent.", value=depth)
        yield GaugeMetricFamily("careloop_outbox_oldest_age_seconds",
                                "Age of the oldest message waiting to be sent (0 when none waits).",
                                value=(now - oldest).total_seconds() if oldest else 0)
        backlog = db.session.scalar(db.select(func.count(WebhookDelivery.id)).where(
            WebhookDelivery.status.in_((DeliveryStatus.PENDING, DeliveryStatus.SENDING))))
        yield GaugeMetricFamily("careloop_webhook_backlog", "Webhook deliveries waiting to be sent.", value=backlog)
        unowned = db.session.scalar(db.select(func.count(Problem.id)).where(
            Problem.status == Status.NEW, Problem.owner_id.is_(None), Problem.merged_into_id.is_(None)))
        yield GaugeMetricFamily("careloop_problems_waiting_for_owner", "Open problems nobody owns yet.", value=unowned)
        lag = GaugeMetricFamily("careloop_import_lag_seconds",
                                "Seconds since each ticket source last imported successfully.", labels=["source"])
        for name, success in db.session.execute(db.select(SourceState.name, SourceState.last_success_at)):
            if success is not None:
                lag.add_metric([name], (now - success).total_seconds())
        yield lag
        db.session.rollback()


def _allowed(app: Flask) -> bool:
    token = app.config["CARELOOP_METRICS_TOKEN"]
    if token:

        given = request.headers.get("Authorization", "")
        if given.startswith("Bearer ") and hmac.compare_digest(given[7:].strip(), token):
            return True
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net) for net in app.config["CARELOOP_METRICS_NETWORKS"])


@bp.get("/metrics")
def metrics_view():
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    if not _allowed(current_app):
        abort(403)
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        for metric in metrics().values():
            registry.register(metric)
    registry.register(DatabaseCollector())
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST,
                    headers={"Cache-Control": "no-store"})


def init_app(app: Flask) -> None:
    metrics()
    app.register_blueprint(bp)
    app.config.setdefault("CARELOOP_METRICS_EXEMPT", {"observability.metrics_view", "health.healthz", "static"})

    @app.before_request
    def start_request():
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        g.request_started = time.perf_counter()

    @app.after_request
    def count_request(response):
        response.headers["X-Request-ID"] = g.get("request_id", "-")
        endpoint = request.endpoint or "unmatched"
        if endpoint not in app.config["CARELOOP_METRICS_EXEMPT"] and "request_started" in g:
            m = metrics()
            m["requests"].labels(endpoint, request.method, str(response.status_code)).inc()
            m["latency"].labels(endpoint).observe(time.perf_counter() - g.request_started)
        return response
