"""The mail server is down for a while: ``careloop send-mail`` keeps every message waiting
(tries counted, next try scheduled further out each time), and once the server is back
every message arrives exactly once. A real SMTP server on loopback (tests/mailserver.py)
is stopped and started; time is moved forward with ``clock_at`` instead of waited for."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from app import services
from app.extensions import db
from app.models import Message, MessageKind, MessageStatus, Role, clock_at, utcnow

PEOPLE = ["maria@example.net", "tom@example.net", "aisha@example.net", "lee@example.net", "sam@example.net"]


def outbox() -> list[Message]:
    """The "now owns" messages (the receipts went out before the outage)."""
    db.session.expire_all()
    return db.session.scalars(db.select(Message).where(Message.kind != MessageKind.RECEIPT)
                              .order_by(Message.id)).all()


def test_mail_server_down_then_back_every_message_arrives_exactly_once(make_user, make_report, smtp, runner):
    leader = make_user(Role.LEADER, name="Dana Okafor", email="dana@example.org")
    first = make_report(text="The ramp at the north entrance is blocked by deliveries every morning.",
                        name="Maria Lopez", email=PEOPLE[0])
    for n, email in enumerate(PEOPLE[1:], start=1):
        make_report(text=f"Deliveries block the ramp again (day {n}).", name=f"Person {n}", email=email,
                    problem=first.problem)
    assert "5 sent" in runner.invoke(args=["send-mail"]).output  # the receipts, before the outage
    smtp.inbox.messages.clear()
    services.assign_owner(first.problem, leader, leader)
    db.session.commit()
    assert len(outbox()) == len(PEOPLE)  # one "your problem has an owner" message each

    smtp.stop()
    now = utcnow()
    previous_next = {}
    for tries, minutes in ((1, 0), (2, 10), (3, 60)):
        with clock_at(now + timedelta(minutes=minutes)):
            result = runner.invoke(args=["send-mail"])
        assert result.exit_code == 0, result.output
        assert f"0 sent, {len(PEOPLE)} to retry, 0 failed" in result.output
        for message in outbox():
            assert message.status == MessageStatus.PENDING and message.attempts == tries
            assert "ConnectionRefusedError" in message.last_error
            assert message.next_attempt_at > now + timedelta(minutes=minutes)  # a later try is scheduled
            assert message.next_attempt_at > previous_next.get(message.id, now)  # and backs off further
            previous_next[message.id] = message.next_attempt_at
    assert smtp.inbox.messages == []

    smtp.start()
    with clock_at(now + timedelta(minutes=60)):
        early = runner.invoke(args=["send-mail"])  # back, but nothing is due yet: the back-off holds
    assert "0 sent, 0 to retry, 0 failed" in early.output and smtp.inbox.messages == []

    with clock_at(max(previous_next.values()) + timedelta(seconds=1)):
        caught_up = runner.invoke(args=["send-mail"])
        again = runner.invoke(args=["send-mail"])
    assert f"{len(PEOPLE)} sent, 0 to retry, 0 failed" in caught_up.output
    assert "0 sent, 0 to retry, 0 failed" in again.output
    assert Counter(m["To"] for m in smtp.inbox.messages) == Counter(PEOPLE)  # each person once
    assert len({m["Message-ID"] for m in smtp.inbox.messages}) == len(PEOPLE)
    assert all(m.status == MessageStatus.SENT and m.attempts == 4 for m in outbox())
