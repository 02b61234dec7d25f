"""Journey (e): axe-core finds no serious or critical problems on the pages people use."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.models import Role

from .conftest import shot, sign_in

pytestmark = pytest.mark.e2e


def test_public_pages_have_no_serious_accessibility_violations(axe_page, axe, published_change):
    axe.require_installed()
    page = axe_page

    page.goto("/")
    expect(page.get_by_role("link", name=published_change.public_title)).to_be_visible()
    axe.check(page, "home")

    page.get_by_label("Your email").fill("not-an-email")
    page.get_by_role("button", name="Send my report").click()
    expect(page.locator("#text-error")).to_be_visible()
    expect(page.locator("#email-error")).to_be_visible()
    axe.check(page, "home with validation errors")

    page.get_by_label("What isn't working?").fill("The lift at the Elm Street branch has been out of order for a month.")
    page.get_by_label("Your email").fill("sam@example.net")
    page.get_by_role("button", name="Send my report").click()
    expect(page).to_have_url(re.compile(r"/thanks$"))
    axe.check(page, "thank-you")

    page.get_by_role("link", name="Follow my report").click()
    expect(page).to_have_url(re.compile(r"/r/[^/]+$"))
    axe.check(page, "/r/<token>")

    page.goto("/changes")
    axe.check(page, "/changes")

    page.goto(f"/changes/{published_change.problem_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text(published_change.public_title)
    axe.check(page, "/changes/<id>")

    page.goto("/login")
    axe.check(page, "login")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#email-error")).to_be_visible()
    axe.check(page, "login with errors")

    axe.assert_clean()


def test_leader_problem_page_has_no_serious_accessibility_violations(
    axe_page, axe, create_user, file_report_directly, published_change
):
    axe.require_installed()
    page = axe_page
    problem_id = file_report_directly("The website logs me out every time I open my bills.", location="Website")
    leader = create_user(Role.LEADER, name="Lee Morgan")
    sign_in(page, leader)
    page.goto("/triage")
    axe.check(page, "triage")

    page.goto(f"/problems/{problem_id}")
    expect(page.get_by_role("button", name="Take ownership")).to_be_visible()
    axe.check(page, "problem page, nobody owns it")

    page.get_by_role("button", name="Take ownership").click()
    expect(page.get_by_label("What is different now?")).to_be_visible()
    page.get_by_role("button", name="Mark as changed").click()
    expect(page.locator("#what-error")).to_be_visible()
    axe.check(page, "problem page, change refused")
    shot(page, "desktop-leader-problem-errors")

    # The owner's view of a published change (as its owner).
    page.locator(".account-menu summary").click()  # "Sign out" is in the menu under the person's name
    page.get_by_role("button", name=re.compile("^Sign out")).click()
    sign_in(page, published_change.owner)
    page.goto(f"/problems/{published_change.problem_id}")
    expect(page.get_by_role("button", name="Update public page")).to_be_visible()
    axe.check(page, "problem page, published")

    axe.assert_clean()
