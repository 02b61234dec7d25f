"""A problem's life: ownership, handovers, the change, declining, reopening, publishing,
regrouping reports, and the audit trail every step leaves behind.

Each rule is checked through the service (what the CLI, API and importers use) and
through the leaders' pages (what a person uses)."""

from __future__ import annotations

from datetime import date, timedelta
from html import escape

import pytest
from sqlalchemy import func, select

from app import services
from app.extensions import db
from app.models import (
    CHANGE_RECORDED,
    COMMENTED,
    DECLINED,
    HANDED_OVER,
    PROBLEM_CREATED,
    PROBLEM_EDITED,
    PUBLISHED,
    REOPENED,
    REPORT_MOVED,
    STATUS_CHANGED,
    TOOK_OWNERSHIP,
    UNPUBLISHED,
    AppendOnlyError,
    Comment,
    Event,
    Problem,
    Report,
    Role,
    Status,
    User,
)
from app.services.errors import PermissionDenied, ServiceError

YESTERDAY = date.today() - timedelta(days=1)
CHANGE = (
    "Refunds now go back to the original card within 3 working days; the refund batch "
    "runs every working day instead of once a week."
)
APOLOGY = "We are so sorry for the inconvenience. We will look into it and hope to fix it soon."
DECLINE_REASON = "We cannot open on Sundays this year; video appointments now run until 8pm."


# --- helpers ----------------------------------------------------------------------


def fresh(obj):
    """The row as the database has it now (the view committed in the same session)."""
    db.session.expire_all()
    return db.session.get(type(obj), obj.id)


