"""Accounts (the admin page and the command line), signing in and out, demo data,
exports, and CSRF protection."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from app import services
from app.demo import DEMO_LOGINS
from app.extensions import db
from app.models import (
    USER_CREATED,
    USER_UPDATED,
    Channel,
    Comment,
    Event,
    Message,
    MessageStatus,
    Problem,
    Report,
    Reporter,
    Role,
    Status,
    User,
)
from tests.conftest import PASSWORD

GENERIC = "That email and password do not match an active account."
YESTERDAY = date.today() - timedelta(days=1)
CHANGE = "Refunds now go back to the original card within 3 working days, every working day."


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def page(response) -> str:
    return response.get_data(as_text=True)


def fresh(obj):
    db.session.expire_all()
    return db.session.get(type(obj), obj.id)


def user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).filter_by(email=email))


def row_of(text: str, user: User) -> str:
    """The admin table's row for one user (from its update form to the end of the row)."""
    start = text.index(f'action="/admin/users/{user.id}"')
    return text[start:text.index("</tr>", start)]


@pytest.fixture
def admin(make_user):
    return make_user(Role.ADMIN, name="Ada Mensah", email="ada@example.org")


# --- the admin page ---------------------------------------------------------------


class TestAdminUsers:
    def test_only_admins_see_the_page(self, client, auth, make_user, admin):
        assert client.get("/admin/users").status_code == 302  # signed out: to the sign-in page
        for role in (Role.STAFF, Role.LEADER):
            auth.login(make_user(role))
            assert client.get("/admin/users").status_code == 403
            response = client.post("/admin/users", data={"name": "Sneaky", "email": "sneaky@example.org",
                                                         "role": "admin", "password": "long enough password"})
            assert response.status_code == 403
            auth.logout()
        assert user_by_email("sneaky@example.org") is None
        auth.login(admin)
        text = page(client.get("/admin/users"))
        assert "ada@example.org" in text and "Add a person" in text

    def test_admin_creates_an_account_that_can_sign_in(self, client, auth, admin):
        auth.login(admin)
        response = client.post("/admin/users", data={
            "name": "Dana Okafor", "email": "Dana@Example.ORG", "role": "leader",
            "password": "a long first password",
        })
        assert response.status_code == 302
        dana = user_by_email("dana@example.org")
        assert dana is not None and dana.role == Role.LEADER and dana.active
        assert dana.check_password("a long first password")
        event = db.session.scalar(select(Event).where(Event.verb == USER_CREATED, Event.subject_user_id == dana.id))
        assert event.actor_id == admin.id
        assert "Account created for Dana Okafor." in page(client.get("/admin/users"))
        auth.logout()
        response = auth.login("dana@example.org", "a long first password")
        assert response.status_code == 302
        assert response.headers["Location"].endswith("/dashboard")

    @pytest.mark.parametrize("email", ["ada@example.org", "ADA@example.org", "Ada@Example.Org"])
    def test_a_duplicate_email_is_refused_next_to_the_field(self, client, auth, admin, email):
        auth.login(admin)
        before = count(User)
        response = client.post("/admin/users", data={
            "name": "Ada Again", "email": email, "role": "staff", "password": "a long first password",
        })
        assert response.status_code == 422
        text = page(response)
        error_at = text.index('id="email-error"')
        assert "An account with that email already exists." in text[error_at:error_at + 200]
        assert 'value="Ada Again"' in text  # what was typed is kept
        assert count(User) == before

    def test_a_short_password_is_refused_next_to_the_field(self, client, auth, admin):
        auth.login(admin)
        response = client.post("/admin/users", data={
            "name": "Sam Reyes", "email": "sam@example.org", "role": "leader", "password": "short",
        })
        assert response.status_code == 422
        text = page(response)
        error_at = text.index('id="password-error"')
        assert "at least 10 characters" in text[error_at:error_at + 200]
        assert user_by_email("sam@example.org") is None

    def test_admin_changes_a_role(self, client, auth, admin, make_user):
        staff = make_user(Role.STAFF)
        auth.login(admin)
        response = client.post(f"/admin/users/{staff.id}", data={"role": "leader", "active": "y"})
        assert response.status_code == 302
        staff = fresh(staff)
        assert staff.role == Role.LEADER and staff.active
        event = db.session.scalar(select(Event).where(Event.verb == USER_UPDATED))
        assert event.details == {"before": {"role": "staff", "active": True},
                                 "after": {"role": "leader", "active": True}}
        assert event.actor_id == admin.id and event.subject_user_id == staff.id

    def test_a_deactivated_user_cannot_sign_in(self, client, auth, admin, make_user):
        staff = make_user(Role.STAFF, email="frankie@example.org")
        auth.login(admin)
        response = client.post(f"/admin/users/{staff.id}", data={"role": "staff"})  # "active" unticked
        assert response.status_code == 302
        assert fresh(staff).active is False
        assert page(client.get("/admin/users")).count("(deactivated)") == 1
        auth.logout()
        response = auth.login("frankie@example.org")
        assert response.status_code == 422
        assert GENERIC in page(response)
        assert client.get("/staff/report").status_code == 302  # still signed out

    def test_a_signed_in_user_loses_access_when_deactivated(self, client, auth, admin, make_user):
        staff = make_user(Role.STAFF)
        auth.login(staff)
        assert client.get("/staff/report").status_code == 200
        services.update_user(staff, admin, active=False)
        db.session.commit()
        response = client.get("/staff/report")
        assert response.status_code == 302
        assert "/login" in response.headers["Location"]

    @pytest.mark.parametrize("data", [{"role": "leader", "active": "y"}, {"role": "admin"}],
                             ids=["demote-self", "deactivate-self"])
    def test_an_admin_cannot_remove_their_own_admin_access(self, client, auth, admin, data):
        auth.login(admin)
        response = client.post(f"/admin/users/{admin.id}", data=data)
        assert response.status_code == 422
        assert "You cannot remove your own admin access; ask another admin." in page(response)
        admin = fresh(admin)
        assert admin.role == Role.ADMIN and admin.active
        assert count(Event) == 1  # only USER_CREATED

    def test_another_admin_may_demote_an_admin(self, admin, make_user):
        other = make_user(Role.ADMIN)
        services.update_user(other, admin, role=Role.LEADER)
        db.session.commit()
        assert fresh(other).role == Role.LEADER

    def test_a_leader_who_owns_open_problems_cannot_be_demoted(self, client, auth, admin, make_user, make_report):
        leader = make_user(Role.LEADER, name="Dana Okafor")
        problem = make_report().problem
        services.assign_owner(problem, leader, leader)
        db.session.commit()
        auth.login(admin)
        response = client.post(f"/admin/users/{leader.id}", data={"role": "staff", "active": "y"})
        assert response.status_code == 422
        text = page(response)
        assert "Dana Okafor owns 1 open problem; hand it over first." in row_of(text, leader)
        assert fresh(leader).role == Role.LEADER
        # once the problem is changed it is no longer open, and the demotion goes through
        services.record_change(problem, leader, what=CHANGE, since=YESTERDAY)
        db.session.commit()
        response = client.post(f"/admin/users/{leader.id}", data={"role": "staff", "active": "y"})
        assert response.status_code == 302
        assert fresh(leader).role == Role.STAFF

    def test_services_refuse_non_admins(self, make_user):
        leader = make_user(Role.LEADER)
        with pytest.raises(services.PermissionDenied):
            services.create_user(name="X", email="x@example.org", role="staff",
                                 password="long enough pw", actor=leader)
        with pytest.raises(services.PermissionDenied):
            services.update_user(leader, leader, role=Role.ADMIN)

    def test_an_unknown_role_is_refused(self, admin, make_user):
        staff = make_user(Role.STAFF)
        with pytest.raises(services.ServiceError) as error:
            services.update_user(staff, admin, role="owner")
        assert error.value.field == "role"
        with pytest.raises(services.ServiceError) as error:
            services.create_user(name="X", email="x@example.org", role="owner", password="long enough pw")
        assert error.value.field == "role"


