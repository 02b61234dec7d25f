"""Zendesk imports a support desk can trust (issue 16), against a fake Zendesk on a real
loopback HTTP server, through the core: filters and the dry run, deletions in the export
and the API, incidents joining their problem ticket's problem, a page of identical tickets,
and the edges of write-back (start-up validation, permanent refusals, switched off).
Run on SQLite and on PostgreSQL (DATABASE_URL)."""

from __future__ import annotations

import json

import pytest

from app import create_app, services
from app.extensions import db
from app.imports.importer import import_from_source
from app.messaging.mail import MailNotConfigured, deliver_due
from app.models import Message, MessageKind, MessageStatus, Problem, SourceState, utcnow
from app.plugins.manager import PluginError
from tests.api.conftest import bearer, make_token, read_token  # noqa: F401 - fixtures
from tests.plugins.test_zendesk import (  # noqa: F401 - fixtures
    START_EPOCH,
    configure,
    export_page,
    fake,
    fake_time,
    json_response,
    report,
    reports,
    saved_cursor,
    zd,
    zendesk,
    zticket,
)

FIRST = f"start:{START_EPOCH}"


def ticket(ticket_id: int, description: str = "", **fields) -> dict:
    raw = {**zticket(ticket_id, description), **fields}
    raw["raw_subject"] = raw["subject"]
    return raw


# -- 3. deletions are visible -----------------------------------------------------------------


def test_a_deleted_ticket_is_marked_deleted_in_the_export_and_the_api_and_keeps_its_count(
        zd, runner, client, read_token):
    words, subject = "The ticket machine at the north gate eats coins.", "North gate machine"
    zd.on_export(FIRST, export_page([ticket(101, words, subject=subject), ticket(102, words, subject=subject)],
                                    "d1", True))
    assert import_from_source("zendesk").created == 2
    problem_id = report("101").problem_id
    zd.on_export("cursor:d1", export_page([ticket(101, status="deleted")], "d2", True))
    assert import_from_source("zendesk").removed == 1

    lines = [json.loads(line) for line in runner.invoke(args=["export", "reports"]).output.splitlines()]
    gone = next(r for r in lines if r["external_id"] == "101")
    alive = next(r for r in lines if r["external_id"] == "102")
    assert gone["deleted"] is True and gone["deleted_at"] and gone["text"] == ""
    assert gone["reporter"]["email"] is None
    assert alive["deleted"] is False and alive["deleted_at"] is None and alive["text"]

    answer = client.get(f"/api/v1/reports/{report('101').id}", headers=bearer(read_token)).json
    assert answer["deleted"] is True and answer["removed_at"] and answer["text"] is None
    assert client.get(f"/api/v1/reports/{report('102').id}", headers=bearer(read_token)).json["deleted"] is False

    problems = [json.loads(line) for line in runner.invoke(args=["export", "problems"]).output.splitlines()]
    problem = next(p for p in problems if p["id"] == problem_id)
    assert report("102").problem_id == problem_id and len(problem["report_ids"]) == 2  # the count stays


# -- 5. only tickets that are reports ------------------------------------------------------------


FILTERS = [
    # setting, value, a ticket that matches, one that does not
    ("tags", "bug, outage", {"tags": ["outage", "vip"]}, {"tags": ["billing"]}),
    ("exclude_tags", "password_reset", {"tags": ["bug"]}, {"tags": ["bug", "password_reset"]}),
    ("types", "problem, incident", {"type": "incident"}, {"type": "question"}),
    ("groups", "360001", {"group_id": 360001}, {"group_id": 360002}),
    ("brands", "77", {"brand_id": 77}, {"brand_id": 78}),
    ("forms", "4501", {"ticket_form_id": 4501}, {"ticket_form_id": None}),
]


@pytest.mark.parametrize("setting, value, matching, other", FILTERS, ids=[f[0] for f in FILTERS])
def test_each_filter_brings_in_only_the_tickets_that_are_reports(zd, configure, setting, value, matching, other):
    configure(**{setting: value})
    zd.on_export(FIRST, export_page([ticket(201, "The lift at platform 2 is stuck again.", **matching),
                                     ticket(202, "How do I change my password?", **other)], "f1", True))

    result = import_from_source("zendesk")

    assert result.ok and (result.created, result.excluded) == (1, 1)
    assert [r.external_id for r in reports()] == ["201"]


def test_a_mistyped_filter_is_refused_with_a_clear_line(zd, configure):
    configure(types="problme")
    result = import_from_source("zendesk")
    assert not result.ok and "CARELOOP_ZENDESK_TYPES takes problem, incident" in result.error_message
    assert reports() == []


