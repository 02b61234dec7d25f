"""Single sign-on as standard providers do it, and as they fail (issue 15), against the
Authlib test provider on loopback (tests/oidc_provider.py): claims from UserInfo with the
subject checked, a provider that went down after discovery, keys rotated without a
restart, and sign-out that says the provider session is still open when it cannot end it.
The same journey against npm ``oidc-provider``: tests/e2e/test_sso_standard_provider.py."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.models import Role, User
from tests.oidc_provider import OidcProvider

from .test_oidc import CALLBACK, provider, sign_in_with_sso, sso, start_sign_in  # noqa: F401  (fixtures)

LEADER_MAP = {"CARELOOP_OIDC_ROLE_CLAIM": "groups", "CARELOOP_OIDC_ROLE_MAP": "careloop-leaders=leader"}


@pytest.fixture
def standard(app, sso):
    """The shared test provider behaving like a standard one: only ``sub`` in the ID token."""
    sso.claims_in_userinfo = True
    app.config.update(LEADER_MAP)
    yield sso
    sso.claims_in_userinfo = False
    app.config.update(CARELOOP_OIDC_ROLE_CLAIM="", CARELOOP_OIDC_ROLE_MAP="")


def _user(email: str) -> User | None:
    db.session.expire_all()
    return db.session.scalar(db.select(User).filter_by(email=email))


def test_claims_missing_from_the_id_token_are_read_from_userinfo(client, standard):
    standard.add_user("ana@example.org", "provider pass 1", name="Ana Silva", groups=["careloop-leaders"])
    before = standard.userinfo_requests
    response = sign_in_with_sso(client, "ana@example.org")
    assert response.status_code == 302 and response.headers["Location"] == "/dashboard"
    assert standard.userinfo_requests == before + 1
    ana = _user("ana@example.org")
    assert ana.name == "Ana Silva" and ana.role == Role.LEADER


def test_a_userinfo_answer_about_someone_else_is_refused(client, standard):
    standard.add_user("ana@example.org", "provider pass 1", name="Ana Silva")
    standard.misbehave = "userinfo_other_subject"
    response = sign_in_with_sso(client, "ana@example.org")
    assert response.status_code == 400
    assert "gave details about someone else" in response.get_data(as_text=True)
    assert _user("ana@example.org") is None


def test_an_id_token_with_every_claim_needs_no_userinfo_call(client, sso):
    sso.add_user("ben@example.org", "provider pass 1", name="Ben Ode")
    before = sso.userinfo_requests
    assert sign_in_with_sso(client, "ben@example.org").status_code == 302
    assert sso.userinfo_requests == before


@pytest.mark.parametrize("new_kid", [None, "rotated-key"], ids=["same key id", "new key id"])
def test_a_rotated_signing_key_is_picked_up_without_a_restart(app, client, sso, new_kid):
    sso.add_user("cleo@example.org", "provider pass 1", name="Cleo")
    assert sign_in_with_sso(client, "cleo@example.org").status_code == 302  # keys now cached
    client.post("/logout")
    saved = sso.key
    try:
        sso.rotate_key(new_kid)
        response = sign_in_with_sso(client, "cleo@example.org")
        assert response.status_code == 302, response.get_data(as_text=True)
    finally:
        sso.key = saved


def test_a_provider_that_went_down_after_discovery_gives_careloops_page(app, client, sso):
    """The discovery document is cached; the button still finds out the provider is down."""
    down = OidcProvider().start()
    down.client.redirect_uris = {CALLBACK}
    app.config.update(CARELOOP_OIDC_ISSUER=down.issuer, CARELOOP_OIDC_CLIENT_ID=down.client.client_id,
                      CARELOOP_OIDC_CLIENT_SECRET=down.client.client_secret)
    app.extensions.pop("careloop_oidc", None)
    start_sign_in(client)  # discovery read and cached
    down.stop()
    response = client.get("/login/sso")
    assert response.status_code == 502, response.headers.get("Location")
    assert "The sign-in service did not answer" in response.get_data(as_text=True)


def test_sign_out_says_plainly_that_the_provider_session_is_still_open(client, sso):
    """This provider offers no RP-initiated logout (no ``end_session_endpoint``)."""
    sso.add_user("dev@example.org", "provider pass 1", name="Dev")
    assert sign_in_with_sso(client, "dev@example.org").status_code == 302
    response = client.post("/logout", follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "You are signed out of Careloop, but still signed in at your organisation" in page
    assert client.get("/staff/report").status_code == 302


def test_password_sign_out_says_only_signed_out(client, auth, make_user):
    auth.login(make_user(Role.STAFF))
    page = client.post("/logout", follow_redirects=True).get_data(as_text=True)
    assert "You are signed out." in page and "still signed in" not in page
