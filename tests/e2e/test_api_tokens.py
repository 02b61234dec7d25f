"""An admin makes an API token in the browser, copies it once, and revokes it: accessible,
and usable on a phone."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.models import Role

from .conftest import PHONE, shot, sign_in

pytestmark = pytest.mark.e2e


def test_an_admin_creates_copies_and_revokes_a_token(axe_page, axe, create_user, live_server):
    axe.require_installed()
    page = axe_page
    admin = create_user(Role.ADMIN, name="Ada Admin")
    sign_in(page, admin)
    page.locator(".nav-menu summary").first.click()  # the Admin menu
    page.get_by_role("link", name="API tokens").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("API tokens")
    axe.check(page, "api tokens, empty")

    page.get_by_role("button", name="Create token").click()  # no name: the error sits by the field
    expect(page.locator("#name-error")).to_be_visible()
    axe.check(page, "api tokens, form error")

    page.get_by_label("Name (which integration uses it)").fill("Service desk")
    page.get_by_label("Read, and file reports on behalf of people").check()
    page.get_by_role("button", name="Create token").click()
    token_box = page.get_by_label("The token (select it and copy)")
    expect(token_box).to_have_value(re.compile(r"^cl_[A-Za-z0-9_-]{43}$"))
    expect(page.get_by_text("Copy it now: it is shown only this once.")).to_be_visible()
    secret = token_box.input_value()
    axe.check(page, "api tokens, new token shown")
    shot(page, "desktop-admin-api-token-created")

    # The token works on the API, then stops once revoked.
    api = page.context.request
    assert api.get(f"{live_server}/api/v1/reports", headers={"Authorization": f"Bearer {secret}"}).status == 200
    page.goto("/admin/api-tokens")
    expect(page.get_by_text(secret)).to_have_count(0)
    page.get_by_role("button", name="Revoke Service desk").click()
    expect(page.get_by_text("revoked: it no longer works")).to_be_visible()
    assert api.get(f"{live_server}/api/v1/reports", headers={"Authorization": f"Bearer {secret}"}).status == 401
    axe.check(page, "api tokens, revoked")
    axe.assert_clean()


def test_the_tokens_page_fits_a_phone(new_context, create_user, live_server):
    page = new_context(**PHONE).new_page()
    admin = create_user(Role.ADMIN, name="Phone Admin")
    sign_in(page, admin)
    page.goto("/admin/api-tokens")
    page.get_by_label("Name (which integration uses it)").fill("A rather long integration name for the night shift")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_label("The token (select it and copy)")).to_be_visible()
    width = page.evaluate("() => document.documentElement.scrollWidth")
    wide = page.evaluate("""() => [...document.querySelectorAll('body *')]
        .filter(e => !e.closest('.table-wrap') && e.getBoundingClientRect().right > 376)
        .slice(0, 8).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))""")
    shot(page, "phone-admin-api-token-created")
    inner = page.evaluate("() => window.innerWidth")
    assert width <= PHONE["viewport"]["width"], (width, inner, wide)
    shot(page, "phone-admin-api-token-created")
