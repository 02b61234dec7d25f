"""The public form's spam defences in a real browser: the trap field is out of sight and out
of the Tab order, a person who sends too fast keeps every word, and leaders moderate held
reports with the keyboard-usable queue."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.models import Role

from .conftest import shot, sign_in

pytestmark = pytest.mark.e2e

WORDS = "The ticket machine at the north entrance swallows coins and prints nothing."


@pytest.fixture
def spam_settings(app):
    app.config.update(CARELOOP_SPAM_MIN_SECONDS=3)
    yield app.config
    app.config.update(CARELOOP_SPAM_MIN_SECONDS=0, CARELOOP_MODERATE_PUBLIC=False)


def test_the_trap_field_is_never_reached_or_seen(page, spam_settings):
    page.goto("/")
    trap = page.locator("#extra_notes")
    box = trap.bounding_box()
    assert box is None or box["x"] + box["width"] <= 0  # off screen, left of the page
    page.get_by_label("What isn't working?").focus()
    reached = []
    for _ in range(25):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement && document.activeElement.id"))
    assert "extra_notes" not in reached
    assert {"location", "name", "email"} <= set(reached)


def test_a_fast_person_is_asked_to_send_again_and_keeps_their_words(axe_page, axe, spam_settings):
    axe.require_installed()
    page = axe_page
    page.goto("/")
    page.get_by_label("What isn't working?").fill(WORDS)
    page.get_by_label("Your name").fill("Noor Haddad")
    page.get_by_role("button", name="Send my report").click()
    expect(page.get_by_role("alert")).to_contain_text("We have not sent your report yet")
    expect(page.get_by_label("What isn't working?")).to_have_value(WORDS)
    expect(page.get_by_label("Your name")).to_have_value("Noor Haddad")
    axe.check(page, "home, sent too soon")
    shot(page, "home-sent-too-soon")
    page.wait_for_timeout(3_000)  # a person reading the message
    page.get_by_role("button", name="Send my report").click()
    expect(page).to_have_url(re.compile(r"/thanks$"))
    axe.assert_clean()


def test_a_leader_approves_a_held_report(axe_page, axe, spam_settings, create_user):
    axe.require_installed()
    spam_settings.update(CARELOOP_SPAM_MIN_SECONDS=0, CARELOOP_MODERATE_PUBLIC=True)
    page = axe_page
    page.goto("/")
    page.get_by_label("What isn't working?").fill(WORDS)
    page.get_by_role("button", name="Send my report").click()
    expect(page).to_have_url(re.compile(r"/thanks$"))
    page.get_by_role("link", name="Follow my report").click()
    expect(page.get_by_text("checked by a person before they are passed on")).to_be_visible()
    private_url = page.url

    sign_in(page, create_user(Role.LEADER, name="Dana Okafor"))
    page.goto("/triage")
    page.get_by_role("link", name="1 public report is waiting to be checked").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Reports waiting to be checked")
    expect(page.get_by_text(WORDS)).to_be_visible()
    axe.check(page, "held reports")
    shot(page, "held-reports")
    page.get_by_role("button", name=re.compile("^Approve")).click()
    expect(page.get_by_text("Report approved")).to_be_visible()
    expect(page.get_by_text("No reports are waiting.")).to_be_visible()

    page.goto(private_url)
    expect(page.get_by_text("Waiting for someone to take ownership.")).to_be_visible()
    axe.assert_clean()
