"""Personal messages: who is told, what they read, and delivery through a real SMTP
server on loopback (aiosmtpd) that can be stopped and started."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest

from app import services
from app.extensions import db
from app.messaging.compose import notice_states, unsubscribe
from app.messaging.mail import deliver_due
from app.models import Message, MessageKind, MessageStatus, Problem, Report, Role, clock_at, utcnow
from app.queries import is_closed_out


@pytest.fixture
def story(make_user, make_report):
    """A problem reported by Maria (twice), Tom, an anonymous person and a customer filed by staff."""
    leader = make_user(Role.LEADER, name="Dana Okafor", email="dana@example.org")
    staff = make_user(Role.STAFF, name="Frankie Hall", email="frankie@example.org")
    first = make_report(text="My refund for the kettle has taken <b>five weeks</b> & counting.",
                        name="Maria Lopez", email="maria@example.net")
    problem = first.problem
    maria = first.reporter
    services.file_report(text="Still no refund; I called three times.", reporter=maria, problem=problem)
    make_report(text="Refund promised in 5 days, it's been 23.", name="Tom Becker", email="tom@example.net",
                problem=problem)
    make_report(text="Refunds are far too slow.", name=None, email=None, contact_ok=False, problem=problem)
    customer = services.new_reporter(name="Aisha Khan", email="aisha@example.net", contact_ok=True)
    services.file_report(text="Customer at the desk: refund a month late.", reporter=customer,
                         problem=problem, channel="staff", filed_by=staff)
    db.session.commit()
    return {"leader": leader, "staff": staff, "problem": problem, "maria": maria}


def messages(kind=None):
    query = db.select(Message).order_by(Message.id)
    if kind:
        query = query.where(Message.kind == kind)
    return db.session.scalars(query).all()


def record_and_publish(problem, leader, note=None):
    services.record_change(problem, leader, since=utcnow().date(),
                           what="Refunds now go back to the card within 3 working days; the batch runs daily.",
                           evidence_url="https://example.org/notes/refunds")
    services.publish(problem, leader, public_title="Faster refunds", public_summary="Refunds run daily.",
                     note=note)
    db.session.commit()


def test_first_owner_tells_each_contactable_person_once_quoting_all_their_words(story):
    services.assign_owner(story["problem"], story["leader"], story["leader"])
    db.session.commit()
    owned = messages(MessageKind.OWNED)
    assert sorted(m.to_address for m in owned) == ["aisha@example.net", "maria@example.net", "tom@example.net"]
    to_maria = next(m for m in owned if m.to_address == "maria@example.net")
    assert "five weeks" in to_maria.body_text and "Still no refund; I called three times." in to_maria.body_text
    assert "Dana Okafor now owns this problem" in to_maria.body_text
    copy, = messages(MessageKind.STAFF_COPY)
    assert copy.to_address == "frankie@example.org" and "Aisha Khan has been emailed" in copy.body_text
    # All written in the same transaction as the ownership, nothing sent yet.
    assert {m.status for m in messages()} == {MessageStatus.PENDING}


def test_a_handover_is_not_announced_as_a_new_owner(story, make_user):
    other = make_user(Role.LEADER)
    services.assign_owner(story["problem"], story["leader"], story["leader"])
    services.assign_owner(story["problem"], story["leader"], other, "Covering while Dana is away.")
    db.session.commit()
    assert len(messages(MessageKind.OWNED)) == 3


def test_messages_arrive_quoting_their_words_with_working_links(story, smtp, client):
    services.assign_owner(story["problem"], story["leader"], story["leader"])
    record_and_publish(story["problem"], story["leader"], note="Thank you for pushing us on this.")
    result = deliver_due()
    assert result.failed == 0 and result.sent == len(messages())
    inbox = smtp.inbox
    changed = [m for m in inbox.to("maria@example.net") if m["Subject"].startswith("We changed this")]
    assert len(changed) == 1
    mail = changed[0]
    assert mail["From"] == "Careloop <care@example.org>" and mail["Reply-To"] == "care-team@example.org"
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "My refund for the kettle has taken <b>five weeks</b> & counting." in text
    assert "&lt;b&gt;five weeks&lt;/b&gt; &amp; counting" in html and "<b>five weeks</b>" not in html
    assert "Refunds now go back to the card within 3 working days" in text
    assert "Thank you for pushing us on this." in text and "https://example.org/notes/refunds" in text
    report_url = re.search(r"Your private page about this: (\S+)", text).group(1)
    unsubscribe_url = re.search(r"Stop these emails: (\S+)", text).group(1)
    assert mail["List-Unsubscribe"] == f"<{unsubscribe_url}>"
    base = "http://careloop.test"
    page = client.get(report_url.removeprefix(base)).get_data(as_text=True)
    assert "five weeks" in page and "We last wrote to you on" in page
    assert client.post(unsubscribe_url.removeprefix(base)).status_code == 302
    db.session.expire_all()
    assert story["maria"].unsubscribed_at is not None
    # Respected everywhere after: the next event writes nothing to Maria.
    services.reopen(story["problem"], story["leader"])
    services.decline(story["problem"], story["leader"], "We will not change this after all, because of the new law.")
    db.session.commit()
    assert not [m for m in messages(MessageKind.DECLINED) if m.to_address == "maria@example.net"]
    assert [m for m in messages(MessageKind.DECLINED) if m.to_address == "tom@example.net"]


def test_one_click_unsubscribe_from_a_mail_client(story, client):
    token = story["maria"].token
    response = client.post(f"/r/{token}/unsubscribe", data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 204
    db.session.expire_all()
    assert story["maria"].unsubscribed_at is not None


def test_unsubscribing_withdraws_messages_not_yet_sent(story):
    services.assign_owner(story["problem"], story["leader"], story["leader"])
    db.session.commit()
    unsubscribe(story["maria"])
    db.session.commit()
    to_maria = [m for m in messages(MessageKind.OWNED) if m.to_address == "maria@example.net"]
    assert to_maria[0].status == MessageStatus.FAILED
    assert "unsubscribed" in to_maria[0].last_error


def test_mail_server_down_loses_nothing_and_catches_up(story, smtp):
    services.assign_owner(story["problem"], story["leader"], story["leader"])
    db.session.commit()
    smtp.stop()
    result = deliver_due()
    # 4 receipts (Maria twice, Tom, Aisha), 3 "now owns" and Frankie's staff copy.
    assert result.sent == 0 and result.retrying == 8
    assert all(m.status == MessageStatus.PENDING and m.attempts == 1 and m.next_attempt_at > utcnow()
               for m in messages())
    smtp.start()
    assert deliver_due().sent == 0  # not due yet: back-off is respected
    with clock_at(utcnow() + timedelta(minutes=5)):
        assert deliver_due().sent == 8
    assert len(smtp.inbox.messages) == 8
    assert all(m.last_error is None for m in messages())  # the rows show the latest state
    assert deliver_due().sent == 0  # and never twice


def test_gives_up_after_the_documented_number_of_tries(story, smtp, app_ctx):
    saved = app_ctx.config["CARELOOP_MAIL_MAX_ATTEMPTS"]
    app_ctx.config["CARELOOP_MAIL_MAX_ATTEMPTS"] = 3  # an extra cap, below the days of retries
    try:
        services.assign_owner(story["problem"], story["leader"], story["leader"])
        db.session.commit()
        smtp.stop()
        for minutes in (0, 10, 60):
            with clock_at(utcnow() + timedelta(minutes=minutes)):
                deliver_due()
        assert {m.status for m in messages()} == {MessageStatus.FAILED}
        assert "Gave up after 3 tries" in messages()[0].last_error
    finally:
        app_ctx.config["CARELOOP_MAIL_MAX_ATTEMPTS"] = saved


def test_a_refused_address_bounces_and_blocks_closing_out_until_marked(story, smtp, client, auth):
    smtp.inbox.refuse.add("tom@example.net")
    services.assign_owner(story["problem"], story["leader"], story["leader"])
    record_and_publish(story["problem"], story["leader"])
    deliver_due()
    problem = db.session.get(Problem, story["problem"].id)
    states = {n.reporter.email: n.state for n in notice_states(problem)}
    assert states == {"maria@example.net": "told", "tom@example.net": "bounced", None: "no contact given",
                      "aisha@example.net": "told"}
    assert not is_closed_out(problem)
    auth.login(story["leader"])
    page = client.get(f"/problems/{problem.id}").get_data(as_text=True)
    assert "Not closed out yet" in page and "Bounced" in page and "550" in page
    tom = next(n.reporter for n in notice_states(problem) if n.reporter.email == "tom@example.net")
    response = client.post(f"/problems/{problem.id}/people/{tom.id}/unreachable",
                           data={"reason": "Address no longer exists; phoned him instead."})
    assert response.status_code == 302
    db.session.expire_all()
    assert is_closed_out(db.session.get(Problem, problem.id))
    assert "Closed out" in client.get(f"/problems/{problem.id}").get_data(as_text=True)


def test_changed_but_not_closed_out_shows_in_triage_and_my_problems(story, client, auth):
    services.assign_owner(story["problem"], story["leader"], story["leader"])
    story["problem"].title = "Refunds are slow"
    record_and_publish(story["problem"], story["leader"])
    auth.login(story["leader"])
    title = "Refunds are slow"
    assert title in client.get("/triage").get_data(as_text=True)
    assert title in client.get("/problems/mine").get_data(as_text=True)
    for message in messages():
        message.status = MessageStatus.SENT
    db.session.commit()
    assert title not in client.get("/triage").get_data(as_text=True)
    assert title not in client.get("/problems/mine").get_data(as_text=True)


def test_owner_previews_a_real_message_and_adds_a_note(story, client, auth):
    problem = story["problem"]
    services.assign_owner(problem, story["leader"], story["leader"])
    services.record_change(problem, story["leader"], since=utcnow().date(),
                           what="Refunds now go back to the card within 3 working days; the batch runs daily.")
    db.session.commit()
    count_before = len(messages())
    auth.login(story["leader"])
    form = {"public_title": "Faster refunds", "public_summary": "Refunds run daily.",
            "note": "I am sorry it took us this long.", "preview": "1"}
    page = client.post(f"/problems/{problem.id}/publish", data=form).get_data(as_text=True)
    assert "To Maria Lopez" in page
    assert "five weeks" in page and "I am sorry it took us this long." in page
    assert "3 people will get a message like this" in page
    db.session.expire_all()
    assert db.session.get(Problem, problem.id).published_at is None and len(messages()) == count_before
    del form["preview"]
    form["confirm"] = "1"
    assert client.post(f"/problems/{problem.id}/publish", data=form).status_code == 302
    changed = messages(MessageKind.CHANGED)
    assert len(changed) == 3 and all("I am sorry it took us this long." in m.body_text for m in changed)


def test_decline_preview_and_messages_carry_the_reason(story, client, auth):
    problem = story["problem"]
    services.assign_owner(problem, story["leader"], story["leader"])
    db.session.commit()
    auth.login(story["leader"])
    reason = "The card network sets the refund time; we cannot shorten it, but we now text you when it is sent."
    page = client.post(f"/problems/{problem.id}/decline", data={"reason": reason, "preview": "1"}).get_data(as_text=True)
    assert "Preview" in page and "The card network sets the refund time" in page
    db.session.expire_all()
    assert db.session.get(Problem, problem.id).status == "owned"
    assert client.post(f"/problems/{problem.id}/decline", data={"reason": reason, "confirm": "1"}).status_code == 302
    declined = messages(MessageKind.DECLINED)
    assert len(declined) == 3 and all("The card network sets the refund time" in m.body_text for m in declined)


def test_still_happening_becomes_a_new_report_and_flags_the_owner(story, client, auth):
    problem = story["problem"]
    services.assign_owner(problem, story["leader"], story["leader"])
    record_and_publish(problem, story["leader"])
    maria = story["maria"]
    first_report = maria.reports[0]
    response = client.post(f"/r/{maria.token}/reports/{first_report.id}/still-happening",
                           data={"words": "Refund from last week still not here."})
    assert response.status_code == 302
    reports = db.session.scalars(db.select(Report).filter_by(reporter_id=maria.id)).all()
    assert len(reports) == 3 and reports[-1].text == "Refund from last week still not here."
    assert reports[-1].problem_id == problem.id
    flag, = messages(MessageKind.OWNER_FLAG)
    assert flag.to_address == "dana@example.org" and "Refund from last week still not here." in flag.body_text
    auth.login(story["leader"])
    page = client.get(f"/problems/{problem.id}").get_data(as_text=True)
    assert "someone said this is still happening" in page
    # Someone else's report cannot be used with Maria's link.
    other = db.session.scalar(db.select(Report).where(Report.reporter_id != maria.id))
    assert client.post(f"/r/{maria.token}/reports/{other.id}/still-happening", data={}).status_code == 404


def test_my_reports_shows_whether_the_person_was_told(story, smtp, client, auth):
    services.assign_owner(story["problem"], story["leader"], story["leader"])
    db.session.commit()
    deliver_due()
    auth.login(story["staff"])
    page = client.get("/staff/reports").get_data(as_text=True)
    assert "Told " in page


def test_moving_a_report_tells_its_person_where_it_went(story, make_report):
    other = make_report(text="Refund policy page is out of date.", name="Zoe", email="zoe@example.net")
    services.assign_owner(story["problem"], story["leader"], story["leader"])
    db.session.commit()
    services.move_report(other, story["leader"], story["problem"])
    db.session.commit()
    moved, = messages(MessageKind.MOVED)
    assert moved.to_address == "zoe@example.net" and "Dana Okafor owns it now" in moved.body_text
    # Nobody else's words: the problem's working title is Maria's first report.
    assert "kettle" not in moved.body_text and "kettle" not in moved.subject


def test_two_senders_at_once_send_each_message_once(story, smtp, app):
    services.assign_owner(story["problem"], story["leader"], story["leader"])
    record_and_publish(story["problem"], story["leader"])
    total = len(messages())
    results = []

    def sender():
        with app.app_context():
            results.append(deliver_due(limit=3))
            db.session.remove()

    threads = [threading.Thread(target=sender) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    while deliver_due().sent:
        pass
    ids = [m["Message-ID"] for m in smtp.inbox.messages]
    assert len(ids) == len(set(ids)) == total
    assert {m.status for m in messages()} == {MessageStatus.SENT}


def test_send_mail_command(story, smtp, runner, app_ctx):
    services.assign_owner(story["problem"], story["leader"], story["leader"])
    db.session.commit()
    result = runner.invoke(args=["send-mail"])
    assert result.exit_code == 0 and "8 sent" in result.output  # 4 receipts, 3 "now owns", 1 staff copy
    app_ctx.config["MAIL_SERVER"] = ""
    messages()[0].status = MessageStatus.PENDING
    db.session.commit()
    result = runner.invoke(args=["send-mail"])
    assert result.exit_code != 0 and "MAIL_SERVER is not set" in result.output


def test_admin_outbox_shows_what_people_receive(story, client, auth, make_user):
    services.assign_owner(story["problem"], story["leader"], story["leader"])
    db.session.commit()
    auth.login(make_user(Role.ADMIN))
    page = client.get("/admin/outbox").get_data(as_text=True)
    assert "maria@example.net" in page and "Dana Okafor now owns" in page
    message = messages(MessageKind.OWNED)[0]
    assert "five weeks" in client.get(f"/admin/outbox/{message.id}").get_data(as_text=True)
    html = client.get(f"/admin/outbox/{message.id}/html")
    assert "sandbox" in html.headers["Content-Security-Policy"]