# --- signing in and out -----------------------------------------------------------


class TestSignIn:
    def test_sign_in_goes_to_the_right_home(self, client, auth, make_user):
        response = auth.login(make_user(Role.STAFF))
        assert response.status_code == 302
        assert response.headers["Location"].endswith("/staff/report")
        auth.logout()
        response = auth.login(make_user(Role.LEADER))
        assert response.headers["Location"].endswith("/dashboard")

    def test_the_email_is_not_case_sensitive(self, auth, make_user):
        make_user(Role.STAFF, email="frankie@example.org")
        assert auth.login("  FRANKIE@example.org").status_code == 302

    def test_failures_give_one_generic_message(self, client, auth, make_user, admin):
        make_user(Role.STAFF, email="frankie@example.org")
        gone = make_user(Role.STAFF, email="gone@example.org")
        services.update_user(gone, admin, active=False)
        db.session.commit()
        bodies = []
        for email, password in [
            ("frankie@example.org", "wrong password"),  # wrong password
            ("nobody@example.org", PASSWORD),  # no such account
            ("gone@example.org", PASSWORD),  # deactivated
        ]:
            response = auth.login(email, password)
            assert response.status_code == 422
            text = page(response)
            assert text.count(GENERIC) == 1
            start = text.index('<main')
            bodies.append(text[start:].replace(email, "EMAIL"))
        # the pages are the same apart from the email typed: nothing reveals which accounts exist
        assert bodies[0] == bodies[1] == bodies[2]
        assert client.get("/staff/report").status_code == 302

    def test_missing_fields_are_shown_next_to_them(self, client):
        response = client.post("/login", data={"email": "", "password": ""})
        assert response.status_code == 422
        text = page(response)
        assert "Enter your email." in text and "Enter your password." in text

    def test_sign_out(self, client, auth, make_user):
        auth.login(make_user(Role.STAFF))
        assert client.get("/staff/report").status_code == 200
        response = auth.logout()
        assert response.status_code == 302
        assert response.headers["Location"].endswith("/")
        assert "You are signed out." in page(client.get("/"))
        assert client.get("/staff/report").status_code == 302

    def test_sign_out_needs_a_post(self, client, auth, make_user):
        auth.login(make_user(Role.STAFF))
        assert client.get("/logout").status_code == 405
        assert client.get("/staff/report").status_code == 200

    def test_a_protected_page_sends_you_to_sign_in_and_back(self, client, auth, make_user):
        leader = make_user(Role.LEADER)
        response = client.get("/problems/mine")
        assert response.status_code == 302
        assert response.headers["Location"] == "/login?next=%2Fproblems%2Fmine"
        response = client.post("/login?next=%2Fproblems%2Fmine",
                               data={"email": leader.email, "password": PASSWORD})
        assert response.status_code == 302
        assert response.headers["Location"] == "/problems/mine"

    @pytest.mark.parametrize("target", [
        "https://evil.example/steal", "//evil.example/steal", "/\\evil.example", "javascript:alert(1)",
    ])
    def test_next_is_not_followed_off_the_site(self, client, make_user, target):
        staff = make_user(Role.STAFF)
        response = client.post("/login", query_string={"next": target},
                               data={"email": staff.email, "password": PASSWORD})
        assert response.status_code == 302
        assert response.headers["Location"] == "/staff/report"

    def test_signed_in_people_skip_the_form(self, client, auth, make_user):
        auth.login(make_user(Role.LEADER))
        response = client.get("/login")
        assert response.status_code == 302
        assert response.headers["Location"].endswith("/dashboard")


