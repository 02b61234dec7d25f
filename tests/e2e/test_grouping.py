"""Issue 3's journeys: "Is it one of these?" while typing and without JavaScript, and a
leader merging two problems so both sets of reporters appear on the result."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app import services
from app.extensions import db
from app.models import Problem, Report, Role

from .conftest import shot, sign_in

pytestmark = pytest.mark.e2e

EXISTING = "The card reader at the front desk rejects every contactless payment."
MINE = "The card reader at the front desk rejects contactless payments, I had to pay cash."


@pytest.fixture
def public_problem(app, live_server):
    """An open problem whose public title a leader approved, and easy suggestions."""
    saved = {k: app.config.get(k) for k in ("CARELOOP_SUGGEST_MIN", "CARELOOP_GROUPING_AUTO")}
    app.config.update(CARELOOP_SUGGEST_MIN=0.3, CARELOOP_GROUPING_AUTO=1.01)
    with app.app_context():
        reporter = services.new_reporter(name="Ana")
        report = services.file_report(text=EXISTING, reporter=reporter)
        report.problem.public_title = "Card payments at the front desk"
        db.session.commit()
        problem_id = report.problem_id
    yield problem_id
    for key, value in saved.items():
        if value is None:
            app.config.pop(key, None)
        else:
            app.config[key] = value


def mine(app) -> Report:
    with app.app_context():
        report = db.session.scalar(db.select(Report).where(Report.text == MINE))
        db.session.expunge_all()
        return report


def test_suggestions_appear_while_typing_and_me_too_files_into_that_problem(page, app, public_problem):
    page.goto("/")
    page.get_by_label("What isn't working?").press_sequentially(MINE, delay=5)
    choice = page.get_by_role("button", name="This is happening to me too: Card payments at the front desk")
    expect(choice).to_be_visible()
    shot(page, "desktop-suggestions-while-typing")
    choice.focus()
    page.keyboard.press("Enter")  # keyboard works as well as a click
    expect(choice).to_have_attribute("aria-pressed", "true")
    page.get_by_role("button", name="Send my report").click()
    expect(page.get_by_role("heading", name="Thank you. We have your report.")).to_be_visible()
    report = mine(app)
    assert report.problem_id == public_problem and report.grouping == "chosen"


def test_without_javascript_the_question_is_a_confirmation_step(browser, live_server, app, public_problem):
    context = browser.new_context(java_script_enabled=False, base_url=live_server)
    page = context.new_page()
    page.goto("/")
    page.get_by_label("What isn't working?").fill(MINE)
    page.get_by_role("button", name="Send my report").click()
    expect(page.get_by_role("group", name="Is it one of these?")).to_be_visible()
    expect(page.get_by_label("What isn't working?")).to_have_value(MINE)  # their words kept
    shot(page, "desktop-suggestions-without-javascript")
    page.get_by_label("This is happening to me too: Card payments at the front desk").check()
    page.get_by_role("button", name="Send my report").click()
    expect(page.get_by_role("heading", name="Thank you. We have your report.")).to_be_visible()
    assert mine(app).problem_id == public_problem
    context.close()


def test_a_leader_merges_two_problems_and_both_sets_of_people_appear(page, app, live_server, create_user):
    app.config["CARELOOP_GROUPING_AUTO"], saved = 1.01, app.config["CARELOOP_GROUPING_AUTO"]
    app.config["CARELOOP_GROUPING_REVIEW"], saved_review = 1.01, app.config["CARELOOP_GROUPING_REVIEW"]
    try:
        leader = create_user(Role.LEADER, name="Dana Okafor")
        with app.app_context():
            a = services.file_report(text="Parcel left in the rain.", reporter=services.new_reporter(name="Alan Price"))
            b = services.file_report(text="Driver leaves boxes outside.", reporter=services.new_reporter(name="Zara Ali"))
            db.session.commit()
            source, target = a.problem_id, b.problem_id
        sign_in(page, leader)
        page.goto(f"/problems/{source}")
        page.get_by_label("Merge into problem number").fill(str(target))
        page.get_by_role("button", name="Merge this problem").click()
        expect(page).to_have_url(re.compile(rf"/problems/{target}$"))
        expect(page.get_by_text(f"Problem #{source} merged into #{target}")).to_be_visible()
        reports = page.locator("article.report")
        expect(reports).to_have_count(2)
        expect(reports.filter(has_text="Alan Price")).to_have_count(1)
        expect(reports.filter(has_text="Zara Ali")).to_have_count(1)
        shot(page, "desktop-leader-merged")
        page.goto(f"/problems/{source}")
        expect(page).to_have_url(re.compile(rf"/problems/{target}$"))
        with app.app_context():
            assert db.session.get(Problem, source).merged_into_id == target
    finally:
        app.config["CARELOOP_GROUPING_AUTO"] = saved
        app.config["CARELOOP_GROUPING_REVIEW"] = saved_review


def test_triage_shows_candidates_with_scores_and_merges_in_one_click(page, app, live_server, create_user):
    """Issue 13: each new problem's best candidates, with scores; one click merges; several
    chosen problems merge into one in one step; the grouping panel counts it."""
    keys = ("CARELOOP_GROUPING_AUTO", "CARELOOP_GROUPING_REVIEW", "CARELOOP_SUGGEST_MIN")
    saved = {k: app.config.get(k) for k in keys}
    app.config.update(CARELOOP_GROUPING_AUTO=1.01, CARELOOP_GROUPING_REVIEW=1.0, CARELOOP_SUGGEST_MIN=0.05)
    try:
        leader = create_user(Role.LEADER, name="Dana Okafor")
        texts = [
            ("Alan Price", "Parcels are left outside in the rain by the driver, mine was soaked."),
            ("Zara Ali", "The driver left my parcel outside in the rain again, the box fell apart."),
            ("Tom Reed", "My parcel was left on the doorstep in the rain and got wet."),
            ("Ivy Chen", "The lift in block B has been stuck on the ground floor since Friday."),
        ]
        ids = []
        with app.app_context():
            for name, text in texts:
                report = services.file_report(text=text, reporter=services.new_reporter(name=name))
                db.session.commit()
                ids.append(report.problem_id)
        first, second, third, lift = ids
        sign_in(page, leader)
        page.goto("/triage")
        table = page.get_by_role("table", name="New problems and their candidate duplicates")
        expect(table).to_be_visible()
        row = table.get_by_role("row").filter(has=page.get_by_role("link", name=re.compile("doorstep in the rain")))
        expect(row.get_by_text(re.compile(r"score 0\.\d\d")).first).to_be_visible()
        shot(page, "desktop-triage-candidates")
        page.get_by_role("button", name=f"Merge #{second} into #{first}").first.click()
        expect(page.get_by_text(f"Problem #{second} merged into #{first}")).to_be_visible()
        page.get_by_label(f"Choose problem #{third}").check()
        page.get_by_label(f"Choose problem #{lift}").check()
        page.get_by_label("Merge the chosen problems into problem number").fill(str(first))
        page.get_by_role("button", name="Merge the chosen problems").click()
        expect(page).to_have_url(re.compile(rf"/problems/{first}$"))
        expect(page.get_by_text(f"Merged 2 problems into #{first}.")).to_be_visible()
        expect(page.locator("article.report")).to_have_count(4)
        with app.app_context():
            assert {db.session.get(Problem, i).merged_into_id for i in (second, third, lift)} == {first}
        page.goto("/dashboard/grouping")
        expect(page.get_by_role("heading", name="Manual merges per 100 reports")).to_be_visible()
        expect(page.get_by_role("table", name="Manual merges per month").get_by_role("row").last).to_contain_text("4")
        shot(page, "desktop-grouping-panel")
    finally:
        for key, value in saved.items():
            app.config[key] = value
