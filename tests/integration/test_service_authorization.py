"""Who may do what, at the service level: every service operation x role x ownership.

The routes' matrix (test_authorization.py) checks pages; this one checks the operations
themselves, which the web, the API, the CLI and plugins all call. The list of operations is
generated: every public function reachable from ``app.services`` that takes an ``actor``.
A new one fails ``test_every_service_operation_is_in_the_matrix`` until someone decides who
may use it and adds it to ``MATRIX`` with a call in ``CALLS``.

Actors: ``staff``; ``leader`` (a leader who does not own the problem); ``owner`` (the leader
who owns it, in the "owned" world; in the "unowned" world just another leader); ``admin``.
An allowed actor may still meet a ``ServiceError`` about the input or the state (that is not
a permission decision); a refused one must get ``PermissionDenied`` and change nothing.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

from app import services
from app.extensions import db
from app.models import Event, GroupingReview, OwnershipRequest, Problem, Role
from app.services.errors import PermissionDenied, ServiceError

ACTORS = ("staff", "leader", "owner", "admin")

# Helpers that take an actor but are not operations a person asks for.
NOT_OPERATIONS = {"record_event", "require_leader", "require_owner_or_admin",
                  "learn_from_move"}  # records what a move taught the grouping; called by move_report

ADMIN_ONLY = {"owned": {"admin"}, "unowned": {"admin"}}
LEADERS = {"owned": {"leader", "owner", "admin"}, "unowned": {"leader", "owner", "admin"}}
OWNER_ONCE_OWNED = {"owned": {"owner", "admin"}, "unowned": {"leader", "owner", "admin"}}
OWNER_ONLY = {"owned": {"owner", "admin"}, "unowned": {"admin"}}
# Anyone signed in; the operation only finds the actor's own items (others meet NotFound).
OWN_ITEMS = {"owned": set(ACTORS), "unowned": set(ACTORS)}
SELF_OR_ADMIN = {"owned": {"owner", "admin"}, "unowned": {"owner", "admin"}}  # the account is the owner's

MATRIX = {
    # Accounts, tokens, branding, webhooks: admins only.
    "create_user": ADMIN_ONLY,
    "update_user": ADMIN_ONLY,
    "unlock": ADMIN_ONLY,
    "sign_out_everywhere": SELF_OR_ADMIN,
    "create_token": ADMIN_ONLY,
    "revoke_token": ADMIN_ONLY,
    "update_branding": ADMIN_ONLY,
    "reset_branding": ADMIN_ONLY,
    "create_endpoint": ADMIN_ONLY,
    "update_endpoint": ADMIN_ONLY,
    "set_active": ADMIN_ONLY,
    "rotate_secret": ADMIN_ONLY,
    "delete_endpoint": ADMIN_ONLY,
    "send_test_event": ADMIN_ONLY,
    "redeliver": ADMIN_ONLY,
    # The workflow of one problem.
    "assign_owner": OWNER_ONCE_OWNED,  # take it; once owned, the owner or an admin hands it over
    "edit_problem": OWNER_ONCE_OWNED,
    "decline": OWNER_ONCE_OWNED,
    "add_comment": LEADERS,
    "start_work": OWNER_ONLY,
    "record_change": OWNER_ONLY,
    "reopen": OWNER_ONLY,
    "publish": OWNER_ONLY,
    "unpublish": OWNER_ONLY,
    "mark_unreachable": OWNER_ONLY,
    # Staff tick off telling a person they filed for; only their own tasks exist for them.
    "told_in_person": OWN_ITEMS,
    # Leaders who are not the owner ask or offer; the owner (or an admin) answers.
    "ask_owner": LEADERS,
    "answer_request": OWNER_ONLY,
    "answer_person": OWNER_ONLY,
    "invite_user": ADMIN_ONLY,
    "send_invitation": ADMIN_ONLY,
    "link_work": OWNER_ONLY,
    "create_work": OWNER_ONLY,
    # Regrouping: the problem the reports leave is its owner's once owned.
    "move_report": OWNER_ONCE_OWNED,
    "split_reports": OWNER_ONCE_OWNED,
    "merge_problems": OWNER_ONCE_OWNED,
    "merge_many": OWNER_ONCE_OWNED,  # merge_problems for each chosen problem
    "undo_auto_grouping": OWNER_ONCE_OWNED,
    "confirm_review": OWNER_ONCE_OWNED,
    "reject_review": OWNER_ONCE_OWNED,
    # Held public reports belong to no problem yet.
    "approve_held_report": LEADERS,
    "reject_held_report": LEADERS,
}


# Where operations that change state live: the domain services, and the concerns with their own
# folders (telling people, webhooks, imports and linked work, sign-in throttling).
OPERATION_PACKAGES = ("app.services", "app.messaging", "app.webhooks", "app.imports", "app.security")


def service_operations() -> dict[str, object]:
    """Every public function in those packages' modules that takes an ``actor``."""
    modules = []
    for package_name in OPERATION_PACKAGES:
        package = importlib.import_module(package_name)
        modules += [package] + [importlib.import_module(f"{package_name}.{info.name}")
                                for info in pkgutil.iter_modules(package.__path__)]
    found = {}
    for module in modules:
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if name.startswith("_") or not function.__module__.startswith("app."):
                continue
            if "actor" in inspect.signature(function).parameters:
                found[name] = function
    return {name: f for name, f in found.items() if name not in NOT_OPERATIONS}


