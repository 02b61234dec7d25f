"""Journey (d): the public pages on a phone (375x740): no sideways scrolling, a usable form."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .conftest import PHONE, shot

pytestmark = pytest.mark.e2e

WIDTH = PHONE["viewport"]["width"]
# Long, unbreakable things people really type: an address, a link, a reference.
WORDS = (
    "The booking page at https://www.example.org/bookings/appointments/branch-elm-street?step=confirm "
    "kept saying my reference ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 was invalid."
)
LONG_EMAIL = "maria.lopezhernandez.family@exampleorganisationservices.co.uk"


def assert_no_horizontal_scroll(page, name: str) -> None:
    scroll_width, inner_width = page.evaluate(
        "() => [document.documentElement.scrollWidth, window.innerWidth]"
    )
    # In mobile emulation Chromium, like a real phone, zooms out to show content that is
    # too wide, and innerWidth grows with it; so the screen's own width is checked too.
    if scroll_width > inner_width or inner_width > WIDTH:
        wide = page.evaluate(
            """(w) => [...document.querySelectorAll('body *')]
                .filter(el => el.getBoundingClientRect().right > w + 0.5
                              || (el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0
                                  && getComputedStyle(el).overflowX === 'visible'))
                .slice(0, 8)
                .map(el => `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}`
                           + `${el.className && typeof el.className === 'string' ? '.' + el.className.trim().replace(/\\s+/g, '.') : ''}`
                           + ` right=${Math.round(el.getBoundingClientRect().right)}`)""",
            WIDTH,
        )
        pytest.fail(f"{name} does not fit a {WIDTH}px phone: scrollWidth {scroll_width}, "
                    f"innerWidth {inner_width}. Too wide: {wide}")


def assert_fits(locator, name: str) -> None:
    """Visible, inside the screen's width, and big enough to tap."""
    expect(locator).to_be_visible()
    box = locator.bounding_box()
    assert box is not None, name
    assert box["x"] >= 0 and box["x"] + box["width"] <= WIDTH + 0.5, f"{name} sticks out: {box}"
    assert box["height"] >= 24, f"{name} is too small to tap: {box}"


def test_public_pages_fit_a_phone_and_the_form_works(phone_page, published_change):
    page = phone_page
    assert page.viewport_size == PHONE["viewport"]

    page.goto("/")
    assert_no_horizontal_scroll(page, "home")
    fields = {
        "What isn't working?": page.get_by_label("What isn't working?"),
        "Where did it happen?": page.get_by_label("Where did it happen?"),
        "When did it happen?": page.get_by_label("When did it happen?"),
        "How did it affect you?": page.get_by_label("How did it affect you?"),
        "Your name": page.get_by_label("Your name"),
        "Your email": page.get_by_label("Your email"),
    }
    for name, locator in fields.items():
        assert_fits(locator, name)
        assert locator.bounding_box()["width"] >= 250, f"{name} is too narrow to type in"
    button = page.get_by_role("button", name="Send my report")
    assert_fits(button, "Send my report")
    assert button.bounding_box()["height"] >= 44, "the main button is smaller than a fingertip"
    shot(page, "phone-home")

    # A mistake first: the errors must fit the screen too.
    button.tap()
    expect(page.locator("#text-error")).to_be_visible()
    assert_no_horizontal_scroll(page, "home with errors")
    shot(page, "phone-home-errors")

    # The form works with taps and a phone keyboard.
    text = page.get_by_label("What isn't working?")
    text.tap()
    text.fill(WORDS)
    page.get_by_label("Where did it happen?").fill("Website")
    page.get_by_label("Your name").fill("Maria Lopez-Hernandez")
    page.get_by_label("Your email").fill(LONG_EMAIL)
    page.get_by_label("You may email me about what changes").tap()
    expect(page.get_by_label("You may email me about what changes")).to_be_checked()
    page.get_by_role("button", name="Send my report").tap()

    expect(page).to_have_url(re.compile(r"/thanks$"))
    expect(page.get_by_text(f"We will also email {LONG_EMAIL} when something changes.")).to_be_visible()
    assert_no_horizontal_scroll(page, "thank-you page")
    assert_fits(page.get_by_label("Your private link"), "private link")
    assert_fits(page.get_by_role("link", name="Follow my report"), "Follow my report")
    shot(page, "phone-thanks")

    page.get_by_role("link", name="Follow my report").tap()
    expect(page).to_have_url(re.compile(r"/r/[^/]+$"))
    expect(page.locator("blockquote.their-words")).to_have_text(WORDS)
    assert_no_horizontal_scroll(page, "/r/<token>")
    shot(page, "phone-my-report")

    page.goto("/changes")
    expect(page.get_by_role("link", name=published_change.public_title)).to_be_visible()
    assert_no_horizontal_scroll(page, "/changes")
    shot(page, "phone-changes")

    page.get_by_role("link", name=published_change.public_title).tap()
    expect(page).to_have_url(re.compile(rf"/changes/{published_change.problem_id}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(published_change.public_title)
    assert_no_horizontal_scroll(page, "/changes/<id>")
    shot(page, "phone-change")

    page.goto("/login")
    assert_no_horizontal_scroll(page, "/login")
    shot(page, "phone-login")
