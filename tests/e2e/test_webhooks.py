"""An admin registers an outgoing webhook in the browser: the refusal of an internal address
next to the field, the secret shown once, the endpoint page, on desktop and phone."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.models import Role

from .conftest import shot, sign_in

pytestmark = pytest.mark.e2e


def test_admin_registers_a_webhook_and_sees_the_secret_once(axe_page, axe, create_user):
    axe.require_installed()
    page = axe_page
    sign_in(page, create_user(Role.ADMIN, name="Ada Admin"))
    page.locator(".nav-menu summary").first.click()  # the Admin menu
    page.get_by_role("link", name="Webhooks").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Webhooks")
    axe.check(page, "/admin/webhooks")

    page.get_by_label("Name").fill("Team channel")
    page.get_by_label("Address (URL)").fill("http://127.0.0.1:9/hook")
    page.get_by_label("A report is filed (a new problem, or another person affected)").check()
    page.get_by_label("Slack-compatible message (incoming webhook)").check()
    page.get_by_role("button", name="Add endpoint").click()
    error = page.locator("#url-error")
    expect(error).to_contain_text("private")
    expect(page.get_by_label("Address (URL)")).to_have_value("http://127.0.0.1:9/hook")  # the text is kept
    expect(page.get_by_label("Address (URL)")).to_have_attribute("aria-invalid", "true")
    axe.check(page, "/admin/webhooks refused")
    shot(page, "desktop-admin-webhook-refused")

    page.get_by_label("Allow a private network address (loopback, office or cloud network)").check()
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.get_by_role("heading", name="The signing secret")).to_be_visible()
    secret = page.locator("#secret").inner_text()
    assert len(secret) >= 43
    axe.check(page, "new endpoint with its secret")
    shot(page, "desktop-admin-webhook-secret")

    page.get_by_role("button", name="Send a test event").click()
    expect(page.get_by_text(re.compile("Not delivered yet"))).to_be_visible()  # nothing listens on port 9
    expect(page.get_by_role("cell", name="webhook.test", exact=False).first).to_be_visible()
    assert secret not in page.content()  # masked from now on
    axe.check(page, "endpoint page with a failed delivery")
    page.set_viewport_size({"width": 375, "height": 740})
    shot(page, "phone-admin-webhook")
    axe.assert_clean()
