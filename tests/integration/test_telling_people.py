"""Every person told exactly once, in their own words, whatever happens to the mail (issue 14).

Each case files through the real services or forms, on the database of the run (SQLite, or
PostgreSQL with DATABASE_URL), and delivers through a real SMTP server on loopback."""

from __future__ import annotations

import email
import re
from collections import Counter
from datetime import timedelta
from email import policy

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from app import services
from app.extensions import db
from app.messaging.compose import notice_states
from app.messaging.mail import build_email, deliver_due, message_id
from app.models import (
    Channel,
    Message,
    MessageKind,
    MessageStatus,
    Person,
    Problem,
    Role,
    clock_at,
    utcnow,
)
from app.services.grouping import merge_problems

WHAT = "Refunds now go back to the original card within 3 working days; the batch runs every night."


@pytest.fixture(autouse=True)
def no_auto_grouping(app_ctx):
    saved = {k: app_ctx.config[k] for k in ("CARELOOP_GROUPING_AUTO", "CARELOOP_GROUPING_REVIEW")}
    app_ctx.config.update(CARELOOP_GROUPING_AUTO=1.01, CARELOOP_GROUPING_REVIEW=1.01)
    yield
    app_ctx.config.update(saved)


def outbox(kind=None, to=None) -> list[Message]:
    query = db.select(Message).order_by(Message.id)
    if kind:
        query = query.where(Message.kind == kind)
    if to:
        query = query.where(Message.to_address == to)
    return db.session.scalars(query).all()


def change_and_publish(problem, leader, note=None):
    if problem.owner is None:
        services.assign_owner(problem, leader, leader)
    services.record_change(problem, leader, what=WHAT, since=utcnow().date())
    services.publish(problem, leader, public_title="Faster refunds", public_summary="Refunds run nightly.", note=note)
    db.session.commit()


def file(text, name, address, problem=None, **kwargs):
    reporter = services.new_reporter(name=name, email=address, contact_ok=bool(address))
    report = services.file_report(text=text, reporter=reporter, problem=problem, **kwargs)
    db.session.commit()
    return report


def test_the_same_person_twice_is_told_once_quoting_both_reports(make_user, client):
    leader = make_user(Role.LEADER, name="Dana Okafor")
    first = file("My refund for the kettle has taken five weeks.", "Maria Lopez", "maria@example.net")
    second = file("Still no refund for the kettle, I called twice.", "Maria", "Maria@Example.NET",
                  problem=first.problem)
    change_and_publish(first.problem, leader)
    changed, = outbox(MessageKind.CHANGED)
    assert changed.to_address == "maria@example.net"
    assert "five weeks" in changed.body_text and "called twice" in changed.body_text
    owned = outbox(MessageKind.OWNED)
    assert [m.to_address for m in owned] == ["maria@example.net"]
    # Publishing again tells nobody twice.
    services.unpublish(first.problem, leader)
    services.publish(first.problem, leader, public_title="Faster refunds", public_summary="Again.")
    db.session.commit()
    assert len(outbox(MessageKind.CHANGED)) == 1
    # The link in the email (the person's) lists both reports; each filing's own link only its own.
    person_link = re.search(r"Your private page about this: \S+/r/(\S+)", changed.body_text).group(1)
    assert person_link == db.session.scalar(db.select(Person.token).filter_by(email="maria@example.net"))
    page = client.get(f"/r/{person_link}").get_data(as_text=True)
    assert "five weeks" in page and "called twice" in page
    own = client.get(f"/r/{second.reporter.token}").get_data(as_text=True)
    assert "called twice" in own and "five weeks" not in own
    states = notice_states(first.problem)
    assert len(states) == 1 and states[0].state == "waiting" and len(states[0].reports) == 2


def test_a_shared_address_is_safe_typing_it_shows_nobody_else_s_reports(client):
    mother = file("The pharmacy closes before the bus arrives.", "Rosa Field", "field.family@example.net")
    son = file("Prescription not ready twice this month.", "Leo Field", "field.family@example.net",
               problem=mother.problem)
    thanks = client.get(f"/r/{son.reporter.token}").get_data(as_text=True)
    assert "Prescription not ready" in thanks and "pharmacy closes" not in thanks
    receipts = outbox(MessageKind.RECEIPT)
    assert len(receipts) == 2 and all(m.to_address == "field.family@example.net" for m in receipts)
    assert "Prescription not ready" not in receipts[0].body_text  # a receipt quotes that filing only


