"""Journey: single sign-on with a standard provider nobody on the project wrote (issue 15).

panva's ``oidc-provider`` 8.8.1 (certified) runs on loopback in its default, conformant
set-up: the ID token carries only ``sub``, and ``email``, ``email_verified`` and ``groups``
come from the UserInfo endpoint. Chromium goes through the provider's own login and
consent pages, lands on Careloop's dashboard as a leader, and on "Sign out" is taken
through the provider's own logout (RP-initiated logout), so the next click on the button
asks for the password again instead of signing the same person straight back in.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.models import Role, User
from tests.oidc_standard import StandardProvider

from .conftest import shot

pytestmark = pytest.mark.e2e


@pytest.fixture
def standard_provider(app, live_server):
    provider = StandardProvider(
        redirect_uri=f"{live_server}/login/sso/callback",
        post_logout_redirect_uri=f"{live_server}/",
        accounts={"dana": {"name": "Dana Okafor", "email": "dana@contoso.example", "email_verified": True,
                           "groups": ["careloop-leaders", "everyone"]}},
    ).start()
    settings = {
        "CARELOOP_BASE_URL": live_server,
        "CARELOOP_OIDC_ISSUER": provider.issuer,
        "CARELOOP_OIDC_CLIENT_ID": provider.client_id,
        "CARELOOP_OIDC_CLIENT_SECRET": provider.client_secret,
        "CARELOOP_OIDC_SCOPE": "openid email profile groups",
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


def _sign_in_at_the_provider(page, provider):
    page.goto("/login")
    page.get_by_role("link", name="Sign in with Contoso").click()
    expect(page).to_have_url(re.compile(re.escape(provider.issuer) + r"/interaction/"))
    page.locator("input[name=login]").fill("dana")
    page.locator("input[name=password]").fill("any password")  # the provider's development login
    page.get_by_role("button", name="Sign-in").click()
    expect(page.get_by_role("button", name="Continue")).to_be_visible()  # its consent page
    shot(page, "sso-standard-provider-consent")
    page.get_by_role("button", name="Continue").click()


def test_a_leader_signs_in_through_a_standard_provider_and_out_of_it(app, page, live_server, standard_provider):
    _sign_in_at_the_provider(page, standard_provider)
    expect(page).to_have_url(re.compile(r"/dashboard$"))
    expect(page.get_by_text("Signed in as Dana Okafor.")).to_be_visible()
    with app.app_context():
        dana = db.session.scalar(db.select(User).filter_by(email="dana@contoso.example"))
        assert dana is not None and dana.role == Role.LEADER  # email and groups came from UserInfo
        assert (dana.oidc_issuer, dana.oidc_subject) == (standard_provider.issuer, "dana")

    page.locator(".account-menu summary").click()  # "Sign out" is in the menu under the person's name

    page.get_by_role("button", name=re.compile("^Sign out")).click()
    # The provider's own logout page (RP-initiated logout), then back to Careloop.
    expect(page).to_have_url(re.compile(re.escape(standard_provider.issuer) + r"/session/end"))
    shot(page, "sso-standard-provider-logout")
    page.get_by_role("button", name="Yes, sign me out").click()
    expect(page).to_have_url(re.compile("^" + re.escape(live_server) + r"/(\?state=[\w-]+)?$"))
    expect(page.get_by_text("You are signed out.")).to_be_visible()

    # The next person at this computer is asked to sign in at the provider again.
    page.goto("/login")
    page.get_by_role("link", name="Sign in with Contoso").click()
    expect(page.locator("input[name=login]")).to_be_visible()