# --- CSRF -------------------------------------------------------------------------


def test_a_post_without_csrf_token_is_refused_and_saves_nothing(app, client):
    app.config["WTF_CSRF_ENABLED"] = True  # the app_ctx fixture turns it off again
    form = client.get("/")
    assert 'name="csrf_token"' in page(form)
    response = client.post("/", data={"text": "The lift is broken again."})
    assert response.status_code == 400
    assert "nothing was saved" in page(response)
    assert count(Report) == count(Reporter) == count(Problem) == count(Event) == 0


def test_a_post_with_the_csrf_token_is_accepted(app, client):
    app.config["WTF_CSRF_ENABLED"] = True
    app.extensions["careloop.pagecache"].clear()  # pages cached while CSRF was off carry no token
    text = page(client.get("/"))
    marker = 'name="csrf_token" type="hidden" value="'
    start = text.index(marker) + len(marker)
    token = text[start:text.index('"', start)]
    response = client.post("/", data={"text": "The lift is broken again.", "csrf_token": token})
    assert response.status_code == 302
    assert count(Report) == 1


# --- the command line: accounts ---------------------------------------------------


class TestUsersCommand:
    def test_create_a_user(self, runner):
        result = runner.invoke(args=["users", "create", "--name", "Dana Okafor", "--email", "Dana@Example.org",
                                     "--role", "leader", "--password", "a long first password"])
        assert result.exit_code == 0, result.output
        assert "Created leader Dana Okafor <dana@example.org>." in result.output
        assert "Password:" not in result.output
        dana = user_by_email("dana@example.org")
        assert dana.role == Role.LEADER
        assert dana.check_password("a long first password")
        event = db.session.scalar(select(Event).where(Event.verb == USER_CREATED))
        assert event.subject_user_id == dana.id and event.actor_id is None

    def test_a_generated_password_is_printed_and_works(self, runner, auth):
        result = runner.invoke(args=["users", "create", "--name", "Frankie Hall", "--email", "frankie@example.org"])
        assert result.exit_code == 0, result.output
        password = result.output.split("Password: ", 1)[1].strip()
        assert len(password) >= 10
        assert user_by_email("frankie@example.org").role == Role.STAFF  # the default role
        assert auth.login("frankie@example.org", password).status_code == 302

    def test_a_duplicate_is_refused(self, runner, make_user):
        make_user(Role.STAFF, email="frankie@example.org")
        result = runner.invoke(args=["users", "create", "--name", "Frankie Again",
                                     "--email", "FRANKIE@example.org", "--password", "a long first password"])
        assert result.exit_code == 1
        assert "An account with that email already exists." in result.output
        assert count(User) == 1

    def test_a_short_password_is_refused(self, runner):
        result = runner.invoke(args=["users", "create", "--name", "Sam", "--email", "sam@example.org",
                                     "--password", "short"])
        assert result.exit_code == 1
        assert "at least 10 characters" in result.output
        assert count(User) == 0

    def test_an_unknown_role_is_refused(self, runner):
        result = runner.invoke(args=["users", "create", "--name", "Sam", "--email", "sam@example.org",
                                     "--role", "owner", "--password", "a long first password"])
        assert result.exit_code == 2
        assert "owner" in result.output
        assert count(User) == 0

    def test_an_invalid_email_is_refused(self, runner):
        result = runner.invoke(args=["users", "create", "--name", "Sam", "--email", "not an email",
                                     "--password", "a long first password"])
        assert result.exit_code == 1
        assert count(User) == 0


