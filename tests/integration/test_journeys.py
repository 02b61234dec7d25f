"""Issue 18's rules, below the browser: staff filing in the customer's language with a note
kept apart, "My reports" search and paging, asking the owner and offering to take over, why a
problem is stuck, writing to one person, invitations, the owner's note on the private page,
finding problems by words, a leader's queue, and every id once on the problem page."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app import services
from app.extensions import db
from app.models import (
    HANDED_OVER,
    OWNER_ASKED,
    PERSON_ANSWERED,
    REQUEST_ANSWERED,
    TAKEOVER_OFFERED,
    Event,
    Invitation,
    Message,
    MessageKind,
    OwnershipRequest,
    ProblemLink,
    Report,
    Role,
    User,
    clock_at,
    utcnow,
)
from app.services.answers import answer_person
from app.services.errors import PermissionDenied, ServiceError
from app.services.ownership import answer_request, ask_owner, why_stuck

CHANGE = "Refunds now go back to the original card within 3 working days, by a new nightly job."


def page(response) -> str:
    return response.get_data(as_text=True)


def fresh(obj):
    db.session.expire_all()
    return db.session.get(type(obj), obj.id)


def verbs(problem) -> list[str]:
    return list(db.session.scalars(select(Event.verb).where(Event.problem_id == problem.id).order_by(Event.id)))


@pytest.fixture
def dana(make_user):
    return make_user(Role.LEADER, name="Dana Okafor", email="dana@example.org")


@pytest.fixture
def sam(make_user):
    return make_user(Role.LEADER, name="Sam Reyes", email="sam@example.org")


@pytest.fixture
def owned(make_report, dana):
    report = make_report(text="The password reset email never arrives.")
    services.assign_owner(report.problem, dana, dana)
    db.session.commit()
    return report.problem


# --- staff filing ------------------------------------------------------------------------


class TestStaffFiling:
    def test_the_customers_words_and_the_staff_note_are_kept_apart_in_their_language(self, client, auth, make_user, dana):
        staff = make_user(Role.STAFF, name="Frankie Hall")
        auth.login(staff)
        response = client.post("/staff/report", data={
            "on_behalf": "customer", "customer_name": "Jonas Weber", "customer_email": "jonas@example.de",
            "customer_contact_ok": "y", "language": "de", "text": "Meine Erstattung kam nach fünf Wochen nicht.",
            "staff_note": "Saw the bank statement myself."})
        assert response.status_code == 302
        report = db.session.scalar(select(Report))
        assert report.text == "Meine Erstattung kam nach fünf Wochen nicht."
        assert report.staff_note == "Saw the bank statement myself."
        assert report.locale == "de" and report.reporter.locale == "de"
        services.assign_owner(report.problem, dana, dana)
        db.session.commit()
        told = db.session.scalar(select(Message).filter_by(to_address="jonas@example.de"))
        assert "Saw the bank statement" not in told.body_text and "now owns" not in told.subject
        private = client.get(f"/r/{report.reporter.token}")
        assert "Saw the bank statement" not in page(private)

    def test_a_language_the_site_does_not_offer_is_refused_by_the_field(self, client, auth, make_user):
        auth.login(make_user(Role.STAFF))
        response = client.post("/staff/report", data={"on_behalf": "customer", "customer_name": "A",
                                                      "language": "xx", "text": "It broke."})
        assert response.status_code == 422
        assert 'id="language-error"' in page(response) and "It broke." in page(response)
        assert db.session.scalar(select(func.count(Report.id))) == 0

    def test_filing_for_myself_keeps_no_staff_note_and_my_language(self, client, auth, make_user):
        staff = make_user(Role.STAFF)
        auth.login(staff)
        client.post("/staff/report", data={"on_behalf": "self", "language": "ar", "text": "The rota app logs me out.",
                                           "staff_note": "should not be kept"})
        report = db.session.scalar(select(Report))
        assert report.staff_note is None and report.locale == "en"


class TestMyReports:
    def test_search_by_words_name_or_number_and_pages(self, client, auth, make_user):
        staff = make_user(Role.STAFF)
        for n in range(22):
            services.file_report(text=f"Barrier {n} stuck", channel="staff", filed_by=staff,
                                 reporter=services.new_reporter(name=f"Person {n}"))
        loop = services.file_report(text="The hearing loop is off.", channel="staff", filed_by=staff,
                                    reporter=services.new_reporter(name="Ruth Adler"))
        db.session.commit()
        auth.login(staff)
        first = page(client.get("/staff/reports"))
        assert first.count('class="card report-card"') == 20 and "Page 1 of 2" in first
        assert page(client.get("/staff/reports?page=2")).count('class="card report-card"') == 3
        assert client.get("/staff/reports?page=3").status_code == 404
        for words in ("hearing loop", "ruth", f"#{loop.id}"):
            found = page(client.get("/staff/reports", query_string={"q": words}))
            assert found.count('class="card report-card"') == 1 and "Ruth Adler" in found, words

    def test_staff_open_only_reports_they_filed(self, client, auth, make_user, make_report):
        staff, other = make_user(Role.STAFF), make_user(Role.STAFF)
        report = services.file_report(text="Lift broken.", channel="staff", filed_by=other,
                                      reporter=services.new_reporter(name="Kim"))
        db.session.commit()
        auth.login(staff)
        assert client.get(f"/staff/reports/{report.id}").status_code == 404
        assert client.get(f"/staff/reports/{report.id}/sheet").status_code == 404
        auth.logout()
        auth.login(other)
        view = page(client.get(f"/staff/reports/{report.id}"))
        assert f"/r/{report.reporter.token}" in view
        sheet = client.get(f"/staff/reports/{report.id}/sheet")
        assert sheet.status_code == 200 and f"/r/{report.reporter.token}" in page(sheet)


# --- leaders who are not the owner ------------------------------------------------------------


class TestAskingTheOwner:
    def test_ask_and_answer_are_in_the_history_and_emailed(self, client, auth, owned, dana, sam):
        auth.login(sam)
        empty = client.post(f"/problems/{owned.id}/ask", data={"ask-note": " ", "ask-ask": "1"})
        assert empty.status_code == 422 and 'id="ask-note-error"' in page(empty)
        client.post(f"/problems/{owned.id}/ask", data={"ask-note": "Is the fix close?", "ask-ask": "1"})
        again = client.post(f"/problems/{owned.id}/ask", data={"ask-note": "Hello?", "ask-ask": "1"})
        assert again.status_code == 422 and "already asked" in page(again)
        request = db.session.scalar(select(OwnershipRequest))
        assert (request.kind, request.to_user_id, request.status) == ("ask", dana.id, "open")
        mail = db.session.scalar(select(Message).filter_by(kind=MessageKind.OWNERSHIP))
        assert mail.to_address == "dana@example.org" and "Is the fix close?" in mail.body_text
        # Only the owner (or an admin) answers.
        refused = client.post(f"/ownership-requests/{request.id}/answer",
                              data={f"request-{request.id}-reason": "Mine now", f"request-{request.id}-decline": "1"})
        assert refused.status_code == 403
        auth.logout()
        auth.login(dana)
        client.post(f"/ownership-requests/{request.id}/answer",
                    data={f"request-{request.id}-reason": "Friday.", f"request-{request.id}-decline": "1"})
        assert fresh(request).status == "accepted" and fresh(request).answer == "Friday."
        assert verbs(owned)[-2:] == [OWNER_ASKED, REQUEST_ANSWERED]
        to_sam = db.session.scalar(select(Message).filter_by(to_address="sam@example.org", kind=MessageKind.OWNERSHIP))
        assert "Friday." in to_sam.body_text
        assert fresh(owned).owner_id == dana.id

    def test_an_accepted_offer_hands_it_over_and_closes_other_questions(self, owned, dana, sam, make_user):
        ada = make_user(Role.LEADER, name="Ada")
        question = ask_owner(owned, ada, "Any news?")
        offer = ask_owner(owned, sam, "I can take it.", offer=True)
        with pytest.raises(ServiceError):
            answer_request(offer, dana, accept=False, reason=" ")
        answer_request(offer, dana, accept=True, reason="Sam knows the provider.")
        db.session.commit()
        assert fresh(owned).owner_id == sam.id
        assert fresh(question).status == "closed" and fresh(offer).status == "accepted"
        history = verbs(owned)
        assert history.index(REQUEST_ANSWERED) < history.index(HANDED_OVER)
        assert TAKEOVER_OFFERED in verbs(owned)

    def test_the_owner_cannot_ask_themselves_and_closed_problems_take_no_questions(self, owned, dana, sam):
        with pytest.raises(ServiceError):
            ask_owner(owned, dana, "Me?")
        services.decline(owned, dana, "The card network sets the refund time; we cannot change it.")
        db.session.commit()
        with pytest.raises(ServiceError):
            ask_owner(owned, sam, "Why?")

    def test_staff_cannot_ask(self, owned, make_user):
        with pytest.raises(PermissionDenied):
            ask_owner(owned, make_user(Role.STAFF), "Hi")


class TestWhyStuck:
    def test_each_reason_in_words(self, make_report, dana, owned):
        unowned = make_report(text="Nobody picked this up.").problem
        assert [s.code for s in why_stuck(unowned)] == ["no_owner"]
        owned.due_on = utcnow().date() - timedelta(days=2)
        db.session.add(ProblemLink(problem=owned, source="jira", external_key="OPS-9", status_category="new"))
        db.session.commit()
        stuck = why_stuck(owned)
        assert [s.code for s in stuck] == ["overdue", "waiting_on_work"]
        assert "OPS-9" in stuck[1].text
        owned.due_on = None
        services.record_change(owned, dana, what=CHANGE, since=utcnow().date())
        db.session.commit()
        assert [s.code for s in why_stuck(owned)] == ["waiting_to_tell"]  # changed, not yet published


# --- writing to one person --------------------------------------------------------------------


class TestAnsweringAPerson:
    def test_the_owner_writes_quoting_their_words(self, client, auth, owned, dana, sam, make_report):
        report = owned.reports[0]
        auth.login(sam)
        assert client.post(f"/reports/{report.id}/answer", data={"answer-words": "Hi"}).status_code == 403
        auth.logout()
        auth.login(dana)
        empty = client.post(f"/reports/{report.id}/answer", data={"answer-words": ""})
        assert empty.status_code == 422 and f'id="answer-words-{report.id}-error"' in page(empty)
        client.post(f"/reports/{report.id}/answer", data={"answer-words": "We are testing a fix this week."})
        message = db.session.scalar(select(Message).filter_by(kind=MessageKind.ANSWER))
        assert message.to_address == "maria@example.net" and message.reporter_id == report.reporter_id
        assert "We are testing a fix this week." in message.body_text
        assert "The password reset email never arrives." in message.body_text
        assert verbs(owned)[-1] == PERSON_ANSWERED
        assert "wrote to Maria Lopez" in page(client.get(f"/problems/{owned.id}"))

    def test_nobody_is_written_to_without_their_consent(self, owned, dana, make_report):
        quiet = make_report(text="Same here.", name="Lee", email=None, contact_ok=False, problem=owned)
        with pytest.raises(ServiceError) as refused:
            answer_person(quiet, dana, "Hello")
        assert refused.value.field == "words"


# --- the owner's note on the private page; previews -------------------------------------------


def test_people_without_email_read_the_owners_note_and_find_the_public_change(client, make_report, dana):
    report = make_report(text="The ramp is blocked.", name="Nina", email=None, contact_ok=False)
    problem = report.problem
    services.assign_owner(problem, dana, dana)
    services.record_change(problem, dana, what=CHANGE, since=utcnow().date())
    services.publish(problem, dana, public_title="Clear ramp", public_summary="Deliveries use the back door.",
                     note="Thank you, Nina.")
    db.session.commit()
    text = page(client.get(f"/r/{report.reporter.token}"))
    assert "Thank you, Nina." in text and f'href="/changes/{problem.id}"' in text
    services.reopen(problem, dana, "Not fixed")
    db.session.commit()
    assert "Thank you, Nina." not in page(client.get(f"/r/{report.reporter.token}"))


def test_the_preview_shows_every_recipient_in_their_language(client, auth, make_report, dana, app_ctx):
    first = make_report(text="Refund took weeks.", name="Ann", email="ann@example.net")
    with app_ctx.test_request_context("/", headers={"Accept-Language": "de"}):
        make_report(text="Die Erstattung dauerte Wochen.", name="Jonas", email="jonas@example.de", problem=first.problem)
    problem = first.problem
    services.assign_owner(problem, dana, dana)
    services.record_change(problem, dana, what=CHANGE, since=utcnow().date())
    db.session.commit()
    auth.login(dana)
    response = client.post(f"/problems/{problem.id}/publish", data={
        "public_title": "Faster refunds", "public_summary": "Three days now.", "note": "Thanks!", "preview": "1"})
    text = page(response)
    assert "To Ann" in text and "To Jonas" in text
    assert "Refund took weeks." in text and "Die Erstattung dauerte Wochen." in text
    assert text.count('class="recipient"') == 2
    assert db.session.scalar(select(func.count(Message.id)).where(Message.kind == MessageKind.CHANGED)) == 0


# --- finding problems; the queue ----------------------------------------------------------------


def test_find_problems_by_words_or_number(client, auth, make_report, dana):
    parcels = make_report(text="Parcel left in the rain.").problem
    other = make_report(text="Courier left the box outside.").problem
    db.session.commit()
    auth.login(dana)
    by_words = page(client.get(f"/problems/{other.id}", query_string={"q": "rain parcel"}))
    assert f"Merge this problem into #{parcels.id}" in by_words
    by_number = page(client.get(f"/problems/{parcels.id}", query_string={"q": f"#{other.id}"}))
    assert f"Merge this problem into #{other.id}" in by_number
    none = page(client.get(f"/problems/{other.id}", query_string={"q": "zebra"}))
    assert "No problem matches" in none


def test_a_leaders_first_page_starts_with_her_queue(client, auth, owned, dana, sam):
    owned.due_on = utcnow().date() - timedelta(days=1)
    ask_owner(owned, sam, "News?")
    db.session.commit()
    auth.login(dana)
    text = page(client.get("/dashboard"))
    assert text.index('id="queue-h"') < text.index('class="tiles"')
    queue = text[text.index('id="queue-h"'):text.index('class="tiles"')]
    assert "1 overdue" in queue and "Sam Reyes asked you" in queue


# --- invitations -------------------------------------------------------------------------------


class TestInvitations:
    def _invite(self, client, auth, make_user):
        admin = make_user(Role.ADMIN, name="Ada")
        auth.login(admin)
        response = client.post("/admin/users", data={"name": "Omar Farouk", "email": "Omar@Example.org", "role": "leader",
                                                     "password": ""})
        assert response.status_code == 302
        auth.logout()
        mail = db.session.scalar(select(Message).filter_by(kind=MessageKind.INVITATION))
        return admin, mail, re.search(r"(/admin/invitations/\S+)", mail.body_text).group(1)

    def test_a_one_time_link_sets_the_password(self, client, auth, make_user):
        _, mail, link = self._invite(client, auth, make_user)
        token = link.rsplit("/", 1)[1]
        assert mail.to_address == "omar@example.org"
        assert db.session.scalar(select(Invitation)).token_hash != token  # only the hash is kept
        assert auth.login("omar@example.org", "anything-at-all").status_code != 302
        short = client.post(link, data={"password": "short", "confirm": "short"})
        assert short.status_code == 422 and 'id="password-error"' in page(short)
        client.post(link, data={"password": "a long new password", "confirm": "a long new password"})
        assert auth.login("omar@example.org", "a long new password").status_code == 302
        used = client.get(link)
        assert used.status_code == 410 and "already been used" in page(used)

    def test_the_link_expires(self, client, auth, make_user, app):
        _, _, link = self._invite(client, auth, make_user)
        with clock_at(utcnow() + timedelta(hours=app.config["CARELOOP_INVITATION_HOURS"], minutes=1)):
            expired = client.post(link, data={"password": "a long new password", "confirm": "a long new password"})
        assert expired.status_code == 410 and "expired" in page(expired)

    def test_a_new_invitation_replaces_the_old_link(self, client, auth, make_user):
        admin, _, old_link = self._invite(client, auth, make_user)
        omar = db.session.scalar(select(User).filter_by(email="omar@example.org"))
        auth.login(admin)
        client.post(f"/admin/users/{omar.id}/invite")
        auth.logout()
        assert client.get(old_link).status_code == 410
        newest = db.session.scalars(select(Message).filter_by(kind=MessageKind.INVITATION).order_by(Message.id)).all()[-1]
        assert client.get(re.search(r"(/admin/invitations/\S+)", newest.body_text).group(1)).status_code == 200

    def test_with_single_sign_on_the_email_says_how(self, client, auth, make_user, app):
        app.config.update(CARELOOP_OIDC_ISSUER="https://id.example.org", CARELOOP_OIDC_CLIENT_ID="careloop")
        try:
            _, mail, _ = self._invite(client, auth, make_user)
        finally:
            app.config.update(CARELOOP_OIDC_ISSUER="", CARELOOP_OIDC_CLIENT_ID="")
        assert "single sign-on" in mail.body_text and "omar@example.org" in mail.body_text


# --- HTML the checker and assistive technology rely on -------------------------------------------


def test_every_id_appears_once_on_a_busy_problem_page(client, auth, app, owned, dana, sam, make_report):
    make_report(text="Me too.", name="Lee", email="lee@example.net", problem=owned)
    ask_owner(owned, sam, "News?", offer=True)
    db.session.commit()
    auth.login(dana)
    app.config["WTF_CSRF_ENABLED"] = True  # the real tokens, one per form (app_ctx switches it off again)
    text = page(client.get(f"/problems/{owned.id}", query_string={"q": "password"}))
    ids = Counter(re.findall(r'\sid="([^"]+)"', text))
    assert [i for i, n in ids.items() if n > 1] == []
    for control in re.findall(r'<(?:input|textarea|select)\b[^>]*>', text):
        if 'type="hidden"' in control or 'type="checkbox"' in control and "pick-" in control:
            continue
        control_id = re.search(r'\sid="([^"]+)"', control)
        assert control_id and f'for="{control_id.group(1)}"' in text, control
    assert not re.search(r'datetime="[^"]*\.\d+', text)  # no microseconds in <time datetime>
    owner_select = re.search(r'<select[^>]*id="handover-owner"[^>]*>.*?</select>', text, re.S)
    assert owner_select, text[text.index("Hand over"):][:2000]
    owner_select = owner_select.group(0)
    assert '<option selected value="">' in owner_select or 'value="" selected' in owner_select or \
        re.search(r'<option[^>]*value=""[^>]*>', owner_select)
