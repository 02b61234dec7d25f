"""Single sign-on with OpenID Connect, against a real provider on loopback.

The app side runs in Flask's test client; everything between the app and the provider is
real HTTP: discovery, the person's sign-in at the provider's page (a ``requests`` session
playing the browser), the token request with PKCE, and the JWKS the signature is checked
against. The provider (tests/oidc_provider.py) misbehaves on demand for the refusals.
"""

from __future__ import annotations

import socket
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from app.extensions import db
from app.models import USER_CREATED, USER_UPDATED, Event, Role, User
from tests.conftest import PASSWORD
from tests.oidc_provider import OidcProvider

CALLBACK = "http://careloop.test/login/sso/callback"
PROVIDER_PASSWORD = "provider pass 1"


@pytest.fixture(scope="module")
def provider():
    provider = OidcProvider().start()
    yield provider
    provider.stop()


@pytest.fixture
def sso(app, app_ctx, provider):
    """The app set up for single sign-on with the test provider; settings restored after."""
    provider.misbehave = None
    provider.users.clear()
    provider.client.redirect_uris = {CALLBACK}
    settings = {
        "CARELOOP_OIDC_ISSUER": provider.issuer,
        "CARELOOP_OIDC_CLIENT_ID": provider.client.client_id,
        "CARELOOP_OIDC_CLIENT_SECRET": provider.client.client_secret,
        "CARELOOP_OIDC_ALLOWED_DOMAINS": "example.org, contoso.example",
        "CARELOOP_OIDC_ROLE_CLAIM": "",
        "CARELOOP_OIDC_ROLE_MAP": "",
        "CARELOOP_OIDC_LABEL": "Sign in with Contoso",
        "CARELOOP_OIDC_TIMEOUT": 5.0,
        "CARELOOP_PASSWORD_LOGIN": True,
    }
    before = {key: app.config.get(key) for key in settings}
    app.config.update(settings)
    app.extensions.pop("careloop_oidc", None)
    yield provider
    app.config.update(before)
    app.extensions.pop("careloop_oidc", None)


def start_sign_in(client, next_url: str | None = None) -> str:
    """Click the button: the app answers with a redirect to the provider; its URL."""
    response = client.get("/login/sso", query_string={"next": next_url} if next_url else None)
    assert response.status_code == 302, response.get_data(as_text=True)
    location = response.headers["Location"]
    assert location.startswith(f"{client.application.config['CARELOOP_OIDC_ISSUER']}/authorize?")
    return location