# --- the command line: demo data -------------------------------------------------


def _snapshot():
    return {model.__name__: count(model) for model in (User, Reporter, Report, Problem, Event, Comment)}


class TestDemoData:
    def test_demo_data_tells_the_whole_story(self, runner):
        result = runner.invoke(args=["demo-data"])
        assert result.exit_code == 0, result.output
        assert "Demo data loaded." in result.output
        for role, email, password in DEMO_LOGINS:
            assert email in result.output
            user = user_by_email(email)
            assert user.role == role and user.check_password(password)
        assert 25 <= count(Report) <= 35
        assert 6 <= count(Problem) <= 10
        statuses = set(db.session.scalars(select(Problem.status)))
        assert statuses == set(Status)
        published = db.session.scalars(select(Problem).where(Problem.published_at.is_not(None))).all()
        assert len(published) >= 2
        assert all(p.status == Status.CHANGED for p in published)
        assert any(p.handoff_count >= 1 for p in db.session.scalars(select(Problem)))
        # every problem has reports, and people affected are counted per person
        for problem in db.session.scalars(select(Problem)):
            assert problem.reports
            assert 1 <= problem.people_affected <= len(problem.reports)
        # every message the demo's story writes could be built (a failed one means a person untold)
        failed = db.session.scalars(select(Message).where(Message.status == MessageStatus.FAILED)).all()
        assert [m.last_error for m in failed] == []

    def test_demo_data_shows_on_the_public_pages(self, runner, client):
        runner.invoke(args=["demo-data"])
        listing = page(client.get("/changes"))
        assert "Refunds reach your card within 3 working days" in listing
        assert "No more cut-off calls on hold" in listing
        assert "Maria Lopez" not in listing

    def test_a_second_run_changes_nothing(self, runner):
        assert runner.invoke(args=["demo-data"]).exit_code == 0
        before = _snapshot()
        result = runner.invoke(args=["demo-data"])
        assert result.exit_code == 0, result.output
        assert "Demo data was already there; nothing changed." in result.output
        assert _snapshot() == before