def test_a_late_join_after_publishing_is_told_the_change_and_counted(make_user, client, auth, smtp):
    leader = make_user(Role.LEADER, name="Dana Okafor")
    early = file("Refund for my kettle took five weeks.", "Maria Lopez", "maria@example.net")
    change_and_publish(early.problem, leader)
    late = file("Account 4471: refund pending for over a month.", "Tom Becker", "tom@example.net")
    assert outbox(MessageKind.CHANGED, "tom@example.net") == []
    merge_problems(late.problem, early.problem, leader)
    db.session.commit()
    told, = outbox(MessageKind.CHANGED, "tom@example.net")
    assert "Account 4471" in told.body_text and WHAT in told.body_text and "kettle" not in told.body_text
    assert len(outbox(MessageKind.CHANGED, "maria@example.net")) == 1  # nobody twice
    # The problem page says "told" only once it is delivered.
    tom = next(s for s in notice_states(early.problem) if s.reporter.email == "tom@example.net")
    assert tom.state == "waiting"
    deliver_due()
    db.session.expire_all()
    tom = next(s for s in notice_states(early.problem) if s.reporter.email == "tom@example.net")
    assert tom.state == "told"
    from app.queries import is_closed_out

    assert is_closed_out(db.session.get(Problem, early.problem_id))


def test_a_merge_before_an_owner_sends_nothing_and_never_foreign_words(make_user):
    leader = make_user(Role.LEADER, name="Dana Okafor")
    a = file("Account 4471: refund pending for over a month, this is Maria.", "Maria", "maria@example.net")
    b = file("My refund is late too.", "Tom", "tom@example.net")
    before = len(outbox())
    merge_problems(b.problem, a.problem, leader)
    db.session.commit()
    assert len(outbox()) == before  # housekeeping before ownership: no email
    services.assign_owner(a.problem, leader, leader)
    db.session.commit()
    to_tom = [m for m in outbox(to="tom@example.net") if m.kind != MessageKind.RECEIPT]
    assert len(to_tom) == 1 and "Dana Okafor" in to_tom[0].body_text
    assert "4471" not in to_tom[0].body_text and "4471" not in to_tom[0].subject  # Maria's words stay hers


def test_staff_filing_for_a_customer_says_who_wrote_it_down(make_user):
    leader = make_user(Role.LEADER, name="Dana Okafor")
    frankie = make_user(Role.STAFF, name="Frankie Hall")
    report = file("Mrs Field came to the counter upset: her refund is five weeks late.", "Rosa Field",
                  "rosa@example.net", channel=Channel.STAFF, filed_by=frankie)
    services.assign_owner(report.problem, leader, leader)
    db.session.commit()
    owned, = outbox(MessageKind.OWNED, "rosa@example.net")
    assert "you told Frankie Hall, who wrote it down for us:" in owned.body_text
    assert "you told us" not in owned.body_text
    copy, = outbox(MessageKind.STAFF_COPY)
    assert copy.to_address == frankie.email


def test_a_receipt_for_everyone_including_me_too_and_the_thank_you_page_is_true(make_user, client):
    leader = make_user(Role.LEADER, name="Sam Reyes")
    first = file("The lift at Elm Street is broken again.", "Ana", "ana@example.net")
    receipt, = outbox(MessageKind.RECEIPT, "ana@example.net")
    assert "lift at Elm Street" in receipt.body_text and "/r/" in receipt.body_text
    assert "will take ownership" in receipt.body_text
    services.assign_owner(first.problem, leader, leader)
    services.edit_problem(first.problem, leader, title="Elm Street lift", area=None, due_on=None,
                          public_title="The lift at Elm Street")
    db.session.commit()
    # "Me too" from the public form into the owned problem.
    response = client.post("/", data={"text": "Lift broken, I had to use the stairs with my buggy.",
                                      "name": "Ben", "email": "ben@example.net", "contact_ok": "y",
                                      "problem_choice": str(first.problem_id), "suggestions_seen": "1"})
    assert response.status_code == 302
    thanks = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Sam Reyes owns this problem" in thanks and "will take ownership" not in thanks
    me_too, = outbox(MessageKind.RECEIPT, "ben@example.net")
    assert me_too.subject == "We have your report: Sam Reyes owns this problem"
    assert "buggy" in me_too.body_text and "Elm Street is broken" not in me_too.body_text
    assert outbox(MessageKind.OWNED, "ben@example.net") == []  # the receipt said it: once


