"""Journey (a): a customer tells us what isn't working and follows their report."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .conftest import shot

pytestmark = pytest.mark.e2e

THEIR_WORDS = (
    "The card reader at the Elm Street branch rejected my contactless card three times,\n"
    "and nobody could tell me why. I had to go to a cash machine and queue again."
)


def test_customer_files_a_report_and_follows_it(page):
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Tell us what isn't working")
    shot(page, "desktop-home")

    page.get_by_label("What isn't working?").fill(THEIR_WORDS)
    page.get_by_label("Where did it happen?").fill("Branch visit")
    page.get_by_label("Your name").fill("Maria Lopez")
    page.get_by_label("Your email").fill("maria@example.net")
    consent = page.get_by_label("You may email me about what changes")
    consent.check()
    expect(consent).to_be_checked()
    page.get_by_role("button", name="Send my report").click()

    # The thank-you page, at a private address.
    expect(page).to_have_url(re.compile(r"/r/[A-Za-z0-9_-]{20,}/thanks$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you. We have your report.")
    expect(page.get_by_text("We will also email maria@example.net when something changes.")).to_be_visible()
    token = re.search(r"/r/([^/]+)/thanks$", page.url).group(1)
    expect(page.get_by_label("Your private link")).to_have_value(re.compile(rf"/r/{re.escape(token)}$"))
    shot(page, "desktop-thanks")

    # Following the private link shows their own words and where things stand.
    with page.expect_response(lambda r: r.url.endswith(f"/r/{token}")) as followed:
        page.get_by_role("link", name="Follow my report").click()
    expect(page).to_have_url(re.compile(rf"/r/{re.escape(token)}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Your report")
    expect(page.get_by_text("This page is private to you, Maria Lopez.")).to_be_visible()
    expect(page.locator("blockquote.their-words")).to_have_text(THEIR_WORDS)
    expect(page.get_by_text("Where: Branch visit")).to_be_visible()
    expect(page.locator(".badge")).to_have_text("New, waiting for an owner")
    expect(page.get_by_text("Waiting for someone to take ownership.")).to_be_visible()
    # A private page is never cached or indexed.
    headers = followed.value.all_headers()
    assert headers["cache-control"] == "no-store"
    assert headers["x-robots-tag"] == "noindex"
    shot(page, "desktop-my-report")


def test_a_report_without_words_is_refused_and_the_rest_is_kept(page):
    page.goto("/")
    page.get_by_label("Your name").fill("Maria Lopez")
    page.get_by_label("Your email").fill("not-an-email")
    page.get_by_role("button", name="Send my report").click()

    expect(page.get_by_role("alert")).to_contain_text("Nothing has been saved yet")
    text = page.get_by_label("What isn't working?")
    expect(text).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#text-error")).to_contain_text("Tell us what happened, in your own words.")
    expect(text).to_have_attribute("aria-describedby", re.compile(r"\btext-error\b"))
    expect(page.locator("#email-error")).to_contain_text("That does not look like an email address.")
    expect(page.get_by_label("Your name")).to_have_value("Maria Lopez")
    expect(page.get_by_label("Your email")).to_have_value("not-an-email")
    shot(page, "desktop-home-errors")


def test_forms_really_need_their_csrf_token_here(page, live_server):
    """The browser tests run with CSRF on, so a passing journey proves the tokens work."""
    response = page.request.post(f"{live_server}/", form={"text": "No token with this one."})
    assert response.status == 400
    page.goto("/")
    token = page.locator("form.card input[name=csrf_token]")
    expect(token).to_have_count(1)
    assert len(token.get_attribute("value")) > 20
