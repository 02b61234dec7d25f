"""Spam defences on the public form, and the optional moderation queue for public reports."""

from __future__ import annotations

import logging
import re
import time

import pytest

from app.extensions import db
from app.models import Event, Problem, Report, Reporter, Role
from app.queries import triage_queue
from app.security import spam
from app.services.moderation import REPORT_APPROVED, REPORT_HELD, REPORT_REJECTED

WORDS = "The lift at the Elm Street branch has been out of order for three weeks."


def _form(**overrides):
    return {"text": WORDS, "problem_choice": "new", "name": "Ada Byrne", "email": "ada@example.net",
            "contact_ok": "y", **overrides}


def _shown_token(client) -> str:
    page = client.get("/").get_data(as_text=True)
    return re.search(r'name="shown" type="hidden" value="([^"]+)"', page).group(1)


def _count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(db.select(db.func.count()).select_from(model))


@pytest.fixture
def min_seconds(app_ctx):
    app_ctx.config["CARELOOP_SPAM_MIN_SECONDS"] = 3
    yield 3
    app_ctx.config["CARELOOP_SPAM_MIN_SECONDS"] = 0


@pytest.fixture
def moderated(app_ctx):
    app_ctx.config["CARELOOP_MODERATE_PUBLIC"] = True
    yield
    app_ctx.config["CARELOOP_MODERATE_PUBLIC"] = False


def _signed_seconds_ago(monkeypatch, app, seconds: float) -> str:
    """A form token as if the form had been shown ``seconds`` ago."""
    from itsdangerous import TimestampSigner

    real = time.time()
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: int(real - seconds))
    with app.test_request_context():
        token = spam.form_shown_token()
    monkeypatch.undo()
    return token


# --- The honeypot ------------------------------------------------------------------


def test_the_trap_field_is_hidden_skipped_by_tab_and_labelled_for_screen_readers(client):
    page = client.get("/").get_data(as_text=True)
    trap = re.search(r'<div class="hp-field">(.*?)</div>', page, re.DOTALL).group(1)
    assert '<label for="extra_notes">Leave this field empty' in trap
    assert 'autocomplete="off"' in trap and 'tabindex="-1"' in trap
    css = client.get("/static/careloop.css").get_data(as_text=True)
    rule = re.search(r"\.hp-field \{([^}]*)\}", css).group(1)
    assert "position: absolute" in rule and "-10000px" in rule and "overflow: hidden" in rule


def test_a_bot_filling_the_trap_is_thanked_but_nothing_is_stored(client, caplog):
    with caplog.at_level(logging.WARNING, logger="careloop.spam"):
        response = client.post("/", data=_form(extra_notes="http://cheap-pills.example"))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Thank you. We have your report." in page
    assert _count(Report) == 0 and _count(Reporter) == 0 and _count(Problem) == 0
    assert [r.getMessage() for r in caplog.records] == [
        "public report discarded as spam: reason=honeypot ip=127.0.0.1"]
    assert WORDS not in caplog.text and "ada@example.net" not in caplog.text


def test_a_person_who_leaves_the_trap_empty_files_normally(client):
    response = client.post("/", data=_form(extra_notes=""))
    assert response.status_code == 302 and "/thanks" in response.headers["Location"]
    assert _count(Report) == 1


# --- The minimum time ---------------------------------------------------------------


def test_a_form_sent_too_soon_comes_back_with_the_words_kept(client, min_seconds):
    token = _shown_token(client)
    response = client.post("/", data=_form(shown=token))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "We have not sent your report yet" in page and "press “Send my report” again" in page
    assert WORDS in page and 'value="Ada Byrne"' in page
    assert f'value="{token}"' in page  # the clock keeps running from when the form was first shown
    assert _count(Report) == 0


def test_the_same_form_sent_again_after_the_minimum_time_is_filed(client, min_seconds, monkeypatch, app_ctx):
    token = _signed_seconds_ago(monkeypatch, app_ctx, 4)
    response = client.post("/", data=_form(shown=token))
    assert response.status_code == 302
    assert _count(Report) == 1


@pytest.mark.parametrize("token", ["", "not-a-token", "public-report.AAAAAA.forged-signature"])
def test_a_missing_or_forged_timestamp_is_never_silently_dropped(client, min_seconds, token):
    response = client.post("/", data=_form(shown=token))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "We have not sent your report yet" in page and WORDS in page
    fresh = re.search(r'name="shown" type="hidden" value="([^"]+)"', page).group(1)
    with client.application.test_request_context():
        assert spam.seconds_since_shown(fresh) is not None  # a new, valid clock to try again with
    assert _count(Report) == 0


def test_zero_minimum_seconds_turns_the_time_check_off(client):
    assert client.post("/", data=_form()).status_code == 302


def test_the_staff_form_has_no_spam_defences(client, auth, make_user, min_seconds):
    auth.login(make_user(Role.STAFF))
    page = client.get("/staff/report").get_data(as_text=True)
    assert "extra_notes" not in page and 'name="shown"' not in page
    response = client.post("/staff/report", data={"on_behalf": "self", "text": WORDS, "problem_choice": "new"})
    assert response.status_code == 302 and _count(Report) == 1


# --- Moderation ---------------------------------------------------------------------


