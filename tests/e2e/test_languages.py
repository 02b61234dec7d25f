"""Journey: a person switches Careloop to German with the keyboard alone, without JavaScript,
stays on the same page, and files a report in German; the German pages pass axe-core."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .conftest import shot

pytestmark = pytest.mark.e2e


def test_switching_to_german_with_the_keyboard_and_no_javascript(new_context, live_server):
    context = new_context(java_script_enabled=False, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto("/changes")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    switcher = page.get_by_role("form", name="Language")
    expect(switcher.get_by_text("English")).to_have_attribute("aria-current", "true")
    # Tab from the top of the page until the Deutsch button has the focus, then press Enter.
    deutsch = switcher.get_by_role("button", name="Deutsch")
    for _ in range(30):
        page.keyboard.press("Tab")
        if deutsch.evaluate("el => el === document.activeElement"):
            break
    else:
        pytest.fail("the Deutsch button is not reachable with Tab")
    page.keyboard.press("Enter")
    page.wait_for_url("**/changes")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.get_by_role("heading", level=1)).to_have_text("Das haben wir geändert")
    expect(page.get_by_role("form", name="Sprache").get_by_text("Deutsch")).to_have_attribute("aria-current", "true")
    # The choice sticks: the home page and the form are German too, and a report can be sent.
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sagen Sie uns, was nicht funktioniert")
    page.get_by_label("Was funktioniert nicht?").fill("Der Fahrstuhl am Bahnhof ist schon wieder kaputt.")
    page.get_by_role("button", name="Meine Meldung senden").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Vielen Dank. Wir haben Ihre Meldung erhalten.")
    shot(page, "german-thanks")
    context.close()


def test_german_pages_have_no_serious_accessibility_violations(axe_page, axe, published_change, live_server):
    axe.require_installed()
    page = axe_page
    page.context.add_cookies([{"name": "careloop_lang", "value": "de", "url": live_server}])
    for url, name in (("/", "Startseite"), ("/changes", "Das haben wir geändert"), ("/login", "Anmeldung")):
        page.goto(url)
        expect(page.locator("html")).to_have_attribute("lang", "de")
        axe.check(page, name)
    axe.assert_clean()
