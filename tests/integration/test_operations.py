"""What an operator relies on: /readyz and /healthz, /metrics behind a token or network, log
lines with time, level, logger and request id (text or JSON), the scheduler's once-a-week digest,
and `careloop backup` for SQLite."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from app.extensions import db
from app.models import Message, MessageKind, Role, ScheduledRun
from app.observability import JsonFormatter, TextFormatter, init_logging

CARELOOP = str(Path(sys.executable).parent / "careloop")


def test_readyz_checks_the_database_and_the_migrations_head(client, app_ctx):
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_data(as_text=True).startswith("ready: database answers")
    assert ready.headers["Cache-Control"] == "no-store"
    with db.engine.begin() as conn:
        head = conn.scalar(sa.text("SELECT version_num FROM alembic_version"))
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0001'"))
    try:
        behind = client.get("/readyz")
        assert behind.status_code == 503
        assert "schema is at 0001" in behind.get_data(as_text=True) and "careloop db upgrade" in behind.get_data(as_text=True)
        assert client.get("/healthz").status_code == 200  # liveness does not look at the database
    finally:
        with db.engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = :v"), {"v": head})


def test_metrics_need_the_token_or_an_allowed_network(client, app_ctx, make_report):
    make_report()  # one problem waiting for an owner; the reporter's receipt waits in the outbox
    client.get("/changes")
    app_ctx.config.update(CARELOOP_METRICS_TOKEN="a-long-metrics-token-123", CARELOOP_METRICS_NETWORKS=[])
    try:
        assert client.get("/metrics").status_code == 403
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong-token-wrong-token"}).status_code == 403
        answer = client.get("/metrics", headers={"Authorization": "Bearer a-long-metrics-token-123"})
        assert answer.status_code == 200 and answer.mimetype == "text/plain"
        text = answer.get_data(as_text=True)
        assert 'careloop_http_requests_total{endpoint="public.changes",method="GET",status="200"}' in text
        assert 'careloop_http_request_duration_seconds_bucket{endpoint="public.changes"' in text
        assert "careloop_problems_waiting_for_owner 1.0" in text
        waiting = db.session.scalar(db.select(db.func.count(Message.id)).where(Message.status == "pending"))
        for name in (f"careloop_outbox_depth {float(waiting)}", "careloop_outbox_oldest_age_seconds",
                     "careloop_webhook_backlog 0.0", "careloop_grouping_decision_seconds_count",
                     "careloop_import_lag_seconds"):
            assert name in text
        app_ctx.config.update(CARELOOP_METRICS_TOKEN="", CARELOOP_METRICS_NETWORKS=["127.0.0.0/8"])
        assert client.get("/metrics").status_code == 200  # the test client comes from 127.0.0.1
    finally:
        app_ctx.config.update(CARELOOP_METRICS_TOKEN="", CARELOOP_METRICS_NETWORKS=["127.0.0.1/32", "::1/128"])


def test_log_lines_carry_time_level_logger_and_the_request_id(client, app_ctx):
    kept = []

    class Keep(logging.Handler):
        def emit(self, record):
            kept.append(record)

    from app.observability import RequestIdFilter

    handler = Keep()
    handler.addFilter(RequestIdFilter())  # what init_logging puts on its handler
    logging.getLogger().addHandler(handler)
    try:
        with app_ctx.test_request_context("/healthz", headers={"X-Request-ID": "req-42"}):
            app_ctx.preprocess_request()
            logging.getLogger("careloop.probe").warning("probing")
        logging.getLogger("careloop.probe").warning("outside a request")
    finally:
        logging.getLogger().removeHandler(handler)
    assert client.get("/healthz", headers={"X-Request-ID": "req-43"}).headers["X-Request-ID"] == "req-43"
    assert client.get("/healthz", headers={"X-Request-ID": "bad id; spaces"}).headers["X-Request-ID"] != "bad id; spaces"
    inside, outside = [r for r in kept if r.name == "careloop.probe"]
    line = TextFormatter().format(inside)
    assert line.endswith(" WARNING careloop.probe [req-42] probing") and line.startswith(str(datetime.now().year))
    assert TextFormatter().format(outside).endswith(" WARNING careloop.probe [-] outside a request")
    fields = json.loads(JsonFormatter().format(inside))
    assert fields.pop("time").startswith(str(datetime.now().year))
    assert fields == {"level": "WARNING", "logger": "careloop.probe", "request_id": "req-42", "message": "probing"}


def test_the_json_log_format_is_chosen_by_setting(app):
    app.config["CARELOOP_LOG_FORMAT"] = "json"
    try:
        init_logging(app)
        init_logging(app)  # building another app replaces the handler, never adds a second
        ours = [h for h in logging.getLogger().handlers if getattr(h, "_careloop_handler", False)]
        assert len(ours) == 1 and isinstance(ours[0].formatter, JsonFormatter)
    finally:
        app.config["CARELOOP_LOG_FORMAT"] = "text"
        init_logging(app)


def test_the_scheduler_writes_the_digest_once_a_week_on_the_day_and_hour(app_ctx, make_user):
    from app.scheduler import run_due_jobs

    make_user(Role.LEADER, email="dana@example.org")
    app_ctx.config.update(CARELOOP_DIGEST_WEEKDAY="wed", CARELOOP_DIGEST_HOUR=7)
    try:
        tuesday = datetime(2026, 12, 1, 12, 0)
        assert run_due_jobs(tuesday) == []
        assert run_due_jobs(tuesday + timedelta(days=1, hours=-5, minutes=-1)) == []  # Wednesday 06:59
        assert run_due_jobs(tuesday + timedelta(days=1, hours=-5)) == ["Wrote 1 digest to the outbox."]
        assert run_due_jobs(tuesday + timedelta(days=3)) == []  # the same week: already written
        assert run_due_jobs(tuesday + timedelta(days=11)) == ["Wrote 1 digest to the outbox."]  # next week, caught up
        digests = db.session.scalars(db.select(Message).where(Message.kind == MessageKind.DIGEST)).all()
        assert [d.to_address for d in digests] == ["dana@example.org"] * 2
        runs = db.session.scalars(db.select(ScheduledRun).order_by(ScheduledRun.slot)).all()
        assert [(r.job, r.slot) for r in runs] == [("digest", "2026-W49"), ("digest", "2026-W50")]
    finally:
        app_ctx.config.update(CARELOOP_DIGEST_WEEKDAY="mon", CARELOOP_DIGEST_HOUR=7)


def test_backup_copies_a_live_sqlite_database_and_refuses_to_overwrite(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'live.sqlite'}", "SECRET_KEY": "backup-test",
           "HF_HUB_OFFLINE": "1"}
    subprocess.run([CARELOOP, "db", "upgrade"], env=env, check=True, capture_output=True, timeout=120)
    subprocess.run([CARELOOP, "users", "create", "--name", "Ada", "--email", "ada@example.org", "--role", "admin",
                    "--password", "long enough pw"], env=env, check=True, capture_output=True, timeout=120)
    done = subprocess.run([CARELOOP, "backup", str(tmp_path / "copy.sqlite")], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and "integrity ok" in done.stdout
    with sqlite3.connect(tmp_path / "copy.sqlite") as copy:
        assert copy.execute("SELECT email FROM users").fetchall() == [("ada@example.org",)]
    again = subprocess.run([CARELOOP, "backup", str(tmp_path / "copy.sqlite")], env=env, capture_output=True,
                           text=True, timeout=120)
    assert again.returncode != 0 and "exists already" in again.stderr
