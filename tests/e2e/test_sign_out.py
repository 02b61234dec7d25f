"""Journey: a person on a shared computer ticks "Keep me signed in", later signs out, and
the next person who reloads the page finds the sign-in page, not their account (issue 15)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.models import Role

from .conftest import shot

pytestmark = pytest.mark.e2e


def test_sign_out_after_keep_me_signed_in_signs_out(page, create_user):
    frankie = create_user(Role.STAFF, name="Frankie Hall")
    page.goto("/login")
    page.get_by_label("Email").fill(frankie.email)
    page.get_by_label("Password", exact=True).fill(frankie.password)
    page.get_by_label("Keep me signed in on this device").check()
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Signed in as Frankie Hall.")).to_be_visible()
    assert "remember_token" in {c["name"] for c in page.context.cookies()}

    page.goto("/staff/reports")
    expect(page.get_by_role("heading", level=1)).to_have_text("My reports")
    page.locator(".account-menu summary").click()  # "Sign out" is in the menu under the person's name
    page.get_by_role("button", name=re.compile("^Sign out")).click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    assert "remember_token" not in {c["name"] for c in page.context.cookies()}

    page.go_back()  # the page that showed Frankie's reports, reloaded from the server
    page.reload()
    expect(page).to_have_url(re.compile(r"/login\?next="))
    expect(page.get_by_role("heading", level=1)).to_have_text("Staff sign in")
    expect(page.get_by_text("Frankie Hall")).to_have_count(0)
    shot(page, "desktop-signed-out-after-keep-me-signed-in")