def test_the_private_link_again_same_answer_known_or_not(client):
    file("The lift at Elm Street is broken again.", "Ana", "ana@example.net")
    known = client.post("/link", data={"email": "ANA@example.net"}, follow_redirects=True)
    unknown = client.post("/link", data={"email": "nobody@example.net"}, follow_redirects=True)
    assert known.status_code == unknown.status_code == 200
    strip = lambda page: re.sub(r'name="csrf_token"[^>]*', "", page.get_data(as_text=True))  # noqa: E731
    assert strip(known) == strip(unknown)
    again, = outbox(MessageKind.LINK_AGAIN)
    token = db.session.scalar(db.select(Person.token).filter_by(email="ana@example.net"))
    assert again.to_address == "ana@example.net" and f"/r/{token}" in again.body_text
    assert outbox(to="nobody@example.net") == []


def test_did_this_fix_it_one_click_answers(make_user, client, auth):
    leader = make_user(Role.LEADER, name="Dana Okafor")
    maria = file("Refund for my kettle took five weeks.", "Maria", "maria@example.net")
    tom = file("Refund late again.", "Tom", "tom@example.net", problem=maria.problem)
    change_and_publish(maria.problem, leader)
    to_maria, = outbox(MessageKind.CHANGED, "maria@example.net")
    yes = re.search(r"Yes, it is fixed for me: http://careloop.test(\S+)", to_maria.body_text).group(1)
    to_tom, = outbox(MessageKind.CHANGED, "tom@example.net")
    no = re.search(r"No, it is still happening: http://careloop.test(\S+)", to_tom.body_text).group(1)
    # Opening the link (as a mail scanner would) records nothing; the POST does.
    assert "Did this fix it for you?" in client.get(yes).get_data(as_text=True)
    assert services.people.fix_counts([maria.problem_id]) == {}
    assert client.post(yes).status_code == 302
    assert client.post(yes).status_code == 302  # twice is still one person
    assert client.post(no).status_code == 302
    counts = services.people.fix_counts([maria.problem_id])[maria.problem_id]
    assert (counts.fixed, counts.still) == (1, 1)
    auth.login(leader)
    for page in ("/triage", "/problems/mine", f"/problems/{maria.problem_id}"):
        text = client.get(page).get_data(as_text=True)
        assert "still happening" in text, page
    dashboard = client.get("/dashboard").get_data(as_text=True)
    assert re.search(r'tile-number">1</span> change people say did not work', dashboard)
    flag, = outbox(MessageKind.OWNER_FLAG)
    assert flag.to_address == leader.email
    # The owner acts (reopens): the flag goes.
    services.reopen(db.session.get(Problem, maria.problem_id), leader)
    db.session.commit()
    assert "Changed problems still happening" not in client.get("/triage").get_data(as_text=True)
    assert tom.reporter.token not in yes  # each answer link is the person's own


def test_an_answer_link_cannot_answer_for_someone_else(make_user, client):
    leader = make_user(Role.LEADER)
    maria = file("Refund for my kettle took five weeks.", "Maria", "maria@example.net")
    other = file("Parking machine eats coins.", "Zoe", "zoe@example.net")
    change_and_publish(maria.problem, leader)
    assert client.post(f"/r/{other.reporter.token}/answer/{maria.problem_id}/yes").status_code == 404


def test_an_in_person_task_for_people_without_email(make_user, client, auth):
    leader = make_user(Role.LEADER, name="Dana Okafor")
    frankie = make_user(Role.STAFF, name="Frankie Hall")
    report = file("Mr Okoro says the ramp is blocked every Tuesday.", "Mr Okoro", None,
                  channel=Channel.STAFF, filed_by=frankie)
    services.decline(report.problem, leader, "The ramp belongs to the landlord; we asked them in writing to fix it.")
    db.session.commit()
    auth.login(frankie)
    page = client.get("/staff/reports").get_data(as_text=True)
    assert "Tell them in person" in page and "The ramp belongs to the landlord" in page
    response = client.post(f"/staff/reports/told/{report.reporter_id}/{report.problem_id}")
    assert response.status_code == 302
    assert "Tell them in person" not in client.get("/staff/reports").get_data(as_text=True)
    record, = outbox(MessageKind.TOLD_IN_PERSON)
    assert "Frankie Hall told Mr Okoro in person" in record.body_text
    state, = notice_states(db.session.get(Problem, report.problem_id))
    assert state.state == "told in person"
    # Nothing is left to tick off: a second tick finds no task.
    assert client.post(f"/staff/reports/told/{report.reporter_id}/{report.problem_id}").status_code == 404
    assert len(outbox(MessageKind.TOLD_IN_PERSON)) == 1