def sign_in_at_provider(authorize_url: str, username: str, password: str = PROVIDER_PASSWORD,
                        action: str = "sign-in") -> str:
    """The person at the provider's page (real HTTP); returns where it sends the browser back."""
    browser = requests.Session()
    page = browser.get(authorize_url, timeout=10)
    assert page.status_code == 200 and "Username" in page.text, page.text
    answer = browser.post(authorize_url, data={"username": username, "password": password, "action": action},
                          allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


def come_back(client, callback_url: str):
    parts = urlsplit(callback_url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == CALLBACK
    return client.get(f"{parts.path}?{parts.query}")


def sign_in_with_sso(client, username: str, next_url: str | None = None):
    return come_back(client, sign_in_at_provider(start_sign_in(client, next_url), username))


def signed_in_as(client) -> str | None:
    """Who the app thinks this browser is: the name on a staff page, or None."""
    response = client.get("/staff/report")
    if response.status_code != 200:
        return None
    return response.get_data(as_text=True)


def users() -> list[User]:
    db.session.expire_all()
    return list(db.session.scalars(db.select(User).order_by(User.id)))


# --- Happy paths -------------------------------------------------------------------------


def test_the_sign_in_page_offers_the_provider_only_when_configured(app, client, sso):
    page = client.get("/login").get_data(as_text=True)
    assert "Sign in with Contoso" in page and 'href="/login/sso"' in page
    assert 'name="password"' in page  # password sign-in stays on by default
    app.config["CARELOOP_OIDC_ISSUER"] = ""
    page = client.get("/login").get_data(as_text=True)
    assert "Sign in with Contoso" not in page
    assert client.get("/login/sso").status_code == 404
    assert client.get("/login/sso/callback?code=x&state=y").status_code == 404


def test_first_sign_in_creates_a_staff_account(client, sso):
    sso.add_user("alex@example.org", PROVIDER_PASSWORD, name="Alex Morgan", sub="alex-123")
    response = sign_in_with_sso(client, "alex@example.org")
    assert response.status_code == 302
    assert response.headers["Location"] == "/staff/report"  # a staff member's home
    page = client.get("/staff/report").get_data(as_text=True)
    assert "Signed in as Alex Morgan." in page
    [alex] = users()
    assert (alex.name, alex.email, alex.role) == ("Alex Morgan", "alex@example.org", Role.STAFF)
    assert (alex.oidc_issuer, alex.oidc_subject) == (sso.issuer, "alex-123")
    assert alex.active and not alex.check_password(PROVIDER_PASSWORD)
    created = db.session.scalar(db.select(Event).filter_by(verb=USER_CREATED))
    assert created.subject_user_id == alex.id and created.details["via"] == "single sign-on"
    # The code was used once, with PKCE (the provider refuses a token request without it).
    assert sso.token_requests >= 1 and not sso.codes


def test_role_from_the_claim_and_the_second_sign_in_links_the_same_account(app, client, sso):
    app.config.update(CARELOOP_OIDC_ROLE_CLAIM="groups",
                      CARELOOP_OIDC_ROLE_MAP="careloop-admins=admin,careloop-leaders=leader")
    sso.add_user("dana@contoso.example", PROVIDER_PASSWORD, name="Dana Okafor", sub="dana-1",
                 groups=["everyone", "careloop-leaders"])
    response = sign_in_with_sso(client, "dana@contoso.example")
    assert response.headers["Location"] == "/dashboard"  # leaders land on the dashboard
    [dana] = users()
    assert dana.role == Role.LEADER
    client.post("/logout")

    # Promoted at the provider: the next sign-in finds the same account by its subject.
    sso.users["dana@contoso.example"][1]["groups"] = ["careloop-admins"]
    sign_in_with_sso(client, "dana@contoso.example")
    [again] = users()
    assert again.id == dana.id and again.role == Role.ADMIN
    updated = db.session.scalar(db.select(Event).filter_by(verb=USER_UPDATED))
    assert updated.details["before"] == {"role": "leader"} and updated.details["after"] == {"role": "admin"}
    assert client.get("/admin/users").status_code == 200


def test_an_existing_password_account_is_linked_on_first_sign_in(client, auth, sso, make_user):
    sam = make_user(Role.LEADER, name="Sam Lee", email="sam@example.org")
    sso.add_user("sam@example.org", PROVIDER_PASSWORD, name="Samuel Lee", sub="sam-sub")
    response = sign_in_with_sso(client, "sam@example.org")
    assert response.headers["Location"] == "/dashboard"
    [linked] = users()
    assert linked.id == sam.id and linked.role == Role.LEADER  # no role claim set: role kept
    assert (linked.oidc_issuer, linked.oidc_subject) == (sso.issuer, "sam-sub")
    client.post("/logout")
    assert auth.login("sam@example.org", PASSWORD).status_code == 302  # the password still works


def test_a_safe_next_address_is_followed_and_an_outside_one_is_not(client, sso):
    sso.add_user("lee@example.org", PROVIDER_PASSWORD, name="Lee")
    assert sign_in_with_sso(client, "lee@example.org", next_url="/staff/reports").headers["Location"] == "/staff/reports"
    client.post("/logout")
    assert sign_in_with_sso(client, "lee@example.org", next_url="//evil.example/x").headers["Location"] == "/staff/report"


def test_the_session_is_renewed_on_sign_in(client, sso):
    sso.add_user("kim@example.org", PROVIDER_PASSWORD, name="Kim")
    with client.session_transaction() as session:
        session["planted"] = "by someone else"
    sign_in_with_sso(client, "kim@example.org")
    with client.session_transaction() as session:
        assert "planted" not in session
        assert not any(key.startswith("_state_") for key in session)


# --- Refusals ------------------------------------------------------------------------------


def assert_refused(response, status: int, words: str) -> str:
    page = response.get_data(as_text=True)
    assert response.status_code == status, page
    assert words in page, page
    assert "Try signing in again" in page or "Back to the sign-in page" in page
    return page


def test_an_email_domain_that_is_not_allowed_is_refused(client, sso):
    sso.add_user("eve@gmail.example", PROVIDER_PASSWORD, name="Eve")
    page = assert_refused(sign_in_with_sso(client, "eve@gmail.example"), 403,
                          "Accounts from gmail.example cannot sign in to Careloop")
    assert "Sign in with your work account" in page
    assert users() == [] and signed_in_as(client) is None


def test_an_unverified_email_is_refused(client, sso):
    sso.add_user("ursula@example.org", PROVIDER_PASSWORD, email_verified=False)
    assert_refused(sign_in_with_sso(client, "ursula@example.org"), 403, "not verified")
    assert users() == []


def test_a_deactivated_account_cannot_sign_in_through_the_provider(client, sso, make_user):
    gone = make_user(Role.LEADER, email="gone@example.org")
    sso.add_user("gone@example.org", PROVIDER_PASSWORD, sub="gone-sub")
    sign_in_with_sso(client, "gone@example.org")  # linked while still active
    client.post("/logout")
    gone = db.session.get(User, gone.id)
    gone.active = False
    db.session.commit()
    assert_refused(sign_in_with_sso(client, "gone@example.org"), 403, "has been deactivated")
    assert signed_in_as(client) is None


def test_a_deactivated_password_account_is_not_linked(client, sso, make_user):
    old = make_user(Role.STAFF, email="old@example.org")
    old.active = False
    db.session.commit()
    sso.add_user("old@example.org", PROVIDER_PASSWORD, sub="old-sub")
    assert_refused(sign_in_with_sso(client, "old@example.org"), 403, "has been deactivated")
    [still] = users()
    assert still.oidc_subject is None


@pytest.mark.parametrize(
    "misbehave, words",
    [
        ("wrong_audience", "meant for another application"),
        ("expired", "had already expired"),
        ("other_key", "could not be verified"),
        ("wrong_nonce", "does not match this sign-in"),
        ("wrong_issuer", "came from an unexpected service"),
    ],
)
def test_a_token_that_fails_a_check_is_refused(client, sso, misbehave, words):
    sso.add_user("mo@example.org", PROVIDER_PASSWORD, name="Mo")
    sso.misbehave = misbehave
    assert_refused(sign_in_with_sso(client, "mo@example.org"), 400, words)
    assert users() == [] and signed_in_as(client) is None


def test_a_state_that_does_not_match_is_refused(app, client, sso):
    sso.add_user("pat@example.org", PROVIDER_PASSWORD)
    callback = sign_in_at_provider(start_sign_in(client), "pat@example.org")
    # The answer arrives in another browser (no matching state in its session): refused.
    other_browser = app.test_client()
    assert_refused(come_back(other_browser, callback), 400, "could not be matched to your browser")
    # A forged state in the browser that started: refused too.
    query = parse_qs(urlsplit(callback).query)
    forged = come_back(client, f"{CALLBACK}?code={query['code'][0]}&state=forged-state")
    assert_refused(forged, 400, "could not be matched to your browser")
    assert users() == [] and signed_in_as(client) is None and signed_in_as(other_browser) is None


def test_a_used_answer_cannot_be_replayed(client, sso):
    sso.add_user("ray@example.org", PROVIDER_PASSWORD)
    callback = sign_in_at_provider(start_sign_in(client), "ray@example.org")
    assert come_back(client, callback).status_code == 302
    client.post("/logout")
    assert_refused(come_back(client, callback), 400, "could not be matched to your browser")


def test_cancelling_at_the_provider_says_so(client, sso):
    sso.add_user("cat@example.org", PROVIDER_PASSWORD)
    callback = sign_in_at_provider(start_sign_in(client), "cat@example.org", action="cancel")
    assert "error=access_denied" in callback
    assert_refused(come_back(client, callback), 403, "Sign-in was cancelled")
    assert users() == []


def test_another_provider_error_is_shown_by_its_code_only(client, sso):
    start_sign_in(client)
    response = client.get("/login/sso/callback?error=server_error&error_description=Visit+evil.example")
    page = assert_refused(response, 400, "The sign-in service said: server_error")
    assert "Visit evil.example" not in page  # the free text is never shown


def test_an_unreachable_provider_gives_a_clear_page_not_a_hang(app, client, sso):
    # A port that accepts connections but never answers: the timeout, not a hang, ends it.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        app.config.update(CARELOOP_OIDC_ISSUER=f"http://127.0.0.1:{silent.getsockname()[1]}",
                          CARELOOP_OIDC_TIMEOUT=0.5)
        assert_refused(client.get("/login/sso"), 502, "The sign-in service did not answer")
    finally:
        silent.close()


def test_password_login_switched_off(app, client, sso, make_user):
    leader = make_user(Role.LEADER, email="pw@example.org")
    app.config["CARELOOP_PASSWORD_LOGIN"] = False
    page = client.get("/login").get_data(as_text=True)
    assert "Sign in with Contoso" in page
    assert 'name="password"' not in page
    response = client.post("/login", data={"email": leader.email, "password": PASSWORD})
    assert_refused(response, 403, "Password sign-in is switched off")
    assert signed_in_as(client) is None
    # Single sign-on still works for the same person.
    sso.add_user("pw@example.org", PROVIDER_PASSWORD)
    assert sign_in_with_sso(client, "pw@example.org").headers["Location"] == "/dashboard"


# --- The service's rules ---------------------------------------------------------------------


def test_role_claims_map_to_the_highest_role_and_strings_are_split():
    from app.services.users import role_from_claims

    mapping = {"careloop-admins": "admin", "careloop-leaders": "leader", "typo": "emperor"}
    assert role_from_claims({"roles": ["careloop-leaders", "careloop-admins"]}, "roles", mapping) == Role.ADMIN
    assert role_from_claims({"roles": "everyone careloop-leaders"}, "roles", mapping) == Role.LEADER
    assert role_from_claims({"roles": "everyone,careloop-leaders"}, "roles", mapping) == Role.LEADER
    assert role_from_claims({"roles": ["typo"]}, "roles", mapping) == Role.STAFF
    assert role_from_claims({}, "roles", mapping) == Role.STAFF


def test_a_leader_who_owns_open_problems_is_not_demoted_by_the_claim(app_ctx, make_user, make_report):
    from app import services

    leader = make_user(Role.LEADER, email="owner@example.org")
    problem = make_report().problem
    services.assign_owner(problem, leader, leader)
    db.session.commit()
    claims = {"sub": "owner-sub", "email": "owner@example.org", "groups": []}
    user = services.users.sign_in_with_provider(
        issuer="https://id.example", claims=claims, allowed_domains=["example.org"],
        role_claim="groups", role_map={"careloop-leaders": "leader"})
    db.session.commit()
    assert user.id == leader.id and user.role == Role.LEADER and user.oidc_subject == "owner-sub"


def test_an_email_linked_to_another_subject_is_refused(app_ctx, make_user):
    from app.services.errors import PermissionDenied
    from app.services.users import sign_in_with_provider

    make_user(Role.STAFF, email="twin@example.org")
    sign_in_with_provider(issuer="https://id.example", claims={"sub": "one", "email": "twin@example.org"},
                          allowed_domains=["example.org"])
    db.session.commit()
    with pytest.raises(PermissionDenied, match="already linked"):
        sign_in_with_provider(issuer="https://id.example", claims={"sub": "two", "email": "twin@example.org"},
                              allowed_domains=["example.org"])
    db.session.rollback()
    with pytest.raises(PermissionDenied, match="did not share your email"):
        sign_in_with_provider(issuer="https://id.example", claims={"sub": "three"}, allowed_domains=["example.org"])
