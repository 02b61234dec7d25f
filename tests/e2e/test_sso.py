"""Journey: a leader signs in through the organisation's OpenID Connect provider.

Chromium follows the real redirects between the live Careloop server and a real
provider on loopback (tests/oidc_provider.py): the button, the provider's sign-in page,
the callback, and the dashboard.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.models import Role, User
from tests.oidc_provider import OidcProvider

from .conftest import shot

pytestmark = pytest.mark.e2e


@pytest.fixture
def provider(app, live_server):
    """A provider that knows one leader, and the live app set up to use it."""
    provider = OidcProvider().start()
    provider.client.redirect_uris = {f"{live_server}/login/sso/callback"}
    provider.add_user("dana@contoso.example", "provider pass 1", name="Dana Okafor",
                      groups=["careloop-leaders"])
    settings = {
        "CARELOOP_BASE_URL": live_server,
        "CARELOOP_OIDC_ISSUER": provider.issuer,
        "CARELOOP_OIDC_CLIENT_ID": provider.client.client_id,
        "CARELOOP_OIDC_CLIENT_SECRET": provider.client.client_secret,
        "CARELOOP_OIDC_ALLOWED_DOMAINS": "contoso.example",
        "CARELOOP_OIDC_ROLE_CLAIM": "groups",
        "CARELOOP_OIDC_ROLE_MAP": "careloop-admins=admin,careloop-leaders=leader",
        "CARELOOP_OIDC_LABEL": "Sign in with Contoso",
    }
    before = {key: app.config.get(key) for key in settings}
    app.config.update(settings)
    app.extensions.pop("careloop_oidc", None)
    try:
        yield provider
    finally:
        app.config.update(before)
        app.extensions.pop("careloop_oidc", None)
        provider.stop()


def test_a_leader_signs_in_with_the_provider_and_lands_on_the_dashboard(app, page, provider):
    page.goto("/login")
    button = page.get_by_role("link", name="Sign in with Contoso")
    expect(button).to_be_visible()
    shot(page, "sso-sign-in-page")
    button.click()

    expect(page).to_have_url(re.compile(re.escape(provider.issuer) + r"/authorize\?.*code_challenge="))
    page.get_by_label("Username").fill("dana@contoso.example")
    page.get_by_label("Password").fill("provider pass 1")
    page.get_by_role("button", name="Sign in to the provider").click()

    expect(page).to_have_url(re.compile(r"/dashboard$"))
    expect(page.get_by_text("Signed in as Dana Okafor.")).to_be_visible()
    shot(page, "sso-dashboard")
    with app.app_context():
        dana = db.session.scalar(db.select(User).filter_by(email="dana@contoso.example"))
        assert dana.role == Role.LEADER and dana.oidc_issuer == provider.issuer


def test_a_refusal_is_a_clear_accessible_page(axe_page, axe, provider):
    axe.require_installed()
    provider.add_user("eve@elsewhere.example", "provider pass 1", name="Eve")
    page = axe_page
    page.goto("/login")
    axe.check(page, "sign-in page with single sign-on")
    page.get_by_role("link", name="Sign in with Contoso").click()
    page.get_by_label("Username").fill("eve@elsewhere.example")
    page.get_by_label("Password").fill("provider pass 1")
    page.get_by_role("button", name="Sign in to the provider").click()
    expect(page.get_by_role("heading", name="Careloop cannot sign you in")).to_be_visible()
    expect(page.get_by_text("Accounts from elsewhere.example cannot sign in to Careloop")).to_be_visible()
    expect(page.get_by_role("link", name="Try signing in again")).to_be_visible()
    axe.check(page, "single sign-on refused")
    shot(page, "sso-refused")
    axe.assert_clean()