def test_every_service_operation_is_in_the_matrix():
    operations = set(service_operations())
    assert operations - set(MATRIX) == set(), "Decide who may use each new service operation: add it to MATRIX"
    assert set(MATRIX) - operations == set(), "MATRIX names an operation that no longer exists"
    assert set(CALLS) == set(MATRIX), "Every operation in MATRIX needs a call in CALLS"


# --- One of everything an operation needs ----------------------------------------------------


class World:
    def __init__(self, make_user, make_report, owned: bool):
        self.users = {role: make_user(r) for role, r in
                      (("staff", Role.STAFF), ("leader", Role.LEADER), ("owner", Role.LEADER), ("admin", Role.ADMIN))}
        self.subject = make_user(Role.STAFF)
        first = make_report(text="The lift on level two has been out of order all week and nobody came.")
        self.problem = first.problem
        second = make_report(text="Parking tickets from the machine are printed blank since the update.")
        self.report = make_report(text="Nobody answers the phone line for home visits after four o'clock.",
                                  problem=self.problem)
        self.report.grouping = "auto"
        self.target = second.problem
        self.review = GroupingReview(kind="duplicate", report=self.report, candidate=self.target, score=0.8)
        db.session.add(self.review)
        if owned:
            services.assign_owner(self.problem, self.users["owner"], self.users["owner"])
        from app.services.api_tokens import create_token
        from app.webhooks.outgoing import create_endpoint, send_test_event

        self.endpoint = create_endpoint(name="Ops", url="http://127.0.0.1:9/hook", events=["problem.owned"],
                                        allow_private=True)
        db.session.flush()
        self.delivery = send_test_event(self.endpoint)
        self.token_id = create_token(name="Reporting", scope="read", actor=None).token.id
        db.session.commit()

    def request(self) -> OwnershipRequest:
        """A question from the other leader to whoever owns the problem (added for one call)."""
        request = OwnershipRequest(problem=self.problem, kind="ask", from_user=self.users["leader"],
                                   to_user_id=self.problem.owner_id or self.users["owner"].id, note="Can I help?")
        db.session.add(request)
        db.session.flush()
        return request


