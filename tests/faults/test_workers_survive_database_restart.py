"""PostgreSQL restarts under the background processes: ``send-mail --watch``,
``send-webhooks --watch`` and two ``scheduler`` processes (two hosts) keep running, log the
outage and their recovery, and every message reaches a real SMTP server on loopback exactly
once, including the digest both schedulers were due to write.

Real parts only: a throwaway PostgreSQL cluster stopped with ``pg_ctl -m fast`` (what a restart
or failover looks like to a client) and started again, the real ``careloop`` commands in
subprocesses, and aiosmtpd (tests/mailserver.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest

from app import create_app, services
from app.extensions import db
from app.models import Channel, Message, MessageKind, MessageStatus, Role, User
from tests.faults.pgcluster import PgCluster
from tests.mailserver import SmtpServer

CARELOOP = str(Path(sys.executable).parent / "careloop")
WEEKDAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][datetime.now(timezone.utc).weekday()]
PATIENCE = 120  # seconds to wait for something that must happen; a guard against hangs, not a timing claim


def wait_for(condition, what: str, processes=()):
    deadline = time.monotonic() + PATIENCE
    while not condition():
        for name, process in processes:
            assert process.poll() is None, f"{name} stopped (exit {process.returncode}) while waiting for {what}"
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.2)


def app_for(url: str, smtp: SmtpServer):
    return create_app({"SECRET_KEY": "fault-test", "SQLALCHEMY_DATABASE_URI": url,
                       "CARELOOP_GROUPING_BACKEND": "lexical", "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp.port})


def owned_messages(app, people: list[str], title: str) -> None:
    """Each person reports; a leader takes the problem: one "it has an owner" message each."""
    with app.app_context():
        leader = db.session.scalar(db.select(User).filter_by(email="dana@example.org"))
        first = None
        for n, email in enumerate(people):
            reporter = services.new_reporter(name=f"Person {n}", email=email, contact_ok=True)
            report = services.file_report(text=f"{title} ({n})", reporter=reporter, channel=Channel.WEB,
                                          problem=first.problem if first else None)
            first = first or report
        db.session.commit()
        services.assign_owner(first.problem, leader, leader)
        db.session.commit()
        db.session.remove()


@pytest.fixture
def cluster():
    pg = PgCluster(connect_timeout=2)
    pg.start()
    yield pg
    pg.destroy()


def test_watchers_and_schedulers_survive_a_postgresql_restart_and_deliver_once(cluster, tmp_path):
    url = cluster.createdb("careloop")
    smtp = SmtpServer()
    smtp.start()
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "fault-test", "HF_HUB_OFFLINE": "1",
           "CARELOOP_GROUPING_BACKEND": "lexical", "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(smtp.port),
           "MAIL_FROM": "Careloop <care@example.org>", "CARELOOP_DIGEST_WEEKDAY": WEEKDAY,
           "CARELOOP_DIGEST_HOUR": "0", "PYTHONUNBUFFERED": "1"}
    subprocess.run([CARELOOP, "db", "upgrade"], env=env, check=True, capture_output=True, timeout=120)
    app = app_for(url, smtp)
    with app.app_context():
        services.create_user(name="Dana Okafor", email="dana@example.org", role=Role.LEADER, password="long enough pw")
        db.session.commit()
        db.session.remove()
    before = [f"before{n}@example.net" for n in range(4)]
    owned_messages(app, before, "The ramp at the north entrance is blocked by deliveries")
    queued_before = _emails_queued(app)  # each person's receipt and "it has an owner" news

    commands = {
        "mail": [CARELOOP, "send-mail", "--watch", "--interval", "0.5"],
        "webhooks": [CARELOOP, "send-webhooks", "--watch", "--interval", "0.5"],
        "scheduler-a": [CARELOOP, "scheduler", "--interval", "0.5"],
        "scheduler-b": [CARELOOP, "scheduler", "--interval", "0.5"],
    }
    logs = {name: tmp_path / f"{name}.log" for name in commands}
    processes = []
    try:
        for name, command in commands.items():
            processes.append((name, subprocess.Popen(command, env=env, stdout=logs[name].open("w"),
                                                     stderr=subprocess.STDOUT)))
        # What the four people are told, and the digest for Dana.
        wait_for(lambda: len(smtp.inbox.messages) == queued_before + 1, "the first messages", processes)

        cluster.stop("fast")
        for name in commands:
            # Down long enough for each to fail twice: they back off (1 s, then 2 s) and keep trying.
            wait_for(lambda: "(failure 2)" in logs[name].read_text(), f"{name} to retry during the outage", processes)
        cluster.start()
        after = [f"after{n}@example.net" for n in range(3)]
        owned_messages(app, after, "The card reader at the front desk rejects contactless payments")
        queued_after = _emails_queued(app)  # everything written so far, the digest too
        wait_for(lambda: len(smtp.inbox.messages) >= queued_after, "the later messages", processes)  # digest included
        for name in commands:
            wait_for(lambda: "working again after" in logs[name].read_text(), f"{name} to recover", processes)
        assert all(process.poll() is None for _, process in processes)  # nobody died

        wait_for(lambda: _outbox_settled(app), "the outbox to settle", processes)
        with app.app_context():
            sent_to = Counter(db.session.scalars(db.select(Message.to_address)))
            db.session.remove()
        assert Counter(m["To"] for m in smtp.inbox.messages) == sent_to  # each message once
        assert set(sent_to) == set(before + after + ["dana@example.org"])
        assert len({m["Message-ID"] for m in smtp.inbox.messages}) == len(smtp.inbox.messages)
        with app.app_context():
            outbox = db.session.scalars(db.select(Message)).all()
            assert {m.status for m in outbox} == {MessageStatus.SENT}
            assert sum(m.kind == MessageKind.DIGEST for m in outbox) == 1  # two schedulers, one digest
            db.session.remove()
        for name in commands:
            text = logs[name].read_text()
            assert "Traceback" not in text, text
            print(f"--- {name}\n{text}")  # shown with pytest -s: what an operator would read
    finally:
        for _, process in processes:
            process.terminate()
        for _, process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        smtp.stop()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def _emails_queued(app) -> int:
    with app.app_context():
        count = db.session.scalar(db.select(db.func.count(Message.id)))
        db.session.remove()
        return count


def _outbox_settled(app) -> bool:
    with app.app_context():
        waiting = db.session.scalar(db.select(db.func.count(Message.id)).where(
            Message.status.in_((MessageStatus.PENDING, MessageStatus.SENDING))))
        db.session.remove()
        return waiting == 0
