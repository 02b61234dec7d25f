"""Who may open what: a table over every route in the app's URL map.

A new route fails ``test_every_route_is_in_the_matrix`` until someone decides
who may use it, so no page can escape the role checks by being forgotten.
"""

from __future__ import annotations

import pytest

from app.extensions import db
from app.models import Role

ANYONE, STAFF, LEADER, ADMIN = "anyone", "staff", "leader", "admin"

# endpoint -> the least role that may use it
MATRIX = {
    "static": ANYONE,
    "public.index": ANYONE,
    "public.thanks": ANYONE,
    "public.my_report": ANYONE,
    "public.changes": ANYONE,
    "public.change": ANYONE,
    "public.changes_feed": ANYONE,
    # The reporter's token in the URL is the key to these.
    "public.report_still_happening": ANYONE,
    "public.unsubscribe_page": ANYONE,
    "public.link_again": ANYONE,
    "staff.told_in_person": STAFF,
    "public.answer": ANYONE,  # the private token is the key
    "public.suggest": ANYONE,
    "public.set_language": ANYONE,  # the language switcher in the header
    "auth.login": ANYONE,
    # Single sign-on: the provider's signed answer decides who signs in (404 when not set up).
    "auth.sso_login": ANYONE,
    "auth.sso_callback": ANYONE,
    "auth.logout": STAFF,
    "staff.file_report": STAFF,
    "staff.my_reports": STAFF,
    # The filer's own reports (others get 404; leaders may open any).
    "staff.report": STAFF,
    "staff.status_sheet": STAFF,
    "leaders.triage": LEADER,
    "leaders.problems": LEADER,
    "leaders.my_problems": LEADER,
    "leaders.problem": LEADER,
    "leaders.take_ownership": LEADER,
    "leaders.hand_over": LEADER,
    "leaders.start_work": LEADER,
    "leaders.record_change": LEADER,
    "leaders.decline": LEADER,
    "leaders.reopen": LEADER,
    "leaders.publish": LEADER,
    "leaders.unpublish": LEADER,
    "leaders.edit": LEADER,
    "leaders.comment": LEADER,
    "leaders.move_report": LEADER,
    "leaders.split_report": LEADER,
    "leaders.mark_person_unreachable": LEADER,
    # Asking the owner, answering (the service lets only the owner or an admin), writing to a person.
    "leaders.ask_owner": LEADER,
    "leaders.answer_request": LEADER,
    "leaders.answer_reporter": LEADER,
    "dashboard.index": LEADER,
    "dashboard.figure_csv": LEADER,
    "dashboard.backlog": LEADER,
    "dashboard.backlog_csv": LEADER,
    "dashboard.leader": LEADER,
    "leaders.link_problem_work": LEADER,
    "leaders.merge": LEADER,
    "leaders.split": LEADER,
    "leaders.undo_grouping": LEADER,
    "leaders.answer_review": LEADER,
    "leaders.merge_into": LEADER,
    "leaders.merge_many": LEADER,
    "dashboard.grouping": LEADER,
    # Public reports held for moderation.
    "leaders.held": LEADER,
    "leaders.approve_held": LEADER,
    "leaders.reject_held": LEADER,
    "admin.users": ADMIN,
    "admin.resend_invitation": ADMIN,
    # The one-time link from an invitation email is the key to this page.
    "admin.invite.accept": ANYONE,
    "admin.create": ADMIN,
    "admin.update": ADMIN,
    "admin.unlock_user": ADMIN,
    "admin.sign_out_user": ADMIN,
    "admin.sources": ADMIN,
    "admin.run_source": ADMIN,
    "admin.test_source": ADMIN,
    "admin.preview_source": ADMIN,
    "admin.outbox": ADMIN,
    "admin.outbox_message": ADMIN,
    "admin.outbox_message_html": ADMIN,
    "admin.outbox_retry": ADMIN,
    "admin.webhooks": ADMIN,
    "admin.webhook_create": ADMIN,
    "admin.webhook": ADMIN,
    "admin.webhook_update": ADMIN,
    "admin.webhook_pause": ADMIN,
    "admin.webhook_resume": ADMIN,
    "admin.webhook_rotate": ADMIN,
    "admin.webhook_delete": ADMIN,
    "admin.webhook_test": ADMIN,
    "admin.webhook_redeliver": ADMIN,
    # Branding: the admin page; the theme stylesheet and logo are public (every page uses them).
    "branding.edit": ADMIN,
    "branding.theme": ANYONE,
    "branding.logo": ANYONE,
    # Webhooks answer to the source's signature or shared secret, not to accounts.
    "webhooks.receive": ANYONE,
    # Load balancers' check: says only "ok", touches no data.
    "health.healthz": ANYONE,
    "health.readyz": ANYONE,  # says only "ready" or why not (no data)
    # Guarded by CARELOOP_METRICS_TOKEN / CARELOOP_METRICS_NETWORKS, not by a role (tests/integration/test_operations.py).
    "observability.metrics_view": ANYONE,
    # API tokens for integrations.
    "admin.api_tokens_page": ADMIN,
    "admin.api_token_create": ADMIN,
    "admin.api_token_revoke": ADMIN,
    # The JSON API answers to bearer tokens, never to the session: see API_MATRIX below.
    **{endpoint: ANYONE for endpoint in ("api.problems", "api.problem", "api.problem_events", "api.reports",
                                          "api.report", "api.create_report", "api.openapi")},
}

