"""Every message's subject lives with its mail templates (templates/mail/<kind>.subject.txt),
is translated like the body, and is one line, whatever a name or title holds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app import services
from app.extensions import db
from app.messaging.compose import header_line, render_message, render_subject
from app.models import Message, MessageKind, Role

ROOT = Path(__file__).resolve().parents[2]
MAIL = ROOT / "templates" / "mail"
# A record that staff told someone in person: written, never sent, so it has no template.
NEVER_SENT = {MessageKind.TOLD_IN_PERSON}
SENT_KINDS = [kind for kind in MessageKind if kind not in NEVER_SENT]


@pytest.mark.parametrize("kind", SENT_KINDS, ids=str)
def test_every_message_kind_has_its_subject_in_its_template(kind):
    subject = MAIL / f"{kind}.subject.txt"
    assert subject.exists(), f"write {subject.relative_to(ROOT)} beside the body"
    assert (MAIL / f"{kind}.txt").exists()
    # ... and only there: no Python module spells a subject's words any more.
    words = re.findall(r"""_\((['"])(.+?)\1""", subject.read_text())
    code = "\n".join(p.read_text() for p in (ROOT / "app").rglob("*.py"))
    for _quote, msgid in words:
        marked = re.compile(r"""\b_l?\(\s*(['"])""" + re.escape(msgid) + r"\1")
        assert not marked.search(code), f"{msgid!r} is still marked for translation in the Python code"


def test_no_template_names_a_kind_that_does_not_exist():
    kinds = {str(kind) for kind in MessageKind}
    assert {p.name.removesuffix(".subject.txt") for p in MAIL.glob("*.subject.txt")} <= kinds


def test_header_line_turns_every_line_break_into_a_space():
    assert header_line("We changed this:\r\nBcc: everyone@example.net\u2028x\x85y\n") == (
        "We changed this: Bcc: everyone@example.net x y")
    assert header_line("Two  spaces stay") == "Two  spaces stay"


def test_a_title_or_name_with_line_breaks_cannot_add_a_header(make_user, make_report):
    """Names are refused at input (a test in test_telling_people.py); an older row, or a title a
    leader wrote, still cannot break a subject into two headers."""
    leader = make_user(Role.LEADER, name="Dana")
    leader.name = "Dana\r\nBcc: leak@example.net"  # a row from before names were checked
    report = make_report(name="Ana", email="ana@example.net")
    problem = report.problem
    problem.title = "Lift broken\nBcc: everyone@example.net"
    services.assign_owner(problem, leader, leader)
    db.session.commit()
    owned = db.session.scalar(db.select(Message).where(Message.kind == MessageKind.OWNED))
    assert owned.subject == "Dana Bcc: leak@example.net now owns the problem you told us about"
    moved = render_message(MessageKind.MOVED, problem, reporter=report.reporter, reports=[report])
    assert moved.subject == f"Your report has moved to problem #{problem.id}"
    assert render_subject(MessageKind.OWNER_FLAG, problem=problem) == "Still happening: Lift broken Bcc: everyone@example.net"
    assert render_subject(MessageKind.WRITE_BACK, problem=problem) == "Lift broken Bcc: everyone@example.net"
