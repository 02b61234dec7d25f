"""The API's endpoints: what each caller sees, filing through the forms' service, paging,
merged problems, and JSON errors with the right status."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from app import create_app, services
from app.extensions import db
from app.models import Channel, Problem, Report, Reporter, Role
from app.services.grouping import merge_problems
from tests.api.conftest import bearer

YESTERDAY = date.today() - timedelta(days=1)
CHANGE = "Refunds now go back to the original card within 3 working days, every working day."
PRIVATE = ("Zebra-words", "Quentin Private", "quentin.private@example.net", "Okapi-words",
           "Rosalind Hidden", "Internal-title", "Walrus-words", "wanda@example.net")


@pytest.fixture
def story(make_user, make_report):
    """A published change reported by two people, and an open problem nobody may see publicly."""
    leader = make_user(Role.LEADER, name="Dana Okafor")
    first = make_report(text="Zebra-words: my card was charged twice at the till.", name="Quentin Private",
                        email="quentin.private@example.net", location="Billing")
    make_report(text="Okapi-words: charged twice for one coffee.", name="Rosalind Hidden",
                email="rosalind@example.net", problem=first.problem)
    published = first.problem
    services.edit_problem(published, leader, title="Internal-title about Quentin", area="Billing", due_on=None)
    services.assign_owner(published, leader, leader)
    services.record_change(published, leader, what=CHANGE, since=YESTERDAY)
    services.publish(published, leader, public_title="Card payments are charged once",
                     public_summary="People told us they were charged twice. That is fixed.")
    hidden = make_report(text="Walrus-words: the lift at the station has been broken for weeks.",
                         name="Wanda", email="wanda@example.net")
    db.session.commit()
    return {"leader": leader, "published": published.id, "hidden": hidden.problem_id,
            "report": first.id, "hidden_report": hidden.id}


# ---- anonymous callers see what the public pages show ---------------------------------

def test_anonymous_callers_see_only_published_changes_without_personal_data(client, story):
    listing = client.get("/api/v1/problems")
    assert listing.status_code == 200
    items = listing.json["data"]
    assert [p["id"] for p in items] == [story["published"]]
    item = items[0]
    assert item["public_title"] == "Card payments are charged once"
    assert item["change"]["what"] == CHANGE and item["people"] == 2 and item["owner_name"] == "Dana Okafor"
    assert "title" not in item and "area" not in item
    one = client.get(f"/api/v1/problems/{story['published']}")
    assert one.status_code == 200 and one.json == item
    assert client.get(f"/api/v1/problems/{story['hidden']}").status_code == 404
    for response in (listing, one):
        text = response.get_data(as_text=True)
        for private in PRIVATE:
            assert private not in text


@pytest.mark.parametrize("url", ["/api/v1/reports", "/api/v1/reports/{report}", "/api/v1/problems/{published}/events"])
def test_anonymous_callers_cannot_read_reports_or_history(client, story, url):
    response = client.get(url.format(**story))
    assert response.status_code == 401
    assert response.json["error"]["status"] == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    for private in PRIVATE:
        assert private not in response.get_data(as_text=True)


def test_a_signed_in_session_is_not_accepted_by_the_api(client, auth, story):
    auth.login(story["leader"])
    assert client.get("/triage").status_code == 200  # the session works on pages ...
    assert client.get("/api/v1/reports").status_code == 401  # ... but not on the API
    listing = client.get("/api/v1/problems").json["data"]
    assert [p["id"] for p in listing] == [story["published"]]  # treated as anonymous


# ---- tokens read like a leader ------------------------------------------------------

def test_a_read_token_sees_every_problem_as_a_leader_does(client, story, read_token):
    items = client.get("/api/v1/problems", headers=bearer(read_token)).json["data"]
    assert [p["id"] for p in items] == [story["hidden"], story["published"]]  # newest first
    published = next(p for p in items if p["id"] == story["published"])
    assert published["title"] == "Internal-title about Quentin" and published["area"] == "Billing"
    assert published["owner"]["name"] == "Dana Okafor" and published["status"] == "changed"
    assert published["reports"] == 2 and published["people"] == 2
    assert published["links"]["events"] == f"/api/v1/problems/{story['published']}/events"
    one = client.get(f"/api/v1/problems/{story['hidden']}", headers=bearer(read_token))
    assert one.status_code == 200 and one.json["status"] == "new" and one.json["owner"] is None


def test_problems_filter_by_status_area_and_owner(client, story, read_token):
    def ids(query):
        response = client.get(f"/api/v1/problems?{query}", headers=bearer(read_token))
        assert response.status_code == 200, response.json
        return [p["id"] for p in response.json["data"]]

    assert ids("status=changed") == [story["published"]]
    assert ids("status=new") == [story["hidden"]]
    assert ids("area=billing") == [story["published"]]
    assert ids(f"owner_id={story['leader'].id}") == [story["published"]]
    assert ids("area=Nowhere") == []
    # Who owns what is not public: the owner filter needs a token.
    assert client.get(f"/api/v1/problems?owner_id={story['leader'].id}").status_code == 401


@pytest.mark.parametrize("query, field", [
    ("status=broken", "status"), ("limit=0", "limit"), ("limit=101", "limit"), ("limit=ten", "limit"),
    ("cursor=-3", "cursor"), ("owner_id=99999999999", "owner_id"), ("area=" + "x" * 300, "area"),
])
def test_bad_query_parameters_are_a_400_naming_the_parameter(client, read_token, query, field):
    response = client.get(f"/api/v1/problems?{query}", headers=bearer(read_token))
    assert response.status_code == 400
    assert response.json["error"]["field"] == field
    assert response.json["error"]["code"] == "invalid_parameter"


def test_history_of_a_problem_oldest_first(client, story, read_token):
    response = client.get(f"/api/v1/problems/{story['published']}/events", headers=bearer(read_token))
    assert response.status_code == 200
    events = response.json["data"]
    verbs = [e["verb"] for e in events]
    assert verbs[0] == "problem_created"
    for verb in ("report_filed", "took_ownership", "change_recorded", "published"):
        assert verb in verbs
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)
    owned = next(e for e in events if e["verb"] == "took_ownership")
    assert owned["actor"] == {"id": story["leader"].id, "name": "Dana Okafor"}
    assert client.get("/api/v1/problems/9999/events", headers=bearer(read_token)).status_code == 404


def test_reports_with_their_people_for_tokens(client, story, read_token):
    listing = client.get("/api/v1/reports", headers=bearer(read_token))
    assert listing.status_code == 200
    assert len(listing.json["data"]) == 3
    in_problem = client.get(f"/api/v1/reports?problem_id={story['published']}", headers=bearer(read_token)).json["data"]
    assert {r["reporter"]["name"] for r in in_problem} == {"Quentin Private", "Rosalind Hidden"}
    one = client.get(f"/api/v1/reports/{story['report']}", headers=bearer(read_token)).json
    assert one["text"].startswith("Zebra-words") and one["reporter"]["email"] == "quentin.private@example.net"
    assert one["location"] == "Billing" and one["channel"] == "web" and one["problem_id"] == story["published"]
    assert client.get("/api/v1/reports?channel=api", headers=bearer(read_token)).json["data"] == []
    assert client.get("/api/v1/reports/424242", headers=bearer(read_token)).status_code == 404


def test_a_merged_problem_says_where_it_went(client, story, read_token):
    source = db.session.get(Problem, story["hidden"])
    other = services.file_report(text="Pelican-words: the ticket machine swallows coins.",
                                 reporter=services.new_reporter(name="P"), channel=Channel.WEB)
    db.session.commit()
    target = other.problem
    merge_problems(source, target, story["leader"])
    db.session.commit()
    response = client.get(f"/api/v1/problems/{story['hidden']}", headers=bearer(read_token))
    assert response.status_code == 301
    assert response.headers["Location"].endswith(f"/api/v1/problems/{target.id}")
    assert response.json["merged_into"] == target.id
    followed = client.get(f"/api/v1/problems/{story['hidden']}", headers=bearer(read_token), follow_redirects=True)
    assert followed.status_code == 200 and followed.json["id"] == target.id
    # Merged problems leave the list; anonymous callers cannot learn about either one.
    ids = [p["id"] for p in client.get("/api/v1/problems", headers=bearer(read_token)).json["data"]]
    assert story["hidden"] not in ids and target.id in ids
    assert client.get(f"/api/v1/problems/{story['hidden']}").status_code == 404


def test_pages_follow_next_links_in_a_stable_order(client, make_report, read_token):
    texts = ["Parking meter", "Website login", "Phone queue", "Branch door", "Late parcel",
             "Wrong invoice", "Broken ramp"]
    for i, text in enumerate(texts):
        make_report(text=f"{text} problem number {i} with unrelated words {i * 7919}", name=f"P{i}")
    seen, url, pages = [], "/api/v1/reports?limit=3", 0
    while url:
        response = client.get(url, headers=bearer(read_token))
        assert response.status_code == 200
        seen += [r["id"] for r in response.json["data"]]
        url = response.json["next"]
        if url:
            assert response.headers["Link"] == f'<{url}>; rel="next"'
        pages += 1
        if pages == 1:  # a report filed while paging does not shift later pages
            make_report(text="Entirely new issue about the bins being full", name="Late")
    assert pages == 3
    assert len(seen) == len(set(seen)) == 7
    assert seen == sorted(seen, reverse=True)


# ---- filing ---------------------------------------------------------------------------

def _count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count(model.id)))


def test_anonymous_filing_works_like_the_public_form(client, app_ctx):
    response = client.post("/api/v1/reports", json={
        "text": "The self-checkout at the Elm Street branch rejects every card.", "location": "Branch visit",
        "occurred_on": YESTERDAY.isoformat(), "name": "Ana", "email": "ana@example.net", "contact_ok": True,
    })
    assert response.status_code == 201, response.json
    assert set(response.json) == {"id", "created_at", "private_url", "held"} and response.json["held"] is False
    report = db.session.get(Report, response.json["id"])
    assert report.channel == Channel.API and report.filed_by_id is None and report.occurred_on == YESTERDAY
    assert report.reporter.email == "ana@example.net" and report.reporter.can_be_emailed
    assert response.json["private_url"].endswith(f"/r/{report.reporter.token}")
    assert report.problem.area == "Branch visit"
    page = client.get(response.json["private_url"].removeprefix("http://careloop.test"))
    assert page.status_code == 200 and "self-checkout" in page.get_data(as_text=True)


def test_a_read_write_token_files_on_behalf_of_a_named_person(client, write_token):
    body = {"text": "Customer says the app logs them out every minute.", "name": "Bea Customer",
            "email": "bea@example.net", "external_id": "TICKET-7"}
    response = client.post("/api/v1/reports", json=body, headers=bearer(write_token))
    assert response.status_code == 201, response.json
    assert response.headers["Location"] == f"/api/v1/reports/{response.json['id']}"
    assert response.json["reporter"]["name"] == "Bea Customer" and response.json["channel"] == "api"
    assert response.json["external_id"] == "TICKET-7" and "private_url" in response.json
    again = client.post("/api/v1/reports", json=body, headers=bearer(write_token))
    assert again.status_code == 409
    assert again.json["error"]["existing_report_id"] == response.json["id"]
    assert _count(Report) == 1
    nameless = client.post("/api/v1/reports", json={"text": "Something else broke."}, headers=bearer(write_token))
    assert nameless.status_code == 422 and nameless.json["error"]["field"] == "name"


def test_a_read_token_may_not_file(client, read_token):
    response = client.post("/api/v1/reports", json={"text": "x", "name": "A"}, headers=bearer(read_token))
    assert response.status_code == 403
    assert response.json["error"]["code"] == "insufficient_scope"
    assert _count(Report) == 0


@pytest.mark.parametrize("body, field", [
    ({}, "text"),
    ({"text": "   "}, "text"),
    ({"text": "ok", "colour": "red"}, "colour"),
    ({"text": 42}, "text"),
    ({"text": "ok", "contact_ok": "yes"}, "contact_ok"),
    ({"text": "ok", "problem_id": True}, "problem_id"),
    ({"text": "ok", "occurred_on": "yesterday"}, "occurred_on"),
    ({"text": "ok", "occurred_on": "20240101"}, "occurred_on"),
    ({"text": "ok", "occurred_on": (date.today() + timedelta(days=3)).isoformat()}, "occurred_on"),
    ({"text": "ok", "email": "not an address"}, "email"),
    ({"text": "ok", "contact_ok": True}, "email"),
    ({"text": "ok", "location": "x" * 201}, "location"),
    ({"text": "bad \u0000 byte"}, "text"),
    ({"text": "ok", "problem_id": 987654}, "problem_id"),
    (["text"], "body"),  # an external id without a token: 401, tests/api/test_hostile_input.py
])
def test_bad_reports_are_a_422_naming_the_field_and_nothing_is_stored(client, app_ctx, body, field):
    response = client.post("/api/v1/reports", json=body)
    assert response.status_code == 422, response.json
    assert response.json["error"]["field"] == field
    assert response.json["error"]["message"]
    assert _count(Report) == 0 and _count(Reporter) == 0 and _count(Problem) == 0


def test_the_report_length_limit_is_the_forms_limit(client, app, app_ctx):
    limit = app.config["CARELOOP_MAX_REPORT_CHARS"]
    response = client.post("/api/v1/reports", json={"text": "a" * (limit + 1)})
    assert response.status_code == 422 and response.json["error"]["field"] == "text"
    assert f"{limit:,}" in response.json["error"]["message"]
    assert _count(Report) == 0
    assert client.post("/api/v1/reports", json={"text": "a " * (limit // 2)}).status_code == 201


def test_me_too_into_a_problem_the_caller_may_see(client, story, write_token):
    # Anonymous callers may join only problems with an approved public title (like the form).
    body = {"text": "Mine too: charged twice.", "problem_id": story["hidden"]}
    assert client.post("/api/v1/reports", json=body).status_code == 422
    response = client.post("/api/v1/reports", json={**body, "name": "Staff-side customer"}, headers=bearer(write_token))
    assert response.status_code == 201 and response.json["problem_id"] == story["hidden"]
    assert response.json["grouping"] == "chosen"


def test_body_errors_have_their_own_status(client, app, app_ctx):
    assert client.post("/api/v1/reports", data="text=hello").status_code == 415
    bad = client.post("/api/v1/reports", data="{not json", content_type="application/json")
    assert bad.status_code == 400 and bad.json["error"]["code"] == "invalid_json"
    huge = json.dumps({"text": "x" * (13 * app.config["CARELOOP_MAX_REPORT_CHARS"] + 70000)})
    too_big = client.post("/api/v1/reports", data=huge, content_type="application/json")
    assert too_big.status_code == 413 and too_big.json["error"]["status"] == 413
    assert _count(Report) == 0


# ---- JSON errors everywhere under /api/ --------------------------------------------

def test_unknown_addresses_and_methods_answer_in_json(client, app_ctx):
    for url in ("/api/v1/nothing-here", "/api/v2/problems", "/api/", "/api/v1/problems/abc"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert response.is_json and response.json["error"]["code"] == "not_found", url
    wrong = client.delete("/api/v1/problems")
    assert wrong.status_code == 405 and wrong.is_json
    assert "GET" in wrong.headers["Allow"]
    assert client.put("/api/v1/reports").json["error"]["status"] == 405
    # ... while pages keep their HTML error pages.
    page = client.get("/no-such-page")
    assert page.status_code == 404 and not page.is_json


def test_a_server_error_under_api_is_json_and_rolls_back(app, app_ctx):
    broken = create_app({**app.config, "TESTING": False, "PROPAGATE_EXCEPTIONS": False})

    @broken.route("/api/v1/boom")
    def boom():
        raise RuntimeError("simulated failure with a secret inside")

    response = broken.test_client().get("/api/v1/boom")
    assert response.status_code == 500 and response.is_json
    assert response.json["error"]["code"] == "server_error"
    assert "secret" not in response.get_data(as_text=True)


def test_a_server_error_in_an_api_view_is_json(app, app_ctx, monkeypatch):
    broken = create_app({**app.config, "TESTING": False, "PROPAGATE_EXCEPTIONS": False})
    from app.api import serializers

    def explode(row):
        raise RuntimeError("simulated")

    monkeypatch.setattr(serializers, "public_problem", explode)
    services.file_report(text="Something to list", reporter=services.new_reporter(name="A"))
    problem = db.session.scalar(sa.select(Problem))
    problem.published_at = problem.created_at
    db.session.commit()
    response = broken.test_client().get("/api/v1/problems")
    assert response.status_code == 500 and response.json["error"]["status"] == 500


def test_the_openapi_document_is_served(client, app_ctx):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.json["openapi"].startswith("3.1")
    assert response.json["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_the_api_is_exempt_from_csrf_and_needs_no_cookie(app, client, write_token):
    app.config["WTF_CSRF_ENABLED"] = True  # app_ctx turns it off again afterwards
    response = client.post("/api/v1/reports", json={"text": "A report from an integration.", "name": "Ann"},
                           headers=bearer(write_token))
    assert response.status_code == 201
    assert "Set-Cookie" not in response.headers
    assert client.post("/login", data={"email": "x@example.org", "password": "y"}).status_code == 400


def test_with_moderation_on_anonymous_filings_wait_for_a_leader(app, client, write_token):
    app.config["CARELOOP_MODERATE_PUBLIC"] = True
    try:
        anonymous = client.post("/api/v1/reports", json={"text": "Buy cheap watches at example dot com"})
        assert anonymous.status_code == 201 and anonymous.json["held"] is True
        held = db.session.get(Report, anonymous.json["id"])
        assert held.problem_id is None and held.moderation == "held"
        # Integrations file like staff: not held.
        filed = client.post("/api/v1/reports", json={"text": "The ramp at the side door is blocked.", "name": "Ola"},
                            headers=bearer(write_token))
        assert filed.status_code == 201 and filed.json["moderation"] is None and filed.json["problem_id"]
        # Tokens see the held report, without a problem.
        shown = client.get(f"/api/v1/reports/{held.id}", headers=bearer(write_token)).json
        assert shown["moderation"] == "held" and shown["problem_id"] is None and shown["links"]["problem"] is None
    finally:
        app.config["CARELOOP_MODERATE_PUBLIC"] = False


def test_a_lost_database_is_a_json_503_in_the_api_shape(client, app_ctx, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from app.api import routes

    def unreachable(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(routes, "_published", unreachable)
    response = client.get("/api/v1/problems")
    assert response.status_code == 503
    assert response.json["error"]["code"] == "database_unavailable"
    assert int(response.headers["Retry-After"]) > 0
