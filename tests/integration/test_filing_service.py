"""One filing service for every way in: the public form, the staff form and the API share its
steps, so they share its limits and its answers."""

from __future__ import annotations

from datetime import datetime

import pytest

from app.extensions import db
from app.models import Channel, Report, clock_at
from app.services.filing import ChooseFirst, Discarded, Filed, Person, Submission, submit_report

NOW = datetime(2030, 3, 4, 10, 30, 0)
WORDS = "The ticket machine at the north entrance swallows coins and prints nothing."


@pytest.fixture
def filing_limit(app_ctx):
    saved = app_ctx.config["CARELOOP_RATELIMIT_FILING"], app_ctx.config["CARELOOP_RATELIMIT_ENABLED"]
    app_ctx.config.update(CARELOOP_RATELIMIT_FILING="2/hour", CARELOOP_RATELIMIT_ENABLED=True)
    with clock_at(NOW):
        yield
    app_ctx.config["CARELOOP_RATELIMIT_FILING"], app_ctx.config["CARELOOP_RATELIMIT_ENABLED"] = saved


def _count() -> int:
    db.session.expire_all()
    return db.session.scalar(db.select(db.func.count(Report.id)))


def test_the_form_and_the_api_share_one_filing_budget_per_address(client, filing_limit):
    ip = {"REMOTE_ADDR": "198.51.100.20"}
    form = client.post("/", data={"text": WORDS, "problem_choice": "new"}, environ_base=ip)
    assert form.status_code == 302
    api = client.post("/api/v1/reports", json={"text": WORDS + " Again."}, environ_base=ip)
    assert api.status_code == 201
    over_api = client.post("/api/v1/reports", json={"text": WORDS + " Third."}, environ_base=ip)
    assert over_api.status_code == 429 and int(over_api.headers["Retry-After"]) > 0
    assert over_api.get_json()["error"]["status"] == 429
    over_form = client.post("/", data={"text": WORDS + " Fourth.", "problem_choice": "new"}, environ_base=ip)
    assert over_form.status_code == 429
    assert WORDS + " Fourth." in over_form.get_data(as_text=True)  # the person's words are kept
    assert _count() == 2


def test_a_honeypot_filing_is_discarded_and_stores_nothing(app_ctx):
    result = submit_report(Submission(text=WORDS, problem_choice="new", honeypot="buy now"),
                           channel=Channel.WEB, client="192.0.2.1")
    assert isinstance(result, Discarded)
    assert _count() == 0


def test_a_similar_open_problem_is_offered_before_anything_is_stored(app_ctx, make_report, make_user):
    frankie = make_user(name="Frankie Hall")
    make_report(text=WORDS)
    db.session.commit()
    result = submit_report(Submission(text=WORDS, person=Person("Kit")), channel=Channel.STAFF, filed_by=frankie)
    assert isinstance(result, ChooseFirst) and result.suggestions
    assert _count() == 1
    chosen = submit_report(Submission(text=WORDS, person=Person("Kit"),
                                      problem_choice=str(result.suggestions[0]["id"])),
                           channel=Channel.STAFF, filed_by=frankie)
    db.session.commit()
    assert isinstance(chosen, Filed) and chosen.report.grouping == "chosen"
    assert _count() == 2


def test_staff_filing_for_themselves_and_for_a_named_customer(app_ctx, make_user):
    frankie = make_user(name="Frankie Hall")
    mine = submit_report(Submission(text=WORDS, problem_choice="new"), channel=Channel.STAFF, filed_by=frankie)
    theirs = submit_report(Submission(text=WORDS + " For Mrs Field.", problem_choice="new",
                                      person=Person("Mrs Field", "field@example.net", True)),
                           channel=Channel.STAFF, filed_by=frankie)
    db.session.commit()
    assert mine.report.reporter.user_id == frankie.id
    assert theirs.report.reporter.display_name == "Mrs Field"
    assert theirs.report.filed_by_id == frankie.id