def test_a_line_break_in_a_name_is_refused_by_the_field(client):
    response = client.post("/", data={"text": "The lift is broken.", "name": "Ana\nBcc: victim@example.net",
                                      "email": "ana@example.net", "contact_ok": "y", "problem_choice": "new",
                                      "suggestions_seen": "1"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "Name must be on one line" in page
    assert "The lift is broken." in page  # their words are kept
    assert outbox() == []


def test_a_poison_message_is_set_aside_and_the_rest_flows(make_user, smtp):
    leader = make_user(Role.LEADER, name="Dana Okafor")
    first = file("The lift is broken.", "Ana", "ana@example.net")
    file("The lift is still broken.", "Ben", "ben@example.net", problem=first.problem)
    # A row written before names were checked at input (the bug of issue 14): a line break in a header.
    poison = outbox(MessageKind.RECEIPT, "ana@example.net")[0]
    poison.subject = "We have your report\nBcc: everyone@example.net"
    db.session.commit()
    services.assign_owner(first.problem, leader, leader)
    db.session.commit()
    result = deliver_due()
    assert result.failed == 1 and result.sent == len(outbox()) - 1
    db.session.refresh(poison)
    assert poison.status == MessageStatus.FAILED and "Could not be built" in poison.last_error
    assert Counter(m["To"] for m in smtp.inbox.messages) == Counter(
        {"ana@example.net": 1, "ben@example.net": 2})
    assert deliver_due().sent == 0  # and it is not picked again


def test_a_retry_after_a_long_outage_then_retry_failed_with_one_message_id(make_user, smtp, runner):
    first = file("The lift is broken.", "Ana", "ana@example.net")
    receipt, = outbox(MessageKind.RECEIPT)
    smtp.stop()
    start = utcnow()
    hours = 0
    while hours <= 24 * 3:  # three days of outage: still waiting, never given up
        with clock_at(start + timedelta(hours=hours)):
            deliver_due()
        hours += 2
    db.session.refresh(receipt)
    assert receipt.status == MessageStatus.PENDING and receipt.attempts >= 12  # 1, 2, 4 … minutes, then ≤ 6 hours
    with clock_at(start + timedelta(days=4, hours=8)):
        deliver_due()
    db.session.refresh(receipt)
    assert receipt.status == MessageStatus.FAILED and "Gave up after" in receipt.last_error
    assert "over 4.3 days" in receipt.last_error
    smtp.start()
    with clock_at(start + timedelta(days=5)):
        result = runner.invoke(args=["send-mail", "--retry-failed"])
    assert "1 failed message(s) back in the outbox" in result.output and "1 sent" in result.output
    mail, = smtp.inbox.messages
    assert mail["Message-ID"] == message_id(receipt, "example.org")
    db.session.refresh(receipt)
    assert receipt.status == MessageStatus.SENT and receipt.last_error is None
    assert first.problem_id == receipt.problem_id


def test_admin_sends_failed_messages_again_single_and_bulk(make_user, client, auth):
    admin = make_user(Role.ADMIN)
    file("The lift is broken.", "Ana", "ana@example.net")
    file("Parking machine eats coins.", "Ben", "ben@example.net")
    for message in outbox():
        message.status, message.last_error = MessageStatus.FAILED, "Gave up"
    db.session.commit()
    one, two = outbox()
    auth.login(admin)
    assert client.post("/admin/outbox/retry", data={"message_id": one.id}).status_code == 302
    db.session.expire_all()
    assert [m.status for m in outbox()] == [MessageStatus.PENDING, MessageStatus.FAILED]
    assert "Send every failed message again" in client.get("/admin/outbox").get_data(as_text=True)
    client.post("/admin/outbox/retry")
    db.session.expire_all()
    assert {m.status for m in outbox()} == {MessageStatus.PENDING}


LONG_BASE = "https://feedback.example-organisation.org.uk/customer-care/careloop"


@pytest.fixture
def long_base_url(app_ctx):
    saved = app_ctx.config["CARELOOP_BASE_URL"]
    app_ctx.config["CARELOOP_BASE_URL"] = LONG_BASE
    yield LONG_BASE
    app_ctx.config["CARELOOP_BASE_URL"] = saved


def test_list_unsubscribe_is_sent_unencoded_and_parses(long_base_url, smtp):
    file("The lift is broken.", "Ána Müller", "ana@example.net")
    receipt, = outbox(MessageKind.RECEIPT)
    token = db.session.scalar(db.select(Person.token).filter_by(email="ana@example.net"))
    expected = f"<{LONG_BASE}/r/{token}/unsubscribe>"
    raw = build_email(receipt).as_bytes()
    assert b"=?" not in raw.split(b"\n\n", 1)[0].split(b"List-Unsubscribe")[1]  # not RFC 2047-encoded
    assert all(len(line) <= 998 for line in raw.splitlines())
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert parsed["List-Unsubscribe"] == expected
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert deliver_due().sent == 1
    received, = smtp.inbox.messages  # through a real SMTP server on loopback
    assert received["List-Unsubscribe"] == expected
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert received["Message-ID"] == message_id(receipt, "example.org")
    assert b"List-Unsubscribe: <" in smtp.inbox.envelopes[0].content


def test_merged_problems_are_never_open_and_counts_agree_with_the_api(make_user, client, auth):
    from app.queries.dashboard import headline

    leader = make_user(Role.LEADER)
    a = file("The lift is broken.", "Ana", "ana@example.net")
    b = file("Lift out of order again.", "Ben", "ben@example.net")
    file("Parking machine eats coins.", "Cleo", "cleo@example.net")
    merged_id = b.problem_id
    merge_problems(b.problem, a.problem, leader)
    db.session.commit()
    assert headline().open_problems == 2
    from app.services.api_tokens import create_token

    secret = create_token(name="t", scope="read", actor=None).secret
    db.session.commit()
    api = client.get("/api/v1/problems?status=new", headers={"Authorization": f"Bearer {secret}"}).get_json()
    assert len(api["data"]) == headline().open_problems
    auth.login(leader)
    listing = client.get("/problems").get_data(as_text=True)
    assert f'href="/problems/{merged_id}"' not in listing
    triage = client.get("/triage").get_data(as_text=True)
    assert f'href="/problems/{merged_id}"' not in triage
    csv = client.get("/backlog.csv").get_data(as_text=True)
    assert len(csv.strip().splitlines()) == 1 + 2


class Recorder:
    def __init__(self):
        self.calls = []

    from app.plugin_api import hookimpl

    @hookimpl
    def report_filed(self, report):
        self.calls.append(("report_filed", report.id))

    @hookimpl
    def problem_status_changed(self, problem, before, after):
        self.calls.append(("problem_status_changed", before, after))


def test_one_fan_out_commits_without_events_do_no_work(app_ctx, make_user):
    from app.events import _before_commit
    from app.plugins.manager import plugin_manager

    pm = plugin_manager()
    recorder = Recorder()
    pm.register(recorder)
    try:
        leader = make_user(Role.LEADER)
        report = file("The lift is broken.", "Ana", "ana@example.net")
        services.assign_owner(report.problem, leader, leader)
        db.session.commit()
        assert ("report_filed", report.id) in recorder.calls
        assert ("problem_status_changed", "new", "owned") in recorder.calls
        recorder.calls.clear()
        before = len(outbox())
        problem = db.session.get(Problem, report.problem_id)
        problem.area = problem.area  # loaded
        statements = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        sa_event.listen(db.engine, "before_cursor_execute", listener)
        try:
            problem.area = "Lifts"  # a change with no event
            db.session.commit()
        finally:
            sa_event.remove(db.engine, "before_cursor_execute", listener)
        assert recorder.calls == [] and len(outbox()) == before
        assert len(statements) == 1 and statements[0].lstrip().upper().startswith("UPDATE")
    finally:
        pm.unregister(recorder)
    # Nothing is registered on SQLAlchemy's global classes at import: only per app.
    assert not sa_event.contains(Session, "before_commit", _before_commit)


def test_a_batch_looks_up_its_peoples_unsubscribe_links_in_one_query(smtp, app_ctx):
    people = {f"p{n}@example.net": f"Person {n}" for n in range(4)}
    for address, name in people.items():
        file(f"The lift on floor {name[-1]} is broken.", name, address)
    tokens = dict(db.session.execute(db.select(Person.email, Person.token)).all())
    statements = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    sa_event.listen(db.engine, "before_cursor_execute", seen)
    try:
        assert deliver_due().sent == len(people)
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", seen)
    assert len([s for s in statements if re.search(r"\bFROM people\b", s)]) == 1
    for received in smtp.inbox.messages:  # and each person still gets their own link
        assert received["List-Unsubscribe"] == f"<http://careloop.test/r/{tokens[received['To']]}/unsubscribe>"