def _ops():
    from app.imports import linked_work as links
    from app.messaging import compose as messages
    from app.security import logins
    from app.services import (
        answers,
        api_tokens,
        branding,
        grouping,
        invitations,
        moderation,
        ownership,
        people,
        sessions,
        users,
    )
    from app.webhooks import outgoing as hooks

    return {
        "create_user": lambda w, a: users.create_user(name="New", email="new@example.org", role="staff",
                                                      password="long enough password", actor=a),
        "update_user": lambda w, a: users.update_user(w.subject, a, role=Role.LEADER),
        "unlock": lambda w, a: logins.unlock(w.subject, a),
        "sign_out_everywhere": lambda w, a: sessions.sign_out_everywhere(w.users["owner"], a),
        "create_token": lambda w, a: api_tokens.create_token(name="Another", scope="read", actor=a),
        "revoke_token": lambda w, a: api_tokens.revoke_token(w.token_id, actor=a),
        "update_branding": lambda w, a: branding.update_branding(a, org_name="Acme", welcome_text=None,
                                                                 primary_colour=None, accent_colour=None),
        "reset_branding": lambda w, a: branding.reset_branding(a),
        "create_endpoint": lambda w, a: hooks.create_endpoint(name="X", url="http://127.0.0.1:9/x",
                                                              events=["problem.owned"], allow_private=True, actor=a),
        "update_endpoint": lambda w, a: hooks.update_endpoint(w.endpoint, name="Y", url="http://127.0.0.1:9/y",
                                                              events=["problem.owned"], fmt="careloop",
                                                              allow_private=True, actor=a),
        "set_active": lambda w, a: hooks.set_active(w.endpoint, False, actor=a),
        "rotate_secret": lambda w, a: hooks.rotate_secret(w.endpoint, actor=a),
        "delete_endpoint": lambda w, a: hooks.delete_endpoint(w.endpoint, actor=a),
        "send_test_event": lambda w, a: hooks.send_test_event(w.endpoint, actor=a),
        "redeliver": lambda w, a: hooks.redeliver(w.delivery, actor=a),
        "assign_owner": lambda w, a: services.assign_owner(w.problem, a, a, reason="I have time for it"),
        "edit_problem": lambda w, a: services.edit_problem(w.problem, a, title="Lift broken", area=None, due_on=None),
        "decline": lambda w, a: services.decline(w.problem, a, "Not something we can change."),
        "add_comment": lambda w, a: services.add_comment(w.problem, a, "Called the lift company."),
        "start_work": lambda w, a: services.start_work(w.problem, a),
        "record_change": lambda w, a: services.record_change(w.problem, a, what="New lift contract", since=None),
        "reopen": lambda w, a: services.reopen(w.problem, a, reason="Still broken"),
        "publish": lambda w, a: services.publish(w.problem, a, public_title="Lift", public_summary="Fixed it."),
        "unpublish": lambda w, a: services.unpublish(w.problem, a, reason="Wrong"),
        "mark_unreachable": lambda w, a: messages.mark_unreachable(w.problem, w.report.reporter, a, "No address"),
        "told_in_person": lambda w, a: people.told_in_person(a, w.report.reporter_id, w.problem.id),
        "ask_owner": lambda w, a: ownership.ask_owner(w.problem, a, "Can I help with this one?"),
        "answer_request": lambda w, a: ownership.answer_request(w.request(), a, accept=False, reason="Not yet, sorry"),
        "answer_person": lambda w, a: answers.answer_person(w.report, a, "We are looking into this now."),
        "invite_user": lambda w, a: invitations.invite_user(name="New Person", email="new.person@example.org",
                                                            role="staff", actor=a),
        "send_invitation": lambda w, a: invitations.send_invitation(w.subject, a),
        "link_work": lambda w, a: links.link_work(w.problem, a, "no-such-source", "OPS-1"),
        "create_work": lambda w, a: links.create_work(w.problem, a, "no-such-source"),
        "move_report": lambda w, a: services.move_report(w.report, a, w.target),
        "split_reports": lambda w, a: grouping.split_reports(w.problem, [w.report.id], a),
        "merge_problems": lambda w, a: grouping.merge_problems(w.problem, w.target, a),
        "merge_many": lambda w, a: grouping.merge_many([w.problem], w.target, a),
        "undo_auto_grouping": lambda w, a: grouping.undo_auto_grouping(w.report, a),
        "confirm_review": lambda w, a: grouping.confirm_review(w.review, a),
        "reject_review": lambda w, a: grouping.reject_review(w.review, a),
        "approve_held_report": lambda w, a: moderation.approve_held_report(w.report, a),
        "reject_held_report": lambda w, a: moderation.reject_held_report(w.report, a),
    }


CALLS = _ops()


@pytest.mark.parametrize("ownership", ["owned", "unowned"])
def test_each_operation_allows_exactly_the_roles_in_the_matrix(app_ctx, make_user, make_report, ownership):
    """One world per ownership (it is committed); each call is rolled back before the next."""
    world = World(make_user, make_report, owned=ownership == "owned")
    expected, actual = {}, {}
    for operation in sorted(MATRIX):
        for name in ACTORS:
            expected[operation, name] = "allowed" if name in MATRIX[operation][ownership] else "refused"
            actual[operation, name] = _outcome(operation, world, world.users[name])
    wrong = {key: f"{actual[key]}, expected {expected[key]}" for key in expected if actual[key] != expected[key]}
    assert wrong == {}


def _outcome(operation: str, world: World, actor) -> str:
    events_before = db.session.scalar(db.select(db.func.count(Event.id)))
    try:
        CALLS[operation](world, actor)
        db.session.flush()
        return "allowed"
    except PermissionDenied:
        if db.session.scalar(db.select(db.func.count(Event.id))) != events_before:
            return "refused, but wrote an event"
        return "refused"
    except ServiceError:
        return "allowed"  # past the permission check, stopped by the input or the state
    finally:
        db.session.rollback()


def test_the_problem_a_leader_does_not_own_stays_where_it_was(app_ctx, make_user, make_report):
    """A refusal changes nothing: the report is still in its owner's problem afterwards."""
    world = World(make_user, make_report, owned=True)
    with pytest.raises(PermissionDenied):
        CALLS["undo_auto_grouping"](world, world.users["leader"])
    db.session.rollback()
    assert db.session.get(Problem, world.problem.id).reports[-1].id == world.report.id