def test_a_ticket_that_stops_matching_keeps_its_report_and_says_why(zd, configure, client, auth, make_user):
    configure(tags="bug")
    zd.on_export(FIRST, export_page([ticket(301, "The app crashes when I open my tickets.", tags=["bug"])],
                                    "s1", True))
    assert import_from_source("zendesk").created == 1
    zd.on_export("cursor:s1", export_page([ticket(301, "The app crashes when I open my tickets.",
                                                  tags=["how_to"])], "s2", True))

    result = import_from_source("zendesk")

    assert result.ok and result.excluded == 1 and result.removed == 0
    kept = report("301")
    assert kept.text.endswith("The app crashes when I open my tickets.") and kept.removed_at is None
    assert "no longer has any of the tags in CARELOOP_ZENDESK_TAGS (bug)" in kept.import_note
    auth.login(make_user("leader"))
    page = client.get(f"/problems/{kept.problem_id}").get_data(as_text=True)
    assert "No longer imported as a report" in page and "CARELOOP_ZENDESK_TAGS" in page

    # Matching again clears the note.
    zd.on_export("cursor:s2", export_page([ticket(301, "The app crashes when I open my tickets.",
                                                  tags=["bug"])], "s3", True))
    import_from_source("zendesk")
    assert report("301").import_note is None


def test_the_dry_run_counts_and_samples_and_stores_nothing(zd, configure, runner):
    configure(exclude_tags="password_reset")
    zd.on_export(FIRST, export_page([ticket(401, "Card reader refuses contactless."),
                                     ticket(402, "Reset my password please", tags=["password_reset"])], "p1", False))
    zd.on_export("cursor:p1", export_page([ticket(403, "Card reader refuses contactless at till 4."),
                                           ticket(404, status="deleted")], "p2", True))

    outcome = runner.invoke(args=["import", "zendesk", "--dry-run"])

    assert outcome.exit_code == 0, outcome.output
    assert "2 would become reports, 1 do not match the filter, 1 deleted" in outcome.output
    assert "everything from the start" in outcome.output
    assert "would import 401: Ticket 401" in outcome.output and "would import 403" in outcome.output
    assert "would leave out 402: It has the tag password_reset" in outcome.output
    assert reports() == [] and saved_cursor() is None
    assert db.session.get(SourceState, "zendesk") is None


def test_the_sources_page_dry_run_and_test_connection(zd, configure, client, auth, make_user):
    configure(exclude_tags="password_reset")
    zd.on_export(FIRST, export_page([ticket(401, "Card reader refuses contactless."),
                                     ticket(402, "Reset my password", tags=["password_reset"])], "p1", True))
    auth.login(make_user("admin"))

    page = client.post("/admin/sources/zendesk/preview").get_data(as_text=True)
    assert "1 would become reports, 1 do not match the filter, 0 deleted" in page
    assert "#401" in page and "It has the tag password_reset" in page
    assert reports() == [] and saved_cursor() is None

    zd.on_me = {"user": {"id": 7, "name": "Careloop bot", "role": "admin"}}
    answer = client.post("/admin/sources/zendesk/test")
    assert answer.status_code == 200 and "Signed in to Zendesk as Careloop bot (admin)" in answer.get_data(as_text=True)

    overview = client.get("/admin/sources").get_data(as_text=True)
    assert "Configured." in overview and "Import now" in overview and "Test connection" in overview
    assert "tok-123" not in overview  # secrets stay in the environment


def test_the_sources_page_needs_an_admin_and_its_token(zd, client, auth, make_user, app):
    auth.login(make_user("leader"))
    assert client.post("/admin/sources/zendesk/preview").status_code in (302, 403)
    auth.login(make_user("admin"))
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        response = client.post("/admin/sources/zendesk/test")
        assert response.status_code == 400  # no CSRF token: refused, nothing is called
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert [e for e in zd.log if e["path"].endswith("/users/me.json")] == []


# -- 6. Zendesk's own grouping counts -----------------------------------------------------------


def test_incidents_join_their_problem_tickets_problem_and_the_link_shows(zd, client, auth, make_user):
    problem_ticket = ticket(500, "Payments fail at every till since the update.", type="problem")
    zd.on_export(FIRST, export_page([
        ticket(501, "My card was refused twice at the bakery counter.", type="incident", problem_id=500),
    ], "i1", False))
    zd.on_export("cursor:i1", export_page([
        problem_ticket,
        ticket(502, "The app says 'payment declined' when I top up.", type="incident", problem_id=500),
    ], "i2", True))

    assert import_from_source("zendesk").created == 3

    assert report("501").problem_id == report("500").problem_id == report("502").problem_id
    assert report("501").linked_to == "500"
    auth.login(make_user("leader"))
    page = client.get(f"/problems/{report('500').problem_id}").get_data(as_text=True)
    assert "Grouped in the source system by" in page
    assert f'href="{zd_url()}/agent/tickets/500"' in page


def zd_url() -> str:
    from flask import current_app

    return current_app.config["CARELOOP_ZENDESK_URL"]


# -- 8. imports group like everything else -------------------------------------------------------


