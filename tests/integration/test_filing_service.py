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


def test_an_imported_ticket_is_filed_through_the_same_service_without_a_forms_steps(app_ctx, make_report,
                                                                                     filing_limit):
    from app.models import Reporter
    from app.services.errors import ServiceError
    from app.services.filing import Imported

    existing = make_report(WORDS)  # a similar open problem: a form would offer it first
    created = datetime(2029, 12, 1, 8, 0)
    filed = []
    for n in range(3):  # over the filing budget of 2 an hour: imports do not spend it
        result = submit_report(
            Submission(text=WORDS, person=Person("Ada Byrne", "ada@example.net", True),
                       imported=Imported(source="zendesk", external_id=str(500 + n), created_at=created,
                                         url=f"https://desk.example/agent/tickets/{500 + n}")),
            channel=Channel.API)  # the importer passes its own channel through
        assert isinstance(result, Filed)  # never ChooseFirst: nobody is there to answer
        filed.append(result.report)
    db.session.commit()

    first = filed[0]
    assert (first.source, first.external_id, first.created_at) == ("zendesk", "500", created)
    assert first.external_url == "https://desk.example/agent/tickets/500" and first.moderation is None
    assert len({r.reporter_id for r in filed}) == 3  # a new reporter each time, never reused by email
    assert {r.problem_id for r in filed} == {existing.problem_id}  # placed by the grouping engine

    reporters = db.session.scalar(db.select(db.func.count(Reporter.id)))
    with pytest.raises(ServiceError):
        submit_report(Submission(text="   ", person=Person("Tom"),
                                 imported=Imported(source="zendesk", external_id="599")), channel=Channel.API)
    db.session.flush()
    assert db.session.scalar(db.select(db.func.count(Reporter.id))) == reporters  # a refused ticket leaves nothing


def test_the_importer_files_through_submit_report_only():
    from pathlib import Path

    import app.imports.importer as importer

    code = Path(importer.__file__).read_text()
    assert "submit_report(" in code and "file_report(" not in code