def events(problem: Problem | int, verb: str | None = None) -> list[Event]:
    problem_id = problem if isinstance(problem, int) else problem.id
    query = select(Event).where(Event.problem_id == problem_id).order_by(Event.id)
    if verb:
        query = query.where(Event.verb == verb)
    return list(db.session.scalars(query))


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def page(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def leader(make_user):
    return make_user(Role.LEADER, name="Dana Okafor")


@pytest.fixture
def other_leader(make_user):
    return make_user(Role.LEADER, name="Sam Reyes")


@pytest.fixture
def admin(make_user):
    return make_user(Role.ADMIN, name="Ada Mensah")


@pytest.fixture
def staff(make_user):
    return make_user(Role.STAFF, name="Frankie Hall")


@pytest.fixture
def problem(make_report) -> Problem:
    return make_report().problem


def owned_by(problem: Problem, owner: User) -> Problem:
    services.assign_owner(problem, owner, owner)
    db.session.commit()
    return problem


def changed_by(problem: Problem, owner: User) -> Problem:
    if problem.owner_id is None:
        owned_by(problem, owner)
    services.record_change(problem, owner, what=CHANGE, since=YESTERDAY)
    db.session.commit()
    return problem


def published_by(problem: Problem, owner: User, title="Refunds reach your card in 3 days") -> Problem:
    changed_by(problem, owner)
    services.publish(problem, owner, public_title=title,
                     public_summary="You told us refunds took weeks. They now take 3 working days.")
    db.session.commit()
    return problem


# --- taking ownership -------------------------------------------------------------


class TestTakeOwnership:
    def test_a_leader_takes_an_unowned_problem(self, problem, leader):
        services.assign_owner(problem, leader, leader)
        db.session.commit()
        problem = fresh(problem)
        assert problem.owner_id == leader.id
        assert problem.status == Status.OWNED
        took = events(problem, TOOK_OWNERSHIP)
        assert len(took) == 1
        assert took[0].actor_id == leader.id and took[0].subject_user_id == leader.id
        status = events(problem, STATUS_CHANGED)
        assert [(e.details["before"], e.details["after"]) for e in status] == [
            ({"status": "new"}, {"status": "owned"})
        ]

    def test_staff_cannot_take_ownership(self, problem, staff):
        with pytest.raises(PermissionDenied):
            services.assign_owner(problem, staff, staff)
        db.session.rollback()
        assert fresh(problem).owner_id is None

    def test_staff_cannot_be_made_owner_even_by_an_admin(self, problem, admin, staff):
        with pytest.raises(ServiceError) as error:
            services.assign_owner(problem, admin, staff)
        assert error.value.field == "owner"
        assert "active leader or admin" in error.value.message

    def test_a_leader_cannot_give_an_unowned_problem_to_someone_else(self, problem, leader, other_leader):
        with pytest.raises(PermissionDenied):
            services.assign_owner(problem, leader, other_leader)

    def test_an_admin_can_give_an_unowned_problem_to_a_leader(self, problem, admin, leader):
        services.assign_owner(problem, admin, leader)
        db.session.commit()
        problem = fresh(problem)
        assert problem.owner_id == leader.id
        assert problem.handoff_count == 0  # giving an unowned problem is not a handover

    def test_the_owner_cannot_take_it_again(self, problem, leader):
        owned_by(problem, leader)
        with pytest.raises(ServiceError, match="already owns this problem"):
            services.assign_owner(problem, leader, leader)

    def test_another_leader_cannot_take_an_owned_problem(self, problem, leader, other_leader):
        owned_by(problem, leader)
        with pytest.raises(PermissionDenied):
            services.assign_owner(problem, other_leader, other_leader)

    def test_via_the_page(self, client, auth, problem, leader):
        auth.login(leader)
        before = page(client.get(f"/problems/{problem.id}"))
        assert "Nobody owns this yet" in before
        response = client.post(f"/problems/{problem.id}/own")
        assert response.status_code == 302
        assert response.headers["Location"].endswith(f"/problems/{problem.id}")
        assert fresh(problem).owner_id == leader.id
        after = page(client.get(f"/problems/{problem.id}"))
        assert "You own this problem now" in after
        assert "Dana Okafor took ownership" in after
        assert "Nobody owns this yet" not in after

    def test_staff_are_refused_by_the_page(self, client, auth, problem, staff):
        auth.login(staff)
        assert client.get(f"/problems/{problem.id}").status_code == 403
        assert client.post(f"/problems/{problem.id}/own").status_code == 403
        assert fresh(problem).owner_id is None
        assert events(problem, TOOK_OWNERSHIP) == []

    def test_signed_out_people_are_sent_to_sign_in(self, client, problem):
        response = client.post(f"/problems/{problem.id}/own")
        assert response.status_code == 302
        assert "/login" in response.headers["Location"]
        assert fresh(problem).owner_id is None

    def test_an_owned_problem_is_refused_by_the_page(self, client, auth, problem, leader, other_leader):
        owned_by(problem, leader)
        auth.login(other_leader)
        assert client.post(f"/problems/{problem.id}/own").status_code == 403
        assert fresh(problem).owner_id == leader.id

    def test_owning_twice_shows_the_message(self, client, auth, problem, leader):
        owned_by(problem, leader)
        auth.login(leader)
        response = client.post(f"/problems/{problem.id}/own")
        assert response.status_code == 422
        assert "Dana Okafor already owns this problem." in page(response)
        assert len(events(problem, TOOK_OWNERSHIP)) == 1

    def test_unknown_problem_is_404(self, client, auth, leader):
        auth.login(leader)
        assert client.get("/problems/999").status_code == 404
        assert client.post("/problems/999/own").status_code == 404


# --- handing over -----------------------------------------------------------------


class TestHandOver:
    def test_the_owner_hands_over_with_a_reason(self, problem, leader, other_leader):
        owned_by(problem, leader)
        services.assign_owner(problem, leader, other_leader, "Sam runs the telephony contract.")
        db.session.commit()
        problem = fresh(problem)
        assert problem.owner_id == other_leader.id
        assert problem.status == Status.OWNED  # a handover keeps the status
        [event] = events(problem, HANDED_OVER)
        assert event.actor_id == leader.id
        assert event.subject_user_id == other_leader.id
        assert event.details["before"] == {"owner": "Dana Okafor", "owner_id": leader.id}
        assert event.details["after"] == {"owner": "Sam Reyes", "owner_id": other_leader.id}
        assert event.details["reason"] == "Sam runs the telephony contract."
        assert problem.handoff_count == 1

    def test_an_admin_may_hand_over_someone_elses_problem(self, problem, leader, other_leader, admin):
        owned_by(problem, leader)
        services.assign_owner(problem, admin, other_leader, "Dana is on leave for a month.")
        db.session.commit()
        assert fresh(problem).owner_id == other_leader.id

    def test_another_leader_may_not(self, problem, leader, other_leader, make_user):
        third = make_user(Role.LEADER)
        owned_by(problem, leader)
        with pytest.raises(PermissionDenied):
            services.assign_owner(problem, other_leader, third, "I think Third should do it.")

    @pytest.mark.parametrize("reason", [None, "", "   "])
    def test_a_reason_is_required(self, problem, leader, other_leader, reason):
        owned_by(problem, leader)
        with pytest.raises(ServiceError) as error:
            services.assign_owner(problem, leader, other_leader, reason)
        assert error.value.field == "reason"
        assert "required" in error.value.message

    def test_the_new_owner_must_be_an_active_leader(self, problem, leader, other_leader, staff, admin):
        owned_by(problem, leader)
        with pytest.raises(ServiceError, match="active leader or admin"):
            services.assign_owner(problem, leader, staff, "Staff cannot own problems.")
        services.update_user(other_leader, admin, active=False)
        db.session.commit()
        with pytest.raises(ServiceError, match="active leader or admin"):
            services.assign_owner(problem, leader, other_leader, "Deactivated people cannot own.")
        db.session.rollback()
        assert fresh(problem).owner_id == leader.id

    def test_each_handover_is_counted_and_shown(self, client, auth, problem, leader, other_leader):
        owned_by(problem, leader)
        auth.login(leader)
        response = client.post(f"/problems/{problem.id}/hand-over",
                               data={"owner": other_leader.id, "reason": "Sam knows the billing system."})
        assert response.status_code == 302
        assert fresh(problem).owner_id == other_leader.id
        assert fresh(problem).handoff_count == 1
        auth.logout()

        auth.login(other_leader)
        text = page(client.get(f"/problems/{problem.id}"))
        assert "Handed over 1 time:" in text
        assert "Dana Okafor → Sam Reyes" in text
        response = client.post(f"/problems/{problem.id}/hand-over",
                               data={"owner": leader.id, "reason": "Back from leave; Dana again."})
        assert response.status_code == 302
        problem = fresh(problem)
        assert problem.owner_id == leader.id
        assert problem.handoff_count == 2
        text = page(client.get(f"/problems/{problem.id}"))
        assert "Handed over 2 times:" in text
        assert "Sam Reyes → Dana Okafor" in text

    def test_missing_reason_is_shown_next_to_the_field(self, client, auth, problem, leader, other_leader):
        owned_by(problem, leader)
        auth.login(leader)
        response = client.post(f"/problems/{problem.id}/hand-over", data={"owner": other_leader.id, "reason": ""})
        assert response.status_code == 422
        text = page(response)
        assert 'id="handover-reason-error"' in text
        assert "The reason for the handover is required." in text
        assert fresh(problem).owner_id == leader.id
        assert events(problem, HANDED_OVER) == []

    def test_the_page_refuses_a_staff_member_as_new_owner(self, client, auth, problem, leader, staff):
        owned_by(problem, leader)
        auth.login(leader)
        response = client.post(f"/problems/{problem.id}/hand-over", data={"owner": staff.id, "reason": "Try it."})
        assert response.status_code == 422
        assert fresh(problem).owner_id == leader.id

    def test_an_admin_gives_an_unowned_problem_to_a_leader_via_the_page(self, client, auth, problem, admin, leader):
        auth.login(admin)
        assert "Give it to a leader" in page(client.get(f"/problems/{problem.id}"))
        response = client.post(f"/problems/{problem.id}/hand-over", data={"owner": leader.id})
        assert response.status_code == 302
        problem = fresh(problem)
        assert problem.owner_id == leader.id and problem.status == Status.OWNED
        assert problem.handoff_count == 0
        assert "Ada Mensah gave ownership to Dana Okafor" in page(client.get(f"/problems/{problem.id}"))

    def test_a_non_owner_leader_is_refused_by_the_page(self, client, auth, problem, leader, other_leader, make_user):
        third = make_user(Role.LEADER)
        owned_by(problem, leader)
        auth.login(other_leader)
        response = client.post(f"/problems/{problem.id}/hand-over", data={"owner": third.id, "reason": "Mine now."})
        assert response.status_code == 403
        assert fresh(problem).owner_id == leader.id


# --- starting work and recording the change ----------------------------------------


class TestStartAndRecordChange:
    def test_start_work(self, problem, leader):
        owned_by(problem, leader)
        services.start_work(problem, leader)
        db.session.commit()
        assert fresh(problem).status == Status.IN_PROGRESS
        assert events(problem, STATUS_CHANGED)[-1].details["after"] == {"status": "in_progress"}

    def test_start_work_needs_the_owner(self, problem, leader, other_leader):
        owned_by(problem, leader)
        with pytest.raises(PermissionDenied):
            services.start_work(problem, other_leader)

    def test_start_work_refused_twice(self, problem, leader):
        owned_by(problem, leader)
        services.start_work(problem, leader)
        with pytest.raises(ServiceError, match="cannot become"):
            services.start_work(problem, leader)

    def test_start_work_via_the_page(self, client, auth, problem, leader):
        owned_by(problem, leader)
        auth.login(leader)
        assert "Start work on a change" in page(client.get(f"/problems/{problem.id}"))
        assert client.post(f"/problems/{problem.id}/start").status_code == 302
        assert fresh(problem).status == Status.IN_PROGRESS
        assert "Marked as being changed." in page(client.get(f"/problems/{problem.id}"))

    @pytest.mark.parametrize("start_first", [False, True], ids=["from-owned", "from-in-progress"])
    def test_record_change(self, problem, leader, start_first):
        owned_by(problem, leader)
        if start_first:
            services.start_work(problem, leader)
        services.record_change(problem, leader, what=f"  {CHANGE}  ", since=YESTERDAY,
                               evidence_url="https://example.org/release-notes/refunds")
        db.session.commit()
        problem = fresh(problem)
        assert problem.status == Status.CHANGED
        assert problem.change_what == CHANGE
        assert problem.change_since == YESTERDAY
        assert problem.change_evidence_url == "https://example.org/release-notes/refunds"
        assert problem.changed_at is not None
        [event] = events(problem, CHANGE_RECORDED)
        assert event.details["what"] == CHANGE
        assert event.details["since"] == YESTERDAY.isoformat()

    @pytest.mark.parametrize("status", [Status.NEW, Status.CHANGED, Status.DECLINED])
    def test_record_change_refused_from_other_statuses(self, problem, admin, status):
        if status != Status.NEW:
            owned_by(problem, admin)
            if status == Status.CHANGED:
                changed_by(problem, admin)
            else:
                services.decline(problem, admin, DECLINE_REASON)
                db.session.commit()
        before = len(events(problem))
        with pytest.raises(ServiceError, match="cannot be marked changed"):
            services.record_change(problem, admin, what=CHANGE, since=YESTERDAY)
        db.session.rollback()
        assert fresh(problem).status == status
        assert len(events(problem)) == before

    def test_record_change_needs_the_owner_or_an_admin(self, problem, leader, other_leader, admin):
        owned_by(problem, leader)
        with pytest.raises(PermissionDenied):
            services.record_change(problem, other_leader, what=CHANGE, since=YESTERDAY)
        services.record_change(problem, admin, what=CHANGE, since=YESTERDAY)
        assert problem.status == Status.CHANGED

    def test_apology_refused_by_the_service(self, problem, leader):
        owned_by(problem, leader)
        with pytest.raises(ServiceError) as error:
            services.record_change(problem, leader, what=APOLOGY, since=YESTERDAY)
        assert error.value.field == "what"
        assert error.value.message.startswith("This only apologises or promises.")

    def test_future_date_refused_by_the_service(self, problem, leader):
        owned_by(problem, leader)
        with pytest.raises(ServiceError) as error:
            services.record_change(problem, leader, what=CHANGE, since=date.today() + timedelta(days=2))
        assert error.value.field == "since"

    def test_evidence_must_be_a_web_link(self, problem, leader):
        owned_by(problem, leader)
        with pytest.raises(ServiceError) as error:
            services.record_change(problem, leader, what=CHANGE, since=YESTERDAY,
                                   evidence_url="javascript:alert(1)")
        assert error.value.field == "evidence_url"

    def test_apology_refused_on_the_page_keeps_the_typed_text(self, client, auth, problem, leader):
        owned_by(problem, leader)
        auth.login(leader)
        typed = APOLOGY + " Sorry <again> & again."
        response = client.post(f"/problems/{problem.id}/change",
                               data={"what": typed, "since": YESTERDAY.isoformat()})
        assert response.status_code == 422
        text = page(response)
        # the message sits next to the "what" field ...
        error_at = text.index('id="what-error"')
        assert "This only apologises or promises." in text[error_at:error_at + 600]
        assert text.index('<textarea', error_at) > error_at
        # ... and the textarea still holds what was typed (escaped)
        assert escape(typed, quote=False) in text
        assert f'value="{YESTERDAY.isoformat()}"' in text
        problem = fresh(problem)
        assert problem.status == Status.OWNED
        assert problem.change_what is None
        assert events(problem, CHANGE_RECORDED) == []

    def test_missing_date_is_shown_next_to_the_date(self, client, auth, problem, leader):
        owned_by(problem, leader)
        auth.login(leader)
        response = client.post(f"/problems/{problem.id}/change", data={"what": CHANGE, "since": ""})
        assert response.status_code == 422
        text = page(response)
        assert 'id="since-error"' in text
        assert "Give the date from which it is different." in text
        assert fresh(problem).status == Status.OWNED

    def test_a_refused_transition_on_the_page_says_why(self, client, auth, problem, leader):
        """A stale page: the problem was declined in another tab, then the change form is sent."""
        owned_by(problem, leader)
        services.decline(problem, leader, DECLINE_REASON)
        db.session.commit()
        auth.login(leader)
        response = client.post(f"/problems/{problem.id}/change",
                               data={"what": CHANGE, "since": YESTERDAY.isoformat()})
        assert response.status_code == 422
        assert "cannot be marked changed" in page(response)
        assert fresh(problem).status == Status.DECLINED

    def test_record_change_via_the_page(self, client, auth, problem, leader):
        owned_by(problem, leader)
        auth.login(leader)
        response = client.post(f"/problems/{problem.id}/change",
                               data={"what": CHANGE, "since": YESTERDAY.isoformat(),
                                     "evidence_url": "https://example.org/notes"})
        assert response.status_code == 302
        assert response.headers["Location"].endswith(f"/problems/{problem.id}#publish")
        problem = fresh(problem)
        assert problem.status == Status.CHANGED
        assert problem.change_evidence_url == "https://example.org/notes"

    def test_a_staff_member_cannot_record_a_change(self, client, auth, problem, leader, staff):
        owned_by(problem, leader)
        auth.login(staff)
        response = client.post(f"/problems/{problem.id}/change",
                               data={"what": CHANGE, "since": YESTERDAY.isoformat()})
        assert response.status_code == 403
        assert fresh(problem).status == Status.OWNED


# --- declining --------------------------------------------------------------------


class TestDecline:
    def test_the_owner_declines_with_a_reason(self, problem, leader):
        owned_by(problem, leader)
        services.decline(problem, leader, f"  {DECLINE_REASON} ")
        db.session.commit()
        problem = fresh(problem)
        assert problem.status == Status.DECLINED
        assert problem.decline_reason == DECLINE_REASON
        [event] = events(problem, DECLINED)
        assert event.details["reason"] == DECLINE_REASON

    @pytest.mark.parametrize("reason", [None, "", "  "])
    def test_a_reason_is_required(self, problem, leader, reason):
        owned_by(problem, leader)
        with pytest.raises(ServiceError) as error:
            services.decline(problem, leader, reason)
        assert error.value.field == "reason"
        assert "required" in error.value.message

    def test_a_short_reason_is_refused(self, problem, leader):
        owned_by(problem, leader)
        with pytest.raises(ServiceError) as error:
            services.decline(problem, leader, "Not doing it.")
        assert error.value.field == "reason"
        assert "at least 30 characters" in error.value.message
        db.session.rollback()
        assert fresh(problem).status == Status.OWNED

    def test_thirty_characters_are_enough(self, problem, leader):
        owned_by(problem, leader)
        services.decline(problem, leader, "x" * 30)
        assert problem.status == Status.DECLINED

    def test_declining_an_unowned_problem_makes_the_decliner_owner(self, problem, leader):
        services.decline(problem, leader, DECLINE_REASON)
        db.session.commit()
        problem = fresh(problem)
        assert problem.status == Status.DECLINED
        assert problem.owner_id == leader.id
        assert [e.verb for e in events(problem)][-4:] == [TOOK_OWNERSHIP, STATUS_CHANGED, STATUS_CHANGED, DECLINED]

    def test_a_refused_decline_of_an_unowned_problem_leaves_no_owner(self, problem, leader):
        with pytest.raises(ServiceError):
            services.decline(problem, leader, "Too short.")
        db.session.rollback()
        problem = fresh(problem)
        assert problem.owner_id is None and problem.status == Status.NEW

    def test_only_the_owner_or_an_admin_declines_an_owned_problem(self, problem, leader, other_leader, admin):
        owned_by(problem, leader)
        with pytest.raises(PermissionDenied):
            services.decline(problem, other_leader, DECLINE_REASON)
        services.decline(problem, admin, DECLINE_REASON)
        assert problem.status == Status.DECLINED
        assert problem.owner_id == leader.id

    def test_staff_cannot_decline(self, problem, staff):
        with pytest.raises(PermissionDenied):
            services.decline(problem, staff, DECLINE_REASON)

    def test_a_changed_problem_cannot_be_declined(self, problem, leader):
        changed_by(problem, leader)
        with pytest.raises(ServiceError, match="cannot be declined"):
            services.decline(problem, leader, DECLINE_REASON)

    def test_short_reason_on_the_page(self, client, auth, problem, leader):
        auth.login(leader)
        response = client.post(f"/problems/{problem.id}/decline", data={"reason": "No."})
        assert response.status_code == 422
        text = page(response)
        assert 'id="decline-reason-error"' in text
        assert "at least 30 characters" in text
        assert "No.</textarea>" in text
        problem = fresh(problem)
        assert problem.status == Status.NEW and problem.owner_id is None

    def test_declining_a_changed_problem_on_the_page_says_why(self, client, auth, problem, leader):
        changed_by(problem, leader)
        auth.login(leader)
        response = client.post(f"/problems/{problem.id}/decline", data={"reason": DECLINE_REASON})
        assert response.status_code == 422
        text = page(response)
        actions = text[text.index('id="actions-h"'):]
        assert "A problem that is “Changed” cannot be declined." in actions
        assert fresh(problem).status == Status.CHANGED

    def test_decline_via_the_page(self, client, auth, problem, leader):
        auth.login(leader)
        response = client.post(f"/problems/{problem.id}/decline", data={"reason": DECLINE_REASON})
        assert response.status_code == 302
        problem = fresh(problem)
        assert problem.status == Status.DECLINED and problem.owner_id == leader.id
        text = page(client.get(f"/problems/{problem.id}"))
        assert "Problem declined." in text
        assert DECLINE_REASON in text


# --- reopening --------------------------------------------------------------------


class TestReopen:
    def test_reopen_a_declined_problem(self, problem, leader):
        owned_by(problem, leader)
        services.decline(problem, leader, DECLINE_REASON)
        services.reopen(problem, leader, "  Staffing changed.  ")
        db.session.commit()
        problem = fresh(problem)
        assert problem.status == Status.OWNED
        assert problem.decline_reason is None
        assert problem.owner_id == leader.id
        [event] = events(problem, REOPENED)
        assert event.details["reason"] == "Staffing changed."
        assert event.details["before"]["decline_reason"] == DECLINE_REASON

    def test_reopen_unpublishes(self, problem, leader, client):
        published_by(problem, leader)
        assert client.get(f"/changes/{problem.id}").status_code == 200
        services.reopen(problem, leader, "The refund batch went back to weekly.")
        db.session.commit()
        problem = fresh(problem)
        assert problem.status == Status.OWNED
        assert problem.published_at is None
        assert problem.changed_at is None
        verbs = [e.verb for e in events(problem)]
        assert verbs[-3:] == [UNPUBLISHED, STATUS_CHANGED, REOPENED]
        assert events(problem, UNPUBLISHED)[0].details["reason"] == "Reopened"
        assert client.get(f"/changes/{problem.id}").status_code == 404
        assert "Refunds reach your card" not in page(client.get("/changes"))
        assert "Refunds reach your card" not in page(client.get("/changes.atom"))

    def test_an_open_problem_cannot_be_reopened(self, problem, leader):
        owned_by(problem, leader)
        with pytest.raises(ServiceError, match="cannot become"):
            services.reopen(problem, leader)

    def test_reopen_needs_the_owner_or_an_admin(self, problem, leader, other_leader, admin):
        changed_by(problem, leader)
        with pytest.raises(PermissionDenied):
            services.reopen(problem, other_leader)
        services.reopen(problem, admin)
        assert problem.status == Status.OWNED

    def test_reopening_an_open_problem_on_the_page_says_why(self, client, auth, problem, leader):
        owned_by(problem, leader)
        auth.login(leader)
        response = client.post(f"/problems/{problem.id}/reopen", data={"reason": "Stale tab"})
        assert response.status_code == 422
        assert "cannot become “Owned”" in page(response)
        assert events(problem, REOPENED) == []

    def test_reopen_via_the_page(self, client, auth, problem, leader):
        published_by(problem, leader)
        auth.login(leader)
        response = client.post(f"/problems/{problem.id}/reopen", data={"reason": "It broke again."})
        assert response.status_code == 302
        problem = fresh(problem)
        assert problem.status == Status.OWNED and problem.published_at is None
        assert client.get(f"/changes/{problem.id}").status_code == 404


# --- publishing -------------------------------------------------------------------


class TestPublish:
    def test_publish_shows_the_change_publicly(self, client, problem, leader):
        assert "Nothing published yet." in page(client.get("/changes"))
        published_by(problem, leader, title="Refunds reach your card in 3 days")
        problem = fresh(problem)
        assert problem.published_at is not None
        [event] = events(problem, PUBLISHED)
        assert event.details["after"]["public_title"] == "Refunds reach your card in 3 days"

        listing = page(client.get("/changes"))
        assert "Refunds reach your card in 3 days" in listing
        assert f'/changes/{problem.id}"' in listing
        detail = client.get(f"/changes/{problem.id}")
        assert detail.status_code == 200
        detail = page(detail)
        assert "Refunds reach your card in 3 days" in detail
        assert "They now take 3 working days." in detail
        assert CHANGE in detail
        assert "Dana Okafor" in detail  # the owner is named publicly
        assert "1 person" in detail
        feed = client.get("/changes.atom")
        assert feed.headers["Content-Type"].startswith("application/atom+xml")
        feed = page(feed)
        assert "<title>Refunds reach your card in 3 days</title>" in feed
        assert f"http://careloop.test/changes/{problem.id}" in feed
        # the home page teases recent changes
        assert "Refunds reach your card in 3 days" in page(client.get("/"))

    def test_unpublish_takes_it_down(self, client, problem, leader):
        published_by(problem, leader)
        services.unpublish(problem, leader, "Wording needs checking")
        db.session.commit()
        problem = fresh(problem)
        assert problem.published_at is None
        assert problem.status == Status.CHANGED  # still changed, just not public
        assert events(problem, UNPUBLISHED)[0].details["reason"] == "Wording needs checking"
        assert "Refunds reach your card" not in page(client.get("/changes"))
        assert client.get(f"/changes/{problem.id}").status_code == 404
        assert "Refunds reach your card" not in page(client.get("/changes.atom"))

    def test_unpublishing_something_unpublished_is_refused(self, problem, leader):
        changed_by(problem, leader)
        with pytest.raises(ServiceError, match="not published"):
            services.unpublish(problem, leader)

    @pytest.mark.parametrize("status", [Status.NEW, Status.OWNED, Status.IN_PROGRESS, Status.DECLINED])
    def test_only_changed_problems_can_be_published(self, client, problem, admin, status):
        if status != Status.NEW:
            owned_by(problem, admin)
        if status == Status.IN_PROGRESS:
            services.start_work(problem, admin)
        if status == Status.DECLINED:
            services.decline(problem, admin, DECLINE_REASON)
        db.session.commit()
        with pytest.raises(ServiceError, match="Only a problem whose change is recorded"):
            services.publish(problem, admin, public_title="T", public_summary="S")
        db.session.rollback()
        assert fresh(problem).published_at is None
        assert client.get(f"/changes/{problem.id}").status_code == 404

    @pytest.mark.parametrize("field", ["public_title", "public_summary"])
    def test_title_and_summary_are_required(self, problem, leader, field):
        changed_by(problem, leader)
        values = {"public_title": "Refunds are faster", "public_summary": "They take 3 days now."}
        values[field] = "  "
        with pytest.raises(ServiceError) as error:
            services.publish(problem, leader, **values)
        assert error.value.field == field

    def test_republishing_updates_the_text_but_keeps_the_date(self, client, problem, leader):
        published_by(problem, leader, title="First wording")
        first_at = fresh(problem).published_at
        services.publish(problem, leader, public_title="Better wording", public_summary="Clearer now.")
        db.session.commit()
        problem = fresh(problem)
        assert problem.published_at == first_at
        assert problem.public_title == "Better wording"
        listing = page(client.get("/changes"))
        assert "Better wording" in listing and "First wording" not in listing

    def test_publish_and_unpublish_via_the_page(self, client, auth, problem, leader):
        changed_by(problem, leader)
        auth.login(leader)
        response = client.post(f"/problems/{problem.id}/publish",
                               data={"public_title": "Calls are no longer cut off",
                                     "public_summary": "The 20-minute limit is gone."})
        assert response.status_code == 302
        assert "Calls are no longer cut off" in page(client.get("/changes"))
        assert "Calls are no longer cut off" in page(client.get("/changes.atom"))
        assert client.get(f"/changes/{problem.id}").status_code == 200

        assert client.post(f"/problems/{problem.id}/unpublish").status_code == 302
        assert "Calls are no longer cut off" not in page(client.get("/changes"))
        assert "Calls are no longer cut off" not in page(client.get("/changes.atom"))
        assert client.get(f"/changes/{problem.id}").status_code == 404

    def test_publishing_an_open_problem_via_the_page_is_refused(self, client, auth, problem, leader):
        owned_by(problem, leader)
        auth.login(leader)
        response = client.post(f"/problems/{problem.id}/publish",
                               data={"public_title": "Too early", "public_summary": "Not changed yet."})
        assert response.status_code == 422
        assert "Only a problem whose change is recorded can be published." in page(response)
        assert fresh(problem).published_at is None
        assert "Too early" not in page(client.get("/changes"))

    def test_another_leader_cannot_publish(self, client, auth, problem, leader, other_leader):
        changed_by(problem, leader)
        auth.login(other_leader)
        response = client.post(f"/problems/{problem.id}/publish",
                               data={"public_title": "Not mine", "public_summary": "Not mine."})
        assert response.status_code == 403
        assert fresh(problem).published_at is None

    def test_changes_are_paginated(self, client, app, make_report, leader, monkeypatch):
        monkeypatch.setitem(app.config, "CARELOOP_CHANGES_PER_PAGE", 2)
        for n in range(3):
            published_by(make_report(text=f"Problem number {n} happened to me today.").problem,
                         leader, title=f"Public change {n}")
        first = page(client.get("/changes"))
        second = page(client.get("/changes?page=2"))
        assert first.count("Public change") == 2 and second.count("Public change") == 1
        assert "Page 1 of 2" in first
        assert client.get("/changes?page=3").status_code == 404


# --- editing and notes ------------------------------------------------------------


class TestEditAndComment:
    def test_any_leader_edits_an_unowned_problem(self, problem, leader):
        services.edit_problem(problem, leader, title="  Card reader rejects contactless  ",
                              area="Branch visit", due_on=date(2031, 1, 31))
        db.session.commit()
        problem = fresh(problem)
        assert (problem.title, problem.area, problem.due_on) == (
            "Card reader rejects contactless", "Branch visit", date(2031, 1, 31))
        [event] = events(problem, PROBLEM_EDITED)
        assert event.details["after"] == {"title": "Card reader rejects contactless",
                                          "area": "Branch visit", "due_on": "2031-01-31"}

    def test_an_unchanged_edit_records_nothing(self, problem, leader):
        services.edit_problem(problem, leader, title=problem.title, area=problem.area, due_on=problem.due_on)
        assert events(problem, PROBLEM_EDITED) == []

    def test_an_owned_problem_is_edited_by_its_owner_only(self, problem, leader, other_leader, admin):
        owned_by(problem, leader)
        with pytest.raises(PermissionDenied):
            services.edit_problem(problem, other_leader, title="Mine now", area=None, due_on=None)
        services.edit_problem(problem, admin, title="Admins may", area=None, due_on=None)
        assert problem.title == "Admins may"

    def test_title_is_required(self, problem, leader):
        with pytest.raises(ServiceError) as error:
            services.edit_problem(problem, leader, title=" ", area=None, due_on=None)
        assert error.value.field == "title"

    def test_staff_cannot_edit(self, problem, staff):
        with pytest.raises(PermissionDenied):
            services.edit_problem(problem, staff, title="Staff edit", area=None, due_on=None)

    def test_edit_via_the_page(self, client, auth, problem, leader):
        auth.login(leader)
        response = client.post(f"/problems/{problem.id}/edit",
                               data={"title": "Contactless refused at the desk", "area": "Billing",
                                     "due_on": "2031-02-01"})
        assert response.status_code == 302
        assert fresh(problem).title == "Contactless refused at the desk"
        text = page(client.get(f"/problems/{problem.id}"))
        assert "<h1 dir=\"auto\">Contactless refused at the desk</h1>" in text
        assert "Due" in text and "1 February 2031" in text

    def test_empty_title_via_the_page_is_shown_next_to_the_field(self, client, auth, problem, leader):
        title = problem.title
        auth.login(leader)
        response = client.post(f"/problems/{problem.id}/edit", data={"title": "", "area": "Billing"})
        assert response.status_code == 422
        assert 'id="edit-title-error"' in page(response)
        assert fresh(problem).title == title

    def test_comment(self, problem, leader):
        comment = services.add_comment(problem, leader, "  Called the card provider.  ")
        db.session.commit()
        assert comment.text == "Called the card provider."
        assert [c.text for c in fresh(problem).comments] == ["Called the card provider."]
        assert len(events(problem, COMMENTED)) == 1

    def test_empty_comment_refused(self, problem, leader):
        with pytest.raises(ServiceError) as error:
            services.add_comment(problem, leader, "   ")
        assert error.value.field == "text"

    def test_staff_cannot_comment(self, problem, staff):
        with pytest.raises(PermissionDenied):
            services.add_comment(problem, staff, "A note")

    def test_comment_via_the_page_is_internal(self, client, auth, problem, leader):
        published_by(problem, leader)
        auth.login(leader)
        response = client.post(f"/problems/{problem.id}/comment", data={"text": "Internal: vendor ticket 4411."})
        assert response.status_code == 302
        assert response.headers["Location"].endswith("#notes")
        assert "Internal: vendor ticket 4411." in page(client.get(f"/problems/{problem.id}"))
        assert count(Comment) == 1
        auth.logout()
        for url in ("/changes", f"/changes/{problem.id}", "/changes.atom"):
            assert "vendor ticket 4411" not in page(client.get(url))

    def test_empty_comment_via_the_page(self, client, auth, problem, leader):
        auth.login(leader)
        response = client.post(f"/problems/{problem.id}/comment", data={"text": ""})
        assert response.status_code == 422
        assert "Write the note first." in page(response)
        assert count(Comment) == 0


# --- regrouping reports -----------------------------------------------------------


class TestMoveAndSplit:
    def test_move_a_report_to_another_problem(self, make_report, leader):
        a1 = make_report(text="Card reader rejects contactless.", name="Ann", email="ann@example.net")
        a2 = make_report(text="Card reader broken again.", name="Bob", email="bob@example.net", problem=a1.problem)
        b1 = make_report(text="Parcel left in the rain.", name="Cat", email="cat@example.net")
        source, target = a1.problem, b1.problem
        assert source.people_affected == 2 and target.people_affected == 1

        result = services.move_report(a2, leader, target)
        db.session.commit()
        assert result.id == target.id
        assert fresh(a2).problem_id == target.id
        assert fresh(source).people_affected == 1
        assert fresh(target).people_affected == 2
        for problem in (source, target):
            [event] = events(problem, REPORT_MOVED)
            assert event.report_id == a2.id
            assert event.actor_id == leader.id
            assert event.details == {"before": {"problem_id": source.id}, "after": {"problem_id": target.id}}

    def test_people_affected_counts_people_not_reports(self, make_report, leader):
        first = make_report(text="Refund late.")
        reporter = first.reporter
        second = services.file_report(text="Refund still late.", reporter=reporter, problem=first.problem)
        other = make_report(text="Another problem entirely.", name="Sam Lee", email="sam@example.net")
        db.session.commit()
        one, two = first.problem, other.problem
        assert one.people_affected == 1
        services.move_report(other, leader, one)
        db.session.commit()
        assert fresh(one).people_affected == 2
        assert fresh(two).people_affected == 0
        services.move_report(second, leader, two)
        db.session.commit()
        # the first reporter still has a report in the first problem
        assert fresh(one).people_affected == 2
        assert fresh(two).people_affected == 1
        # the same address filing again through the form (a new reporter row) is the same person
        make_report(text="Refund late again.", problem=fresh(one))
        assert fresh(one).people_affected == 2

    def test_split_a_report_into_a_new_problem(self, make_report, leader):
        first = make_report(text="Card reader rejects contactless.", name="Ann", email="ann@example.net")
        services.edit_problem(first.problem, leader, title="Card reader", area="Billing", due_on=None)
        other = make_report(text="Also the toilets are out of order at the branch.", name="Bob",
                            email="bob@example.net", problem=first.problem)
        source = first.problem
        new = services.move_report(other, leader, None)
        db.session.commit()
        assert new.id != source.id
        new = fresh(new)
        assert new.title == "Also the toilets are out of order at the branch."
        assert new.area == "Billing"
        assert new.status == Status.NEW and new.owner_id is None
        assert [r.id for r in new.reports] == [other.id]
        assert new.people_affected == 1 and fresh(source).people_affected == 1
        created = events(new, PROBLEM_CREATED)
        assert created[0].details["split_from"] == source.id
        assert len(events(source, REPORT_MOVED)) == 1
        assert len(events(new, REPORT_MOVED)) == 1

    def test_moving_to_the_same_problem_is_refused(self, make_report, leader):
        report = make_report()
        with pytest.raises(ServiceError) as error:
            services.move_report(report, leader, report.problem)
        assert error.value.field == "target"

    def test_staff_cannot_regroup(self, make_report, staff):
        report = make_report()
        other = make_report(text="Something else broke.")
        with pytest.raises(PermissionDenied):
            services.move_report(report, staff, other.problem)
        with pytest.raises(PermissionDenied):
            services.move_report(report, staff, None)

    def test_move_via_the_page(self, client, auth, make_report, leader):
        report = make_report(text="Card reader rejects contactless.")
        target = make_report(text="Card machine broken at the desk.", name="Sam Lee", email="sam@example.net").problem
        source_id = report.problem_id
        auth.login(leader)
        response = client.post(f"/reports/{report.id}/move", data={"target": target.id})
        assert response.status_code == 302
        assert response.headers["Location"].endswith(f"/problems/{target.id}")
        assert fresh(report).problem_id == target.id
        text = page(client.get(f"/problems/{target.id}"))
        assert f"Report moved to problem #{target.id}." in text
        assert f"moved report #{report.id} from problem #{source_id} to #{target.id}" in text
        assert "2 reports from 2 people" in text

    def test_move_to_an_unknown_problem_via_the_page(self, client, auth, make_report, leader):
        report = make_report()
        auth.login(leader)
        response = client.post(f"/reports/{report.id}/move", data={"target": 999})
        assert response.status_code == 422
        assert "There is no problem #999." in page(response)
        assert fresh(report).problem_id == report.problem_id
        assert events(report.problem, REPORT_MOVED) == []

    def test_split_via_the_page(self, client, auth, make_report, leader):
        first = make_report(text="Card reader rejects contactless.")
        second = make_report(text="Toilets out of order.", problem=first.problem)
        auth.login(leader)
        response = client.post(f"/reports/{second.id}/split")
        assert response.status_code == 302
        new_id = fresh(second).problem_id
        assert new_id != first.problem_id
        assert response.headers["Location"].endswith(f"/problems/{new_id}")
        assert count(Problem) == 2
        text = page(client.get(f"/problems/{new_id}"))
        assert f"Problem created from a report of problem #{first.problem_id}" in text

    def test_staff_cannot_move_via_the_page(self, client, auth, make_report, staff):
        report = make_report()
        target = make_report(text="Other").problem
        auth.login(staff)
        assert client.post(f"/reports/{report.id}/move", data={"target": target.id}).status_code == 403
        assert client.post(f"/reports/{report.id}/split").status_code == 403
        assert fresh(report).problem_id == report.problem_id
        assert count(Problem) == 2


# --- the audit trail --------------------------------------------------------------


class TestAudit:
    @pytest.mark.parametrize(
        "step",
        ["own", "hand_over", "start", "change", "decline", "reopen", "publish", "unpublish",
         "edit", "comment", "move", "split"],
    )
    def test_a_rollback_leaves_neither_the_change_nor_its_event(self, step, make_report, leader, other_leader):
        report = make_report()
        problem = report.problem
        other = make_report(text="A different problem entirely.").problem
        report2 = make_report(text="Second report.", problem=problem)
        prepare = {
            "own": lambda: None,
            "hand_over": lambda: owned_by(problem, leader),
            "start": lambda: owned_by(problem, leader),
            "change": lambda: owned_by(problem, leader),
            "decline": lambda: owned_by(problem, leader),
            "reopen": lambda: changed_by(problem, leader),
            "publish": lambda: changed_by(problem, leader),
            "unpublish": lambda: published_by(problem, leader),
            "edit": lambda: None,
            "comment": lambda: None,
            "move": lambda: None,
            "split": lambda: None,
        }
        act = {
            "own": lambda: services.assign_owner(problem, leader, leader),
            "hand_over": lambda: services.assign_owner(problem, leader, other_leader, "Sam knows it."),
            "start": lambda: services.start_work(problem, leader),
            "change": lambda: services.record_change(problem, leader, what=CHANGE, since=YESTERDAY),
            "decline": lambda: services.decline(problem, leader, DECLINE_REASON),
            "reopen": lambda: services.reopen(problem, leader, "Again"),
            "publish": lambda: services.publish(problem, leader, public_title="T", public_summary="S"),
            "unpublish": lambda: services.unpublish(problem, leader),
            "edit": lambda: services.edit_problem(problem, leader, title="New title", area=None, due_on=None),
            "comment": lambda: services.add_comment(problem, leader, "A note"),
            "move": lambda: services.move_report(report2, leader, other),
            "split": lambda: services.move_report(report2, leader, None),
        }
        prepare[step]()
        db.session.commit()

        def snapshot():
            db.session.expire_all()
            p = db.session.get(Problem, problem.id)
            return (
                p.status, p.owner_id, p.title, p.published_at, p.change_what,
                db.session.get(Report, report2.id).problem_id,
                count(Event), count(Problem), count(Comment),
            )

        before = snapshot()
        events_before = count(Event)
        act[step]()
        # the service wrote its event(s) into the open transaction ...
        assert count(Event) > events_before
        assert snapshot() != before
        db.session.rollback()
        # ... and a rollback takes both the change and the events away.
        assert snapshot() == before

    def test_a_committed_service_call_keeps_change_and_event_together(self, problem, leader):
        services.assign_owner(problem, leader, leader)
        problem_id, leader_id = problem.id, leader.id
        db.session.commit()
        db.session.remove()  # a new session sees only what was committed
        assert db.session.get(Problem, problem_id).owner_id == leader_id
        [event] = events(problem_id, TOOK_OWNERSHIP)
        assert event.actor_id == leader_id

    def test_events_cannot_be_updated(self, problem, leader):
        owned_by(problem, leader)
        event = events(problem, TOOK_OWNERSHIP)[0]
        event.verb = "nothing_happened"
        with pytest.raises(AppendOnlyError):
            db.session.flush()
        db.session.rollback()
        assert events(problem, TOOK_OWNERSHIP)[0].verb == TOOK_OWNERSHIP

    def test_event_details_cannot_be_updated(self, problem, leader):
        owned_by(problem, leader)
        event = events(problem, STATUS_CHANGED)[0]
        event.details = {"before": {"status": "declined"}}
        with pytest.raises(AppendOnlyError):
            db.session.commit()
        db.session.rollback()
        assert events(problem, STATUS_CHANGED)[0].details["before"] == {"status": "new"}

    def test_events_cannot_be_deleted(self, problem, leader):
        owned_by(problem, leader)
        total = count(Event)
        db.session.delete(events(problem)[0])
        with pytest.raises(AppendOnlyError):
            db.session.commit()
        db.session.rollback()
        assert count(Event) == total

    def test_the_history_lists_every_step(self, client, auth, problem, leader, other_leader):
        owned_by(problem, leader)
        services.assign_owner(problem, leader, other_leader, "Sam knows billing.")
        services.record_change(problem, other_leader, what=CHANGE, since=YESTERDAY)
        services.publish(problem, other_leader, public_title="Faster refunds", public_summary="3 days now.")
        db.session.commit()
        auth.login(leader)
        text = page(client.get(f"/problems/{problem.id}"))
        history = text[text.index('id="history-h"'):]
        for line in [
            "Problem created",
            f"Report #{problem.reports[0].id} came in through Web page",  # the channel's label, translated
            "Dana Okafor took ownership",
            "Dana Okafor handed it over to Sam Reyes: “Sam knows billing.”",
            "Sam Reyes recorded the change",
            "Sam Reyes published it on We changed this",
        ]:
            assert line in history


def test_problems_of_a_deactivated_owner_return_to_triage_and_can_be_taken_over(client, auth, make_user, make_report):
    from app import services
    from app.extensions import db
    from app.models import HANDED_OVER, Event, Role

    admin = make_user(Role.ADMIN)
    leaving = make_user(Role.LEADER, name="Lee Leaving")
    successor = make_user(Role.LEADER, name="Sue Successor")
    report = make_report(text="The lift has been out of order for a month.")
    services.assign_owner(report.problem, leaving, leaving)
    services.update_user(leaving, admin, active=False)
    db.session.commit()

    auth.login(successor)
    triage = client.get("/triage").get_data(as_text=True)
    assert "The lift has been out of order" in triage and "account deactivated" in triage
    page = client.get(f"/problems/{report.problem_id}").get_data(as_text=True)
    assert "Take over this problem" in page

    response = client.post(
        f"/problems/{report.problem_id}/hand-over",
        data={"owner": successor.id, "reason": "Lee has left; I cover the lifts now."},
    )
    assert response.status_code == 302
    db.session.expire_all()
    problem = report.problem
    assert problem.owner_id == successor.id
    assert problem.handoff_count == 1
    handoff = db.session.scalar(db.select(Event).filter_by(verb=HANDED_OVER))
    assert handoff.details["reason"] == "Lee has left; I cover the lifts now."
    assert "The lift has been out of order" not in client.get("/triage").get_data(as_text=True)


def test_a_leader_cannot_move_reports_out_of_someone_elses_problem(make_user, make_report):
    import pytest

    from app import services
    from app.models import Role

    owner = make_user(Role.LEADER)
    other = make_user(Role.LEADER)
    report = make_report()
    services.assign_owner(report.problem, owner, owner)
    with pytest.raises(services.PermissionDenied):
        services.move_report(report, other, None)