def _file_public(client) -> Reporter:
    response = client.post("/", data=_form())
    assert response.status_code == 302
    token = response.headers["Location"].split("/r/")[1].split("/")[0]
    return db.session.scalar(db.select(Reporter).filter_by(token=token))


def test_with_moderation_on_a_public_report_is_held_out_of_every_problem(client, moderated):
    reporter = _file_public(client)
    report = reporter.reports[0]
    assert report.moderation == "held" and report.problem_id is None and report.text == WORDS
    assert _count(Problem) == 0 and triage_queue_ids() == []
    assert db.session.scalar(db.select(Event.verb).where(Event.report_id == report.id)) == REPORT_HELD
    # The person still gets their thank-you page and private link.
    thanks = client.get(f"/r/{reporter.token}/thanks")
    assert thanks.status_code == 200 and "Thank you. We have your report." in thanks.get_data(as_text=True)
    private = client.get(f"/r/{reporter.token}").get_data(as_text=True)
    assert WORDS in private and "checked by a person before they are passed on" in private
    # Nothing about it shows on public pages.
    assert WORDS not in client.get("/changes").get_data(as_text=True)
    # A held report has no problem to be "still happening" in.
    assert client.post(f"/r/{reporter.token}/reports/{report.id}/still-happening").status_code == 404


def triage_queue_ids():
    return [problem.id for problem in _triage_problems()]


def test_staff_reports_are_never_held(client, auth, make_user, moderated):
    auth.login(make_user(Role.STAFF))
    client.post("/staff/report", data={"on_behalf": "self", "text": WORDS, "problem_choice": "new"})
    report = db.session.scalar(db.select(Report))
    assert report.moderation is None and report.problem_id is not None


def test_triage_links_to_the_held_reports(client, auth, make_user, moderated):
    _file_public(client)
    auth.login(make_user(Role.LEADER))
    triage = client.get("/triage").get_data(as_text=True)
    assert '<a href="/held">1 public report is waiting to be checked</a>' in triage
    held = client.get("/held")
    assert held.status_code == 200
    page = held.get_data(as_text=True)
    assert WORDS in page and "Approve" in page and "Reject as spam" in page


def test_a_leader_approves_a_held_report_and_it_is_placed_like_a_new_one(client, auth, make_user, moderated):
    reporter = _file_public(client)
    report_id = reporter.reports[0].id
    leader = make_user(Role.LEADER)
    auth.login(leader)
    response = client.post(f"/held/{report_id}/approve")
    assert response.status_code == 302 and response.headers["Location"].endswith("/held")
    db.session.expire_all()
    report = db.session.get(Report, report_id)
    assert report.moderation is None and report.problem is not None
    assert report.problem.title.startswith("The lift at the Elm Street branch")
    verbs = db.session.scalars(db.select(Event.verb).where(Event.report_id == report_id).order_by(Event.id)).all()
    assert verbs[0] == REPORT_HELD and REPORT_APPROVED in verbs
    approved = db.session.scalar(db.select(Event).where(Event.verb == REPORT_APPROVED))
    assert approved.actor_id == leader.id and approved.problem_id == report.problem_id
    assert report.problem_id in [p.id for p in _triage_problems()]
    private = client.get(f"/r/{reporter.token}").get_data(as_text=True)
    assert "Waiting for someone to take ownership." in private
    # Deciding twice is refused with a message, not an error page.
    again = client.post(f"/held/{report_id}/approve")
    assert again.status_code == 404


def _triage_problems():
    rows = triage_queue()
    return [row.Problem if hasattr(row, "Problem") else row for row in rows]


def test_a_leader_rejects_spam_its_words_and_details_are_removed_the_audit_stays(client, auth, make_user, moderated):
    reporter = _file_public(client)
    report_id = reporter.reports[0].id
    leader = make_user(Role.LEADER)
    auth.login(leader)
    assert client.post(f"/held/{report_id}/reject").status_code == 302
    db.session.expire_all()
    report = db.session.get(Report, report_id)
    assert report.moderation == "rejected" and report.text == "" and report.problem_id is None
    assert report.reporter.display_name is None and report.reporter.email is None
    assert not report.reporter.contact_ok
    rejected = db.session.scalar(db.select(Event).where(Event.verb == REPORT_REJECTED))
    assert rejected.actor_id == leader.id and rejected.report_id == report_id
    assert _count(Problem) == 0
    assert WORDS not in client.get("/held").get_data(as_text=True)
    private = client.get(f"/r/{reporter.token}").get_data(as_text=True)
    assert "This report was removed as spam." in private and WORDS not in private


def test_staff_cannot_moderate(client, auth, make_user, moderated):
    reporter = _file_public(client)
    auth.login(make_user(Role.STAFF))
    assert client.get("/held").status_code == 403
    assert client.post(f"/held/{reporter.reports[0].id}/approve").status_code == 403
    db.session.expire_all()
    assert db.session.get(Report, reporter.reports[0].id).moderation == "held"


def test_moderation_forms_need_a_csrf_token(client, auth, make_user, moderated, app_ctx):
    reporter = _file_public(client)
    auth.login(make_user(Role.LEADER))
    app_ctx.config["WTF_CSRF_ENABLED"] = True
    response = client.post(f"/held/{reporter.reports[0].id}/approve")
    assert response.status_code == 400
    db.session.expire_all()
    assert db.session.get(Report, reporter.reports[0].id).moderation == "held"
