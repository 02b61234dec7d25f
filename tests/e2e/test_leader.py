"""Journey (c): a leader owns a problem, records a real change and publishes it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from app.models import Role, utcnow

from .conftest import shot, sign_in

pytestmark = pytest.mark.e2e

REPORT = "The phone line hangs up after twenty minutes on hold, so I could never reach anyone about my bill."
APOLOGY = "We are sorry for the inconvenience. We will look into this and improve it soon."
CHANGE = (
    "Callers who wait more than five minutes are now offered a call back at a time they choose, "
    "and the line no longer hangs up while people are on hold."
)
PUBLIC_TITLE = "Call backs instead of long waits on the phone line"
PUBLIC_SUMMARY = "People told us our phone line hung up on them after long waits. Now you can ask us to call you back."


def test_leader_owns_records_a_change_and_publishes_it(page, create_user, file_report_directly, live_server):
    problem_id = file_report_directly(REPORT, location="Phone line")
    leader = create_user(Role.LEADER, name="Aisha Khan")

    sign_in(page, leader)
    expect(page).to_have_url(re.compile(r"/dashboard$"))
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Triage").click()
    expect(page).to_have_url(re.compile(r"/triage$"))
    triage = page.get_by_role("table", name="Problems without an owner")
    expect(triage.get_by_role("row")).to_have_count(2)
    shot(page, "desktop-leader-triage")

    triage.get_by_role("link", name=re.compile(r"^The phone line hangs up")).click()
    expect(page).to_have_url(re.compile(rf"/problems/{problem_id}$"))
    expect(page.locator("blockquote.their-words")).to_have_text(REPORT)
    expect(page.locator(".problem-head")).to_contain_text("Nobody yet")

    page.get_by_role("button", name="Take ownership").click()
    expect(page.get_by_text("You own this problem now.")).to_be_visible()
    expect(page.locator(".problem-head")).to_contain_text("Aisha Khan")
    expect(page.locator(".problem-head .badge")).to_have_text("Owned")

    # An apology is not a change: the error sits next to the field and the text is kept.
    since = (utcnow().date() - timedelta(days=2)).isoformat()
    what = page.get_by_label("What is different now?")
    what.fill(APOLOGY)
    page.get_by_label("Different since").fill(since)
    page.get_by_role("button", name="Mark as changed").click()
    error = page.locator("#what-error")
    expect(error).to_contain_text("This only apologises or promises.")
    what = page.get_by_label("What is different now?")
    expect(what).to_have_value(APOLOGY)
    expect(what).to_have_attribute("aria-invalid", "true")
    expect(what).to_have_attribute("aria-describedby", re.compile(r"\bwhat-error\b"))
    # "Next to the field": the message is inside the same field block as the textarea.
    expect(page.locator(".field.has-error").filter(has=what)).to_contain_text("This only apologises")
    expect(page.get_by_label("Different since")).to_have_value(since)
    expect(page.locator(".problem-head .badge")).to_have_text("Owned")
    page.locator("#change").scroll_into_view_if_needed()
    shot(page, "desktop-leader-change-refused")

    what.fill(CHANGE)
    page.get_by_role("button", name="Mark as changed").click()
    expect(page.get_by_text("Change recorded.")).to_be_visible()
    expect(page).to_have_url(re.compile(rf"/problems/{problem_id}#publish$"))
    expect(page.locator(".problem-head .badge")).to_have_text("Changed")
    expect(page.locator("#publish")).to_contain_text(CHANGE)

    page.get_by_label("Public title", exact=True).fill(PUBLIC_TITLE)
    page.get_by_label("Public summary").fill(PUBLIC_SUMMARY)
    page.get_by_label("A personal note for everyone who reported it (optional)").fill("Thank you for telling us.")
    page.get_by_role("button", name="Preview the message").click()
    preview = page.locator(".preview")
    expect(preview).to_contain_text("Thank you for telling us.")
    expect(page.get_by_label("Public title", exact=True)).to_have_value(PUBLIC_TITLE)
    shot(page, "desktop-leader-preview")
    page.locator("#preview").get_by_role("button", name="Publish and tell people").click()
    expect(page.get_by_text("Published on “We changed this”.")).to_be_visible()
    expect(page.get_by_role("button", name="Update public page")).to_be_visible()
    shot(page, "desktop-leader-published")

    # It is on the public page, for everyone.
    page.locator(".account-menu summary").click()  # signed in, the public pages are under the person's name
    page.get_by_role("navigation", name="Main").get_by_role("link", name="We changed this").click()
    expect(page).to_have_url(re.compile(r"/changes$"))
    card = page.locator("article.change").filter(has_text=PUBLIC_TITLE)
    expect(card).to_contain_text(PUBLIC_SUMMARY)
    expect(card).to_contain_text(CHANGE)
    expect(card).to_contain_text("Aisha Khan")
    expect(card).to_contain_text("1 person")
    shot(page, "desktop-changes")

    card.get_by_role("link", name=PUBLIC_TITLE).click()
    expect(page).to_have_url(re.compile(rf"/changes/{problem_id}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(PUBLIC_TITLE)
    expect(page.get_by_text(PUBLIC_SUMMARY)).to_be_visible()
    shot(page, "desktop-change")

    # And in the Atom feed.
    feed = page.request.get(f"{live_server}/changes.atom")
    assert feed.ok
    assert feed.headers["content-type"].startswith("application/atom+xml")
    body = feed.text()
    assert f"<title>{PUBLIC_TITLE}</title>" in body
    assert f"/changes/{problem_id}" in body