def test_a_page_of_identical_tickets_makes_one_problem(zd):
    words = "The self-service kiosk at the main entrance freezes on the payment screen every morning."
    zd.on_export(FIRST, export_page([ticket(600 + n, words, subject="Kiosk freezes") for n in range(7)], "g1", True))

    assert import_from_source("zendesk").created == 7

    assert len({r.problem_id for r in reports()}) == 1
    assert db.session.scalar(db.select(db.func.count(Problem.id))) == 1
    assert [r.grouping for r in reports()] == [None] + ["auto"] * 6  # the first started it


# -- 9. write-back at the edges -----------------------------------------------------------------


def test_a_mistyped_write_back_setting_stops_start_up_with_a_clear_line(app):
    with pytest.raises(PluginError, match="CARELOOP_ZENDESK_WRITE_BACK must be on or off, not 'disabled'"):
        create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"], "SECRET_KEY": "x",
                    "CARELOOP_ZENDESK_WRITE_BACK": "disabled"})


def published_with_replies(zd, make_user, tickets: list[dict]) -> Problem:
    zd.on_export(FIRST, export_page(tickets, "w1", True))
    assert import_from_source("zendesk").ok
    leader = make_user("leader", name="Dana Okafor")
    problem = report(str(tickets[0]["id"])).problem
    assert {report(str(t["id"])).problem_id for t in tickets} == {problem.id}  # the same words: one problem
    services.assign_owner(problem, leader, leader)
    services.record_change(problem, leader, since=utcnow().date(),
                           what="The card readers were replaced and accept contactless payments again.")
    services.publish(problem, leader, public_title="Contactless works again", public_summary="New readers.")
    db.session.commit()
    return problem


def deliver_replies():
    """The delivery worker, once (email waits: no mail server in these tests)."""
    try:
        return deliver_due()
    except MailNotConfigured:
        return None


def replies() -> dict[str, Message]:
    db.session.expire_all()
    return {m.to_address: m for m in db.session.scalars(db.select(Message).filter_by(kind=MessageKind.WRITE_BACK))}


@pytest.mark.parametrize("status, body, reason", [
    (404, {"error": "RecordNotFound", "description": "Not found"}, "HTTP 404"),
    (422, {"error": "RecordInvalid", "description": "Record validation errors",
           "details": {"status": [{"description": "Status: closed prevents ticket update"}]}}, "closed"),
])
def test_a_permanent_refusal_fails_the_reply_at_once_with_the_reason(zd, make_user, status, body, reason):
    published_with_replies(zd, make_user, [ticket(701, "Card reader refuses contactless.")])
    zd.put_responses = [json_response(body, status)]

    result = deliver_due()

    reply = replies()["zendesk:701"]
    assert result.failed == 1 and result.retrying == 0
    assert reply.status == MessageStatus.FAILED and reply.attempts == 1
    assert reason in reply.last_error and "Refused for good" in reply.last_error
    assert len([e for e in zd.log if e["method"] == "PUT"]) == 1  # not retried
    deliver_replies()  # again: nothing is due
    assert len([e for e in zd.log if e["method"] == "PUT"]) == 1


def test_write_back_switched_off_withdraws_queued_replies(zd, configure, make_user):
    published_with_replies(zd, make_user, [ticket(711, "Card reader refuses contactless.")])
    assert replies()["zendesk:711"].status == MessageStatus.PENDING
    configure(write_back="off")

    deliver_due()

    reply = replies()["zendesk:711"]
    assert reply.status == MessageStatus.FAILED and reply.sent_at is None
    assert reply.last_error.startswith("Withdrawn:")
    assert [e for e in zd.log if e["method"] == "PUT"] == []


def test_the_problem_page_lists_each_ticket_reply_with_its_state(zd, configure, make_user, client, auth):
    problem = published_with_replies(zd, make_user, [
        ticket(n, "Card reader refuses contactless.", subject="Card reader") for n in (721, 722, 723)])
    assert set(replies()) == {"zendesk:721", "zendesk:722", "zendesk:723"}
    zd.put_responses = [json_response({"ticket": {"id": 721}}),
                        json_response({"error": "RecordNotFound", "description": "Not found"}, 404)]
    deliver_due(limit=2)  # one posted, one refused; the third still waits

    auth.login(problem.owner)
    page = client.get(f"/problems/{problem.id}").get_data(as_text=True)

    assert "Replies on tickets" in page
    assert "1 posted, 1 waiting, 1 failed, 0 withdrawn." in page
    assert page.count('class="reply-posted"') == 1 and page.count('class="reply-failed"') == 1
    assert "HTTP 404" in page


def test_the_command_line_says_the_mistyped_setting_in_one_line(app, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite'}", "SECRET_KEY": "x",
           "CARELOOP_ZENDESK_WRITE_BACK": "disabled"}
    careloop = Path(sys.executable).with_name("careloop")
    done = subprocess.run([str(careloop), "import", "zendesk"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "Careloop cannot start, a setting is wrong: CARELOOP_ZENDESK_WRITE_BACK must be on or off, " \
           "not 'disabled'." in done.stderr
