"""Error pages in the site's style, and the security headers on every response."""

from datetime import datetime

from app import create_app
from app.extensions import db
from app.models import Role, clock_at


def test_unknown_page_is_a_styled_404(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "We couldn" in page and "careloop.css" in page and "Go to the home page" in page


def test_an_error_is_json_for_a_caller_that_asks_for_json_by_the_one_rule(app, app_ctx, client):
    """The error pages, the API and the 429 decide alike (app.json_errors.wants_json)."""
    fetch = {"Accept": "application/json, text/plain, */*"}
    missing = client.get("/no-such-page", headers=fetch)
    assert missing.status_code == 404 and missing.json["error"]["code"] == "not_found"
    assert client.get("/api/v1/no-such-thing").json["error"]["status"] == 404
    assert "text/html" in client.get("/no-such-page", headers={"Accept": "*/*"}).content_type
    limited = create_app({**app.config, "CARELOOP_RATELIMIT_FILING": "1/hour"})

    @limited.route("/limited")
    def limited_route():
        from app.security.ratelimit import hit

        hit("filing", "the one rule")
        return "ok"

    other = limited.test_client()
    with clock_at(datetime(2026, 3, 2, 10, 30)):  # one window for every request
        other.get("/limited")
        assert other.get("/limited", headers=fetch).is_json
        assert "text/html" in other.get("/limited", headers={"Accept": "*/*"}).content_type


def test_server_error_is_a_styled_500_and_rolls_back(app, app_ctx):
    # A separate app, because routes cannot be added to one that has served requests.
    broken = create_app({**app.config, "TESTING": False, "PROPAGATE_EXCEPTIONS": False})

    @broken.route("/boom")
    def boom():
        raise RuntimeError("simulated failure")

    response = broken.test_client().get("/boom")
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert "Something went wrong on our side" in page
    assert "simulated failure" not in page


def test_security_headers_on_every_page(client):
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_session_cookie_is_http_only_and_same_site(client, auth, make_user):
    response = auth.login(make_user(Role.STAFF))
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_sign_in_starts_a_fresh_session(client, auth, make_user):
    user = make_user(Role.STAFF)
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    auth.login(user)
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["_user_id"] == f"{user.id}:{user.session_version}"


def test_passwords_are_stored_hashed(make_user):
    from tests.conftest import PASSWORD

    user = make_user(Role.STAFF)
    db.session.refresh(user)
    assert PASSWORD not in user.password_hash
    assert user.password_hash.startswith(("scrypt:", "pbkdf2:"))