RANK = {ANYONE: 0, STAFF: 1, LEADER: 2, ADMIN: 3}


def test_every_route_is_in_the_matrix(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints == set(MATRIX), "Decide who may use each new route and add it to MATRIX"


def _routes(app, min_rank: int):
    for rule in app.url_map.iter_rules():
        if RANK[MATRIX[rule.endpoint]] >= min_rank:
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield rule, method


@pytest.fixture
def world(make_user, make_report):
    """One of everything a URL can name, all with id 1 or a real token."""
    report = make_report()
    return {
        "problem_id": report.problem_id,
        "report_id": report.id,
        "user_id": make_user(Role.STAFF).id,
        "token": report.reporter.token,
        "filename": "careloop.css",
        "name": "zendesk",
        "reporter_id": report.reporter_id,
        "message_id": 1,
        "review_id": 1,
        "answer": "confirm",
        "source": "zendesk",
        "figure": "owners",
        "token_id": 1,
        "endpoint_id": 1,  # outgoing webhooks
        "delivery_id": 1,
        "target_id": report.problem_id,
        "request_id": 1,  # a question or offer to a problem's owner
    }


def _url(rule, world) -> str:
    return rule.build({name: world[name] for name in rule.arguments})[1]


def _call(client, method: str, url: str):
    return client.open(url, method=method, data={})


@pytest.mark.parametrize("min_role", [STAFF, LEADER, ADMIN])
def test_anonymous_visitors_are_sent_to_sign_in(app, client, world, min_role):
    for rule, method in _routes(app, RANK[min_role]):
        response = _call(client, method, _url(rule, world))
        assert response.status_code == 302, (rule.endpoint, method)
        assert "/login" in response.headers["Location"], (rule.endpoint, method)


@pytest.mark.parametrize(
    "role, forbidden_from",
    [(Role.STAFF, LEADER), (Role.LEADER, ADMIN)],
)
def test_signed_in_accounts_without_the_role_are_refused(app, client, auth, make_user, world, role, forbidden_from):
    user = make_user(role)
    auth.login(user)
    checked = 0
    for rule, method in _routes(app, RANK[forbidden_from]):
        response = _call(client, method, _url(rule, world))
        assert response.status_code == 403, (rule.endpoint, method, response.status_code)
        assert "Error 403" in response.get_data(as_text=True)
        checked += 1
    assert checked >= 3


def test_refused_actions_change_nothing(client, auth, make_user, world):
    from app.models import Event, Problem

    staff = make_user(Role.STAFF)
    events_before = db.session.scalar(db.select(db.func.count(Event.id)))
    auth.login(staff)
    client.post(f"/problems/{world['problem_id']}/own")
    client.post(f"/problems/{world['problem_id']}/decline", data={"reason": "x" * 80})
    db.session.expire_all()
    problem = db.session.get(Problem, world["problem_id"])
    assert problem.owner_id is None and problem.status == "new"
    assert db.session.scalar(db.select(db.func.count(Event.id))) == events_before


def test_deactivated_accounts_lose_access_at_once(client, auth, make_user, world):
    leader = make_user(Role.LEADER)
    auth.login(leader)
    assert client.get("/triage").status_code == 200
    leader.active = False
    db.session.commit()
    assert client.get("/triage").status_code == 302


def test_a_reporters_page_shows_only_their_own_reports(client, make_report):
    mine = make_report(text="My bus pass was refused at the gate.", name="Ana", email="ana@example.net")
    theirs = make_report(text="Somebody else's private story.", name="Ben", email="ben@example.net")
    page = client.get(f"/r/{mine.reporter.token}").get_data(as_text=True)
    assert "My bus pass was refused" in page
    assert "Somebody else" not in page and "ben@example.net" not in page
    assert client.get(f"/r/{theirs.reporter.token[:-1]}x").status_code == 404
    response = client.get(f"/r/{mine.reporter.token}")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_reporter_tokens_are_long_random_and_distinct(make_report):
    tokens = {make_report(text=f"Report number {i} about the broken lift.").reporter.token for i in range(20)}
    assert len(tokens) == 20
    assert all(len(t) >= 43 for t in tokens)


# ---- the JSON API: what each kind of caller gets, per route and method -------------------
# Callers: no token, a read token, a read_write token, a revoked token. The world's problem
# is not published, so callers without a token cannot see it. Every /api/ route of the URL
# map must be here (test_every_api_route_is_in_the_api_matrix), so none can escape.
API_CALLERS = ("anonymous", "read", "read_write", "revoked")
API_MATRIX = {
    ("api.problems", "GET"): (200, 200, 200, 401),
    ("api.problem", "GET"): (404, 200, 200, 401),
    ("api.problem_events", "GET"): (401, 200, 200, 401),
    ("api.reports", "GET"): (401, 200, 200, 401),
    ("api.report", "GET"): (401, 200, 200, 401),
    ("api.create_report", "POST"): (201, 403, 201, 401),  # anonymous: like the public form
    ("api.openapi", "GET"): (200, 200, 200, 401),
}


def _api_routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api.") or rule.rule.startswith("/api/"):
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield rule, method


def test_every_api_route_is_in_the_api_matrix(app):
    assert {(rule.endpoint, method) for rule, method in _api_routes(app)} == set(API_MATRIX), (
        "Decide what each API caller gets from the new route and add it to API_MATRIX")


@pytest.mark.parametrize("caller", API_CALLERS)
def test_api_routes_answer_each_caller_by_its_token(app, client, auth, make_user, world, caller):
    from app.models import ApiScope
    from app.services.api_tokens import create_token, revoke_token

    headers = {}
    if caller != "anonymous":
        new = create_token(name=caller, scope=ApiScope.READ if caller == "read" else ApiScope.READ_WRITE, actor=None)
        if caller == "revoked":
            revoke_token(new.token.id, actor=None)
        db.session.commit()
        headers = {"Authorization": f"Bearer {new.secret}"}
    auth.login(make_user(Role.ADMIN))  # a signed-in admin's session must change nothing on the API
    expected_index = API_CALLERS.index(caller)
    for rule, method in _api_routes(app):
        url = _url(rule, world)
        body = {"text": f"An API filing by {caller} about the broken lift.", "name": "Pat"} if method == "POST" else None
        response = client.open(url, method=method, json=body, headers=headers)
        expected = API_MATRIX[(rule.endpoint, method)][expected_index]
        assert response.status_code == expected, (caller, rule.endpoint, method, response.status_code)
        assert response.is_json, (caller, rule.endpoint, method)
