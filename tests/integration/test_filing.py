"""Filing reports: the public form, staff filing for a customer or for themselves, the
reporter's private page, and what never reaches the public pages."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app import services
from app.extensions import db
from app.models import (
    PROBLEM_CREATED,
    REPORT_FILED,
    USER_CREATED,
    USER_UPDATED,
    Channel,
    Event,
    Problem,
    Report,
    Reporter,
    ReporterKind,
    Role,
    Status,
)

YESTERDAY = date.today() - timedelta(days=1)
CHANGE = "Refunds now go back to the original card within 3 working days, every working day."


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def nothing_saved() -> bool:
    """No report, reporter or problem, and no audit event about one (accounts may exist)."""
    report_events = db.session.scalar(
        select(func.count(Event.id)).where(Event.verb.not_in((USER_CREATED, USER_UPDATED)))
    )
    return count(Report) == count(Reporter) == count(Problem) == report_events == 0


def page(response) -> str:
    return response.get_data(as_text=True)


def only(model):
    rows = db.session.scalars(select(model)).all()
    assert len(rows) == 1, rows
    return rows[0]


# --- the public form --------------------------------------------------------------


class TestPublicForm:
    def test_the_form_is_offered(self, client):
        response = client.get("/")
        assert response.status_code == 200
        text = page(response)
        assert "Tell us what isn't working" in text
        assert 'name="text"' in text and 'name="email"' in text

    def test_filing_stores_the_report_and_starts_a_problem(self, client):
        response = client.post("/", data={
            "text": "  The lift at the station is broken again.  ",
            "location": "branch visit",
            "occurred_on": YESTERDAY.isoformat(),
            "impact": "I had to carry my pram up the stairs.",
            "name": "Maria Lopez",
            "email": "Maria@Example.NET",
            "contact_ok": "y",
        })
        assert response.status_code == 302
        report = only(Report)
        reporter = report.reporter
        assert response.headers["Location"].endswith(f"/r/{reporter.token}/thanks")
        assert report.text == "The lift at the station is broken again."
        assert report.channel == Channel.WEB
        assert report.occurred_on == YESTERDAY
        assert report.impact == "I had to carry my pram up the stairs."
        assert report.filed_by_id is None
        assert (reporter.display_name, reporter.email, reporter.contact_ok, reporter.kind) == (
            "Maria Lopez", "maria@example.net", True, ReporterKind.CUSTOMER)
        assert len(reporter.token) >= 40
        problem = report.problem
        assert problem.status == Status.NEW and problem.owner_id is None
        assert problem.title == "The lift at the station is broken again."
        assert problem.area == "Branch visit"  # matched to a configured area
        verbs = [e.verb for e in db.session.scalars(select(Event).order_by(Event.id))]
        assert verbs == [PROBLEM_CREATED, REPORT_FILED]

    def test_the_thanks_page_gives_the_private_link(self, client):
        response = client.post("/", data={"text": "Parcel left in the rain."})
        reporter = only(Reporter)
        thanks = client.get(response.headers["Location"])
        assert thanks.status_code == 200
        assert f"http://careloop.test/r/{reporter.token}" in page(thanks)
        assert thanks.headers["Cache-Control"] == "no-store"
        assert thanks.headers["Referrer-Policy"] == "no-referrer"

    def test_anonymous_filing_is_allowed(self, client):
        assert client.post("/", data={"text": "No name given."}).status_code == 302
        reporter = only(Reporter)
        assert reporter.display_name is None and reporter.email is None
        assert reporter.contact_ok is False

    def test_public_filings_never_share_a_reporter(self, client):
        # Two different problems (two near-identical texts would be grouped into one).
        for words in ("The lift in block B is stuck again.", "Nobody answers the phone line after 5pm."):
            client.post("/", data={"text": words, "name": "Maria", "email": "maria@example.net"})
        assert count(Reporter) == 2
        assert count(Problem) == 2

    def test_empty_text_is_refused(self, client):
        response = client.post("/", data={"text": "   ", "name": "Maria"})
        assert response.status_code == 422
        assert 'id="text-error"' in page(response)
        assert nothing_saved()

    def test_text_over_the_limit_is_refused_and_kept(self, client, app):
        limit = app.config["CARELOOP_MAX_REPORT_CHARS"]
        words = ("The refund never arrived. " * (limit // 20))[:limit].rstrip()
        words += "!" * (limit + 1 - len(words))
        assert len(words) == limit + 1
        response = client.post("/", data={"text": words, "name": "Maria Lopez", "email": "maria@example.net"})
        assert response.status_code == 422
        text = page(response)
        error_at = text.index('id="text-error"')
        message = text[error_at:text.index("</p>", error_at)]
        assert f"{limit + 1:,} characters long; the limit is {limit:,}" in message
        assert "nothing has been saved yet" in message
        assert words in text  # the person's words are still in the textarea
        assert 'value="Maria Lopez"' in text
        assert nothing_saved()

    def test_the_limit_itself_is_accepted(self, client, app, monkeypatch):
        monkeypatch.setitem(app.config, "CARELOOP_MAX_REPORT_CHARS", 50)
        assert client.post("/", data={"text": "x" * 50}).status_code == 302
        response = client.post("/", data={"text": "y" * 51})
        assert response.status_code == 422
        assert "51 characters long; the limit is 50" in page(response)
        assert count(Report) == 1

    def test_consent_without_email_is_refused_next_to_the_email(self, client):
        response = client.post("/", data={"text": "The lift is broken.", "name": "Maria", "contact_ok": "y"})
        assert response.status_code == 422
        text = page(response)
        error_at = text.index('id="email-error"')
        assert "Give an email address so we can tell you what changed." in text[error_at:error_at + 200]
        assert text.index('name="email"', error_at) > error_at
        assert "The lift is broken." in text
        assert nothing_saved()

    def test_a_malformed_email_is_refused(self, client):
        response = client.post("/", data={"text": "The lift is broken.", "email": "not-an-email"})
        assert response.status_code == 422
        assert "That does not look like an email address." in page(response)
        assert nothing_saved()

    def test_a_future_date_is_refused(self, client):
        tomorrow = date.today() + timedelta(days=2)
        response = client.post("/", data={"text": "It will break.", "occurred_on": tomorrow.isoformat()})
        assert response.status_code == 422
        assert 'id="occurred_on-error"' in page(response)
        assert nothing_saved()

    def test_a_nul_character_is_refused(self, client):
        response = client.post("/", data={"text": "Broken\x00 text"})
        assert response.status_code == 422
        assert "NUL" in page(response)
        assert nothing_saved()


# --- staff filing -----------------------------------------------------------------


class TestStaffForm:
    def test_staff_must_sign_in(self, client):
        response = client.get("/staff/report")
        assert response.status_code == 302
        assert "/login" in response.headers["Location"]
        assert client.post("/staff/report", data={"text": "x", "on_behalf": "self"}).status_code == 302
        assert nothing_saved()

    def test_on_behalf_of_a_customer(self, client, auth, make_user):
        staff = make_user(Role.STAFF, name="Frankie Hall")
        auth.login(staff)
        response = client.post("/staff/report", data={
            "on_behalf": "customer",
            "customer_name": "Aisha Khan",
            "customer_email": "Aisha@Example.net",
            "customer_contact_ok": "y",
            "text": "Customer at the counter: her refund has taken a month.",
            "location": "Billing",
        })
        assert response.status_code == 302
        assert response.headers["Location"].endswith("/staff/reports")
        report = only(Report)
        assert report.channel == Channel.STAFF
        assert report.filed_by_id == staff.id
        reporter = report.reporter
        assert reporter.display_name == "Aisha Khan"
        assert reporter.email == "aisha@example.net"
        assert reporter.kind == ReporterKind.CUSTOMER
        assert reporter.contact_ok is True
        assert reporter.user_id is None
        event = db.session.scalar(select(Event).where(Event.verb == REPORT_FILED))
        assert event.actor_id == staff.id

    def test_a_customer_needs_a_name(self, client, auth, make_user):
        auth.login(make_user(Role.STAFF))
        response = client.post("/staff/report", data={"on_behalf": "customer", "text": "Refund late."})
        assert response.status_code == 422
        assert 'id="customer_name-error"' in page(response)
        assert nothing_saved()

    def test_customer_consent_without_email_is_refused_next_to_the_email(self, client, auth, make_user):
        auth.login(make_user(Role.STAFF))
        response = client.post("/staff/report", data={
            "on_behalf": "customer", "customer_name": "Aisha Khan", "customer_contact_ok": "y",
            "text": "Refund taking a month.",
        })
        assert response.status_code == 422
        text = page(response)
        error_at = text.index('id="customer_email-error"')
        assert "Give an email address so we can tell you what changed." in text[error_at:error_at + 200]
        assert "Refund taking a month." in text
        assert 'value="Aisha Khan"' in text
        assert nothing_saved()

    def test_for_myself_links_one_reporter_to_the_account(self, client, auth, make_user):
        staff = make_user(Role.STAFF, name="Frankie Hall")
        auth.login(staff)
        for words in ("The rota app logs me out every shift.", "The staff toilet lock is broken."):
            response = client.post("/staff/report", data={"on_behalf": "self", "text": words})
            assert response.status_code == 302
        reports = db.session.scalars(select(Report).order_by(Report.id)).all()
        assert len(reports) == 2
        reporter = only(Reporter)  # reused, not one per report
        assert reports[0].reporter_id == reports[1].reporter_id == reporter.id
        assert reporter.user_id == staff.id
        assert reporter.kind == ReporterKind.STAFF
        assert reporter.display_name == "Frankie Hall"
        assert reporter.email == staff.email
        assert all(r.filed_by_id == staff.id and r.channel == Channel.STAFF for r in reports)

    def test_a_reporter_filed_for_myself_counts_once_per_problem(self, client, auth, make_user):
        staff = make_user(Role.STAFF)
        auth.login(staff)
        client.post("/staff/report", data={"on_behalf": "self", "text": "Rota app logs me out."})
        problem = only(Problem)
        services.file_report(text="Still logging me out.", reporter=only(Reporter),
                             channel=Channel.STAFF, filed_by=staff, problem=problem)
        db.session.commit()
        assert problem.people_affected == 1

    def test_over_the_limit_is_refused_and_kept(self, client, auth, make_user, app, monkeypatch):
        monkeypatch.setitem(app.config, "CARELOOP_MAX_REPORT_CHARS", 40)
        auth.login(make_user(Role.STAFF))
        words = "The card reader at the desk rejects every contactless card."
        response = client.post("/staff/report", data={"on_behalf": "customer", "customer_name": "Tom", "text": words})
        assert response.status_code == 422
        text = page(response)
        assert f"{len(words)} characters long; the limit is 40" in text
        assert words in text
        assert nothing_saved()

    def test_my_reports_lists_them_with_their_status(self, client, auth, make_user, make_report):
        staff = make_user(Role.STAFF, name="Frankie Hall")
        leader = make_user(Role.LEADER, name="Dana Okafor")
        colleague = make_user(Role.STAFF, name="Omar Farouk")
        auth.login(staff)
        assert "You haven't filed any reports yet." in page(client.get("/staff/reports"))
        client.post("/staff/report", data={"on_behalf": "customer", "customer_name": "Aisha Khan",
                                     "text": "Customer's refund took a month."})
        client.post("/staff/report", data={"on_behalf": "self", "text": "Rota app logs me out."})
        # someone else's filing and a public report are not "mine"
        services.file_report(text="Omar's customer says calls drop.", channel=Channel.STAFF,
                             reporter=services.new_reporter(name="Raj"), filed_by=colleague)
        make_report(text="A public report about parcels.")
        db.session.commit()
        refund = db.session.scalar(select(Report).where(Report.text.like("Customer's refund%")))
        services.assign_owner(refund.problem, leader, leader)
        db.session.commit()

        text = page(client.get("/staff/reports"))
        assert "Customer&#39;s refund took a month." in text
        assert "Rota app logs me out." in text
        assert "Omar&#39;s customer" not in text and "public report about parcels" not in text
        rows = text.split('<li class="card report-card">')[1:]
        assert len(rows) == 2
        refund_row = next(r for r in rows if "refund took a month" in r)
        rota_row = next(r for r in rows if "Rota app" in r)
        assert "Aisha Khan" in refund_row and "Owned" in refund_row and "Dana Okafor" in refund_row
        assert "for me" in rota_row
        assert "New, waiting for an owner" in rota_row and "Not owned yet" in rota_row


# --- escaping ---------------------------------------------------------------------

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def test_a_script_in_a_report_is_shown_escaped(client, auth, make_user):
    client.post("/", data={"text": f"Broken form {SCRIPT}", "name": f"Eve {SCRIPT}",
                           "location": SCRIPT, "impact": SCRIPT, "email": "eve@example.net"})
    reporter = only(Reporter)
    problem = only(Problem)
    mine = page(client.get(f"/r/{reporter.token}"))
    assert SCRIPT not in mine
    assert f"Broken form {ESCAPED}" in mine
    assert f"Eve {ESCAPED}" in mine

    leader = make_user(Role.LEADER)
    auth.login(leader)
    for url in (f"/problems/{problem.id}", "/triage", "/problems"):
        text = page(client.get(url))
        assert SCRIPT not in text, url
        assert ESCAPED in text, url


# --- the reporter's private page --------------------------------------------------


class TestPrivatePage:
    def test_shows_only_that_reporters_reports(self, client, make_report):
        mine = make_report(text="My refund is five weeks late.", name="Maria Lopez", email="maria@example.net")
        theirs = make_report(text="Tom's secret: my account number is 1234.", name="Tom Becker",
                             email="tom@example.net", problem=mine.problem)
        response = client.get(f"/r/{mine.reporter.token}")
        assert response.status_code == 200
        text = page(response)
        assert "My refund is five weeks late." in text
        assert "Maria Lopez" in text
        assert "account number is 1234" not in text
        assert "Tom Becker" not in text and "tom@example.net" not in text
        other = page(client.get(f"/r/{theirs.reporter.token}"))
        assert "account number is 1234" in other
        assert "My refund is five weeks late." not in other
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["X-Robots-Tag"] == "noindex"

    def test_shows_the_owner_and_what_changed(self, client, make_report, make_user):
        report = make_report(text="Refund late.")
        leader = make_user(Role.LEADER, name="Dana Okafor")
        token = report.reporter.token
        assert "Waiting for someone to take ownership." in page(client.get(f"/r/{token}"))
        services.assign_owner(report.problem, leader, leader)
        db.session.commit()
        assert "Dana Okafor owns this problem" in page(client.get(f"/r/{token}"))
        services.record_change(report.problem, leader, what=CHANGE, since=YESTERDAY)
        db.session.commit()
        text = page(client.get(f"/r/{token}"))
        assert CHANGE in text
        assert "Changed" in text

    def test_shows_the_decline_reason(self, client, make_report, make_user):
        report = make_report(text="Open on Sundays please.")
        leader = make_user(Role.LEADER)
        reason = "We cannot staff Sundays safely; video appointments now run until 8pm."
        services.decline(report.problem, leader, reason)
        db.session.commit()
        text = page(client.get(f"/r/{report.reporter.token}"))
        assert "Our answer" in text and reason in text

    @pytest.mark.parametrize("token", ["not-a-token", "x" * 43, "y" * 200])
    def test_unknown_token_is_404(self, client, make_report, token):
        make_report()
        assert client.get(f"/r/{token}").status_code == 404
        assert client.get(f"/r/{token}/thanks").status_code == 404


# --- nothing private on the public pages ------------------------------------------


def test_public_pages_never_show_report_text_or_reporters(client, make_report, make_user):
    leader = make_user(Role.LEADER, name="Dana Okafor")
    first = make_report(text="Zebra-words: my card 4929 was charged twice.", name="Quentin Private",
                        email="quentin.private@example.net", location="Billing",
                        impact="Overdraft fees of 35 pounds.")
    make_report(text="Okapi-words: same for me.", name="Rosalind Hidden",
                email="rosalind@example.net", problem=first.problem)
    problem = first.problem
    services.edit_problem(problem, leader, title="Internal: double charges (Quentin)", area="Billing", due_on=None)
    services.assign_owner(problem, leader, leader)
    services.add_comment(problem, leader, "Internal-note-words about Quentin.")
    services.record_change(problem, leader, what=CHANGE, since=YESTERDAY)
    services.publish(problem, leader, public_title="Card payments are charged once",
                     public_summary="People told us they were charged twice. That is fixed.")
    db.session.commit()

    pages = {url: client.get(url) for url in ("/changes", f"/changes/{problem.id}", "/changes.atom", "/")}
    for url, response in pages.items():
        assert response.status_code == 200, url
        text = page(response)
        assert "Card payments are charged once" in text, url  # the published change is there ...
        for private in ("Zebra-words", "Okapi-words", "4929", "Quentin", "quentin.private",
                        "Rosalind", "rosalind@example.net", "Overdraft", "Internal-note-words",
                        "Internal: double charges", "maria@example.net"):
            assert private not in text, (url, private)  # ... but nobody's words or name
    assert "2 people" in page(pages[f"/changes/{problem.id}"])


# --- imported reports: one row per (source, external_id) --------------------------


class TestExternalIds:
    def test_the_database_refuses_a_duplicate_source_and_external_id(self, app_ctx):
        reporter = services.new_reporter(name="Zen Desk")
        services.file_report(text="From Zendesk.", reporter=reporter, channel=Channel.IMPORT,
                             source="zendesk", external_id="4711")
        db.session.commit()
        problem = only(Problem)
        # bypass the service: the constraint itself must hold
        db.session.add(Report(text="Same ticket again.", channel=Channel.IMPORT, source="zendesk",
                              external_id="4711", reporter=reporter, problem=problem))
        with pytest.raises(IntegrityError):
            db.session.flush()
        db.session.rollback()
        assert count(Report) == 1

    def test_the_service_is_refused_too(self, app_ctx):
        for n in range(2):
            reporter = services.new_reporter(name="Zen Desk")
            if n == 0:
                services.file_report(text="First.", reporter=reporter, source="zendesk", external_id="1")
                db.session.commit()
            else:
                with pytest.raises(IntegrityError):
                    services.file_report(text="Again.", reporter=reporter, source="zendesk", external_id="1")
                db.session.rollback()
        assert count(Report) == 1
        assert count(Problem) == 1

    def test_the_same_id_from_another_source_is_fine(self, app_ctx):
        for source in ("zendesk", "jira"):
            services.file_report(text=f"From {source}.", reporter=services.new_reporter(),
                                 source=source, external_id="1")
        db.session.commit()
        assert count(Report) == 2

    def test_reports_without_a_source_do_not_collide(self, app_ctx, make_report):
        make_report(text="One.")
        make_report(text="Two.")
        assert count(Report) == 2

    def test_a_source_needs_an_external_id(self, app_ctx):
        with pytest.raises(services.ServiceError, match="both a source and an external id"):
            services.file_report(text="Half.", reporter=services.new_reporter(), source="zendesk")
