"""Journey: an admin gives Careloop the organisation's look, and the public home page shows it.

The admin names the organisation, picks a primary colour that is too light for white text
(refused with its contrast ratio), takes the suggested shade in one click, uploads a logo,
and then a visitor's home page shows the name, the logo, the welcome text and the colours,
with no serious accessibility problems (axe-core).
"""

from __future__ import annotations

import re

import pytest
from PIL import Image
from playwright.sync_api import expect

from app import colour
from app.models import Role

from .conftest import shot, sign_in

pytestmark = pytest.mark.e2e

PRIMARY = "#2e8b57"  # sea green: white text on it reaches only 4.24:1
SUGGESTED = colour.nearest_passing_shade(PRIMARY, ["#ffffff"])
ACCENT = "#8a2be2"


def rgb(hex_colour: str) -> str:
    r, g, b = colour.to_rgb(hex_colour)
    return f"rgb({r}, {g}, {b})"


@pytest.fixture(autouse=True)
def _fresh_branding_cache(app):
    """The live server's process keeps the look a few seconds: start and end without it."""
    app.extensions.pop("careloop_branding", None)
    yield
    app.extensions.pop("careloop_branding", None)


@pytest.fixture
def logo_png(tmp_path):
    path = tmp_path / "acme-logo.png"
    image = Image.new("RGB", (160, 64), (255, 255, 255))
    image.paste((46, 139, 87), (16, 16, 144, 48))
    image.save(path, format="PNG")
    return path


def test_admin_sets_the_look_and_the_home_page_shows_it(axe_page, axe, create_user, logo_png, browser, base_url):
    axe.require_installed()
    page = axe_page
    admin = create_user(Role.ADMIN, name="Ada Admin")
    sign_in(page, admin)
    page.locator(".nav-menu summary").first.click()  # the Admin menu
    page.get_by_role("link", name="Branding").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Branding")
    axe.check(page, "/admin/branding")

    page.get_by_label("Organisation name").fill("Acme Housing")
    page.get_by_label("Welcome text on the home page").fill("Tell us in your own words.\n\nA named person reads every report.")
    page.get_by_label("Primary colour").fill(PRIMARY)
    page.get_by_label("Link colour").fill(ACCENT)
    page.get_by_role("button", name="Save").click()

    # Refused: the measured ratio, the nearest passing shade, and the words kept.
    error = page.locator("#primary_colour-error")
    expect(error).to_contain_text("4.24:1")
    expect(error).to_contain_text(SUGGESTED)
    expect(page.get_by_label("Organisation name")).to_have_value("Acme Housing")
    expect(page.get_by_label("Primary colour")).to_have_attribute("aria-invalid", "true")
    axe.check(page, "/admin/branding with a refused colour")
    shot(page, "desktop-branding-refused")

    page.get_by_role("button", name=f"Use the suggested shade {SUGGESTED}").click()
    expect(page.get_by_text("Saved the organisation's look.")).to_be_visible()
    expect(page.get_by_label("Primary colour")).to_have_value(SUGGESTED)

    page.get_by_label("Logo file").set_input_files(str(logo_png))
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved the organisation's look.")).to_be_visible()
    expect(page.get_by_alt_text("The current logo")).to_be_visible()

    # A visitor, signed out, in a fresh browser context.
    visitor = browser.new_context(base_url=base_url, bypass_csp=True)
    try:
        home = visitor.new_page()
        home.goto("/")
        brand = home.locator("a.brand")
        expect(brand).to_have_text(re.compile(r"Acme Housing"))
        logo = brand.locator("img.brand-logo")
        expect(logo).to_be_visible()
        assert logo.evaluate("img => img.complete && img.naturalWidth") == 160
        expect(home.locator(".welcome p")).to_have_text(["Tell us in your own words.", "A named person reads every report."])

        header_bg = home.locator(".site-header").evaluate("el => getComputedStyle(el).backgroundColor")
        button = home.get_by_role("button", name="Send my report")
        button_bg = button.evaluate("el => getComputedStyle(el).backgroundColor")
        button_fg = button.evaluate("el => getComputedStyle(el).color")
        link = home.get_by_role("link", name=re.compile("See everything we changed"))
        assert header_bg == rgb(SUGGESTED) and button_bg == rgb(SUGGESTED)
        assert button_fg == "rgb(255, 255, 255)"
        assert link.evaluate("el => getComputedStyle(el).color") == rgb(ACCENT)
        axe.check(home, "home with the organisation's look")
        shot(home, "desktop-home-branded")
    finally:
        visitor.close()
    axe.assert_clean()
