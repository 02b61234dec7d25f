"""Journey: a leader signs in to the dashboard (the demo data's story), reads the charts and
their numbers, downloads a figure, and narrows the backlog to what they need."""

from __future__ import annotations

import csv
import io
import re

import pytest
from playwright.sync_api import expect

from app.demo import load_demo_data
from app.extensions import db

from .conftest import Person, shot, sign_in

pytestmark = pytest.mark.e2e

DANA = Person(name="Dana Okafor", email="dana@example.org", password="demo-leader-pass")


@pytest.fixture
def demo(app, live_server):
    with app.app_context():
        load_demo_data()
        db.session.commit()


def test_a_leader_reads_the_dashboard_and_narrows_the_backlog(page, demo):
    sign_in(page, DANA)
    expect(page).to_have_url(re.compile(r"/dashboard$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")

    # The first things a leader reads: the tiles and each chart's one-line takeaway.
    tiles = page.get_by_role("list", name="At a glance")
    expect(tiles).to_contain_text("2 overdue")
    expect(tiles).to_contain_text("2 waiting for an owner")
    expect(tiles).to_contain_text("longest 38 days")
    owners = page.get_by_role("region", name="Open problems per owner")
    expect(owners).to_contain_text("2 owned problems are overdue; Sam Reyes has the most (2).")
    expect(page.get_by_role("region", name="Handoffs per problem")).to_contain_text(
        "Bills show a charge nobody can explain")

    # Each chart is a picture with a name, and its numbers are a real table.
    expect(page.get_by_role("img", name="Open problems per owner")).to_be_visible()
    expect(page.get_by_role("img", name="Handoffs per problem")).to_be_visible()
    shot(page, "desktop-leader-dashboard")
    owners.get_by_text("The numbers").click()
    table = owners.get_by_role("table", name="Open problems per owner")
    expect(table.get_by_role("row", name=re.compile(r"^Sam Reyes 2 2 0$"))).to_be_visible()

    with page.expect_download() as download:
        owners.get_by_role("link", name=re.compile("Download these figures")).click()
    rows = list(csv.reader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    assert rows[0] == ["Owner", "Open problems", "Overdue", "Not overdue"]
    assert ["Sam Reyes", "2", "2", "0"] in rows

    # A leader's own page from the owners' table.
    table.get_by_role("link", name="Sam Reyes").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sam Reyes")
    expect(page.get_by_role("list", name="At a glance")).to_contain_text("2 overdue")

    # The backlog, filtered to one owner and sorted by due date; the view is in the URL.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Backlog").click()
    expect(page.get_by_role("status")).to_contain_text("Showing 1–5 of 5 open problems")
    page.get_by_label("Owner").select_option(label="Sam Reyes")
    page.get_by_label("Sort by").select_option(label="Due date")
    page.get_by_role("button", name="Show problems").click()
    expect(page).to_have_url(re.compile(r"/backlog\?.*owner=\d+.*sort=due"))
    backlog = page.get_by_role("table", name=re.compile("Open problems"))
    expect(backlog.get_by_role("row")).to_have_count(3)
    expect(backlog.get_by_role("row").nth(1)).to_contain_text("Bills show a charge nobody can explain")
    expect(backlog.get_by_role("row").nth(1)).to_contain_text("handed over 3×")
    shared = page.url
    page.get_by_role("link", name="Due").click()  # the same column again: latest due first
    expect(backlog.get_by_role("row").nth(1)).to_contain_text("Password reset email never arrives")
    shot(page, "desktop-leader-backlog")
    page.goto(shared)
    expect(backlog.get_by_role("row").nth(1)).to_contain_text("Bills show a charge nobody can explain")

    page.get_by_label("Search titles and reports").fill("wet parcel")
    page.get_by_role("button", name="Show problems").click()
    expect(page.get_by_role("status")).to_contain_text("No open problems match these filters")
    page.get_by_role("link", name="Clear the filters").click()
    expect(page.get_by_role("status")).to_contain_text("of 5 open problems")


def test_the_dashboard_on_a_phone(phone_page, demo):
    page = phone_page
    sign_in(page, DANA)
    expect(page).to_have_url(re.compile(r"/dashboard$"))
    # The narrow drawing is shown; the wide one is hidden (and so not read twice).
    expect(page.get_by_role("img", name="Open problems per owner")).to_have_count(1)
    expect(page.locator("#chart-owners-narrow")).to_be_visible()
    expect(page.locator("#chart-owners")).to_be_hidden()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the page scrolls sideways on a phone ({width}px wide)"
    shot(page, "phone-leader-dashboard")


def test_dashboard_pages_have_no_serious_accessibility_violations(axe_page, axe, demo):
    axe.require_installed()
    page = axe_page
    sign_in(page, DANA)
    expect(page).to_have_url(re.compile(r"/dashboard$"))
    for summary in page.locator("details.numbers > summary").all():
        summary.click()
    axe.check(page, "dashboard, every table of numbers open")
    page.get_by_role("link", name="Your own page").click()
    axe.check(page, "a leader's page")
    page.goto("/backlog?owner=none&sort=idle")
    axe.check(page, "backlog, filtered")
    page.goto("/backlog?owner=nobody&people=lots")
    expect(page.locator(".error").first).to_be_visible()
    axe.check(page, "backlog with filter errors")
    axe.assert_clean()