# --- the command line: exports ---------------------------------------------------

REPORT_KEYS = {"id", "problem_id", "source", "external_id", "channel", "text", "created_at", "reporter", "filed_by"}
PROBLEM_KEYS = {"id", "title", "status", "owner", "people_affected", "report_ids", "change", "published_at"}


def _lines(result) -> list[dict]:
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines() if line.strip()]


class TestExport:
    def test_export_reports(self, runner, make_user):
        staff = make_user(Role.STAFF, name="Frankie Hall", email="frankie@example.org")
        customer = services.new_reporter(name="Zoë Ünicode", email="zoe@example.net", contact_ok=True)
        first = services.file_report(text="Refund late — “five weeks”.", reporter=customer,
                                     channel=Channel.STAFF, filed_by=staff)
        services.file_report(text="Imported ticket.", reporter=services.new_reporter(), channel=Channel.IMPORT,
                             source="zendesk", external_id="4711", problem=first.problem)
        db.session.commit()
        lines = _lines(runner.invoke(args=["export", "reports"]))
        assert len(lines) == 2
        for line in lines:
            assert REPORT_KEYS <= set(line)
            assert {"name", "email", "kind"} <= set(line["reporter"])
        one, two = lines
        assert one["id"] < two["id"]
        assert one["text"] == "Refund late — “five weeks”."
        assert one["channel"] == "staff"
        assert one["problem_id"] == two["problem_id"]
        assert one["reporter"]["name"] == "Zoë Ünicode"
        assert one["reporter"]["email"] == "zoe@example.net"
        assert one["reporter"]["kind"] == "customer"
        assert one["filed_by"]["email"] == "frankie@example.org"
        assert one["source"] is None and one["external_id"] is None
        assert date.fromisoformat(one["created_at"][:10])
        assert (two["source"], two["external_id"], two["channel"]) == ("zendesk", "4711", "import")
        assert two["filed_by"] is None and two["reporter"]["name"] is None

    def test_export_problems(self, runner, make_user, make_report):
        leader = make_user(Role.LEADER, name="Dana Okafor")
        first = make_report(text="Refund late.", name="A", email="a@example.net")
        make_report(text="Refund also late.", name="B", email="b@example.net", problem=first.problem)
        services.file_report(text="Me again.", reporter=first.reporter, problem=first.problem)
        open_problem = make_report(text="Parcel left in the rain.").problem
        problem = first.problem
        services.assign_owner(problem, leader, leader)
        services.record_change(problem, leader, what=CHANGE, since=YESTERDAY,
                               evidence_url="https://example.org/notes")
        services.publish(problem, leader, public_title="Faster refunds", public_summary="3 days now.")
        db.session.commit()

        lines = _lines(runner.invoke(args=["export", "problems"]))
        assert len(lines) == 2
        for line in lines:
            assert PROBLEM_KEYS <= set(line)
        changed, new = lines
        assert changed["id"] == problem.id and new["id"] == open_problem.id
        assert changed["status"] == "changed"
        assert changed["owner"]["name"] == "Dana Okafor"
        assert changed["people_affected"] == 2  # three reports from two people
        assert len(changed["report_ids"]) == 3
        assert set(changed["report_ids"]) == {r.id for r in fresh(problem).reports}
        assert changed["change"]["what"] == CHANGE
        assert changed["change"]["since"] == YESTERDAY.isoformat()
        assert changed["change"]["evidence_url"] == "https://example.org/notes"
        assert changed["published_at"] is not None
        assert new["status"] == "new" and new["owner"] is None and new["change"] is None
        assert new["published_at"] is None and new["people_affected"] == 1

    def test_export_of_an_empty_database_is_empty(self, runner):
        assert _lines(runner.invoke(args=["export", "reports"])) == []
        assert _lines(runner.invoke(args=["export", "problems"])) == []

    def test_export_pages_through_many_reports(self, runner, app_ctx):
        from app.queries.export import iter_reports

        reporter = services.new_reporter(name="Many")
        problem = None
        for n in range(7):
            problem = services.file_report(text=f"Report {n}.", reporter=reporter, problem=problem).problem
        db.session.commit()
        ids = [line["id"] for line in iter_reports(batch=3)]
        assert len(ids) == 7 and ids == sorted(ids)
