"""Rate limits kept in the database (rate_limit_hits), the 429 answers, the client address
behind proxies, and the security headers on every kind of response."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from app import create_app
from app.extensions import db
from app.models import Report, Role, clock_at
from app.security.ratelimit import RateLimited, allow, hit, parse_limit

ROOT = Path(__file__).resolve().parents[2]
# Every test runs at one fixed moment, so a fixed window never turns over mid-test.
NOW = datetime(2030, 3, 4, 10, 30, 0)
WORDS = "The self-service checkout keeps asking for an assistant after every item."


@pytest.fixture
def fixed_clock():
    with clock_at(NOW):
        yield NOW


@pytest.fixture
def limits(app_ctx, fixed_clock):
    """Set limits for one test; the session's generous ones come back afterwards."""
    saved = dict(app_ctx.config)

    def set_limits(**values):
        app_ctx.config.update(values)

    yield set_limits
    for key in ("CARELOOP_RATELIMIT_ENABLED", "CARELOOP_RATELIMIT_FILING", "CARELOOP_RATELIMIT_LOGIN_IP",
                "CARELOOP_RATELIMIT_LOGIN_ACCOUNT", "CARELOOP_SUGGEST_PER_MINUTE"):
        app_ctx.config[key] = saved[key]


def _reports() -> int:
    db.session.expire_all()
    return db.session.scalar(db.select(db.func.count(Report.id)))


def _file(client, ip="198.51.100.7", **headers):
    return client.post("/", data={"text": WORDS, "problem_choice": "new", "name": "Kit"},
                       environ_base={"REMOTE_ADDR": ip}, headers=headers)


@pytest.mark.parametrize("spec, expected", [
    ("10/hour", (10, 3600)), ("5/15minutes", (5, 900)), ("30 per minute", (30, 60)),
    ("100/day", (100, 86400)), ("2/second", (2, 1)), (" 7 / 2hours ", (7, 7200)),
])
def test_limits_are_written_like_10_per_hour(spec, expected):
    assert parse_limit(spec) == expected


@pytest.mark.parametrize("spec", ["10", "ten/hour", "10/fortnight", "-1/hour", ""])
def test_a_mistyped_limit_is_refused_with_an_example(spec):
    with pytest.raises(ValueError, match="10/hour"):
        parse_limit(spec)


def test_allow_counts_per_key_and_window(app_ctx, fixed_clock):
    assert [allow("api:token-1", 2, 60) for _ in range(3)] == [True, True, False]
    assert allow("api:token-2", 2, 60) is True  # another key has its own count


def test_allow_and_hit_count_nothing_when_limits_are_off(limits):
    limits(CARELOOP_RATELIMIT_ENABLED=False, CARELOOP_RATELIMIT_FILING="1/hour")
    assert all(allow("api:token-1", 1, 60) for _ in range(5))
    for _ in range(5):
        hit("filing", "203.0.113.1")
    assert db.session.scalar(db.select(db.func.count()).select_from(db.metadata.tables["rate_limit_hits"])) == 0


def test_a_limit_holds_across_app_processes(limits, app_ctx):
    """Another process (its own interpreter, engine and connections) counts against the same limit."""
    limits(CARELOOP_RATELIMIT_FILING="5/hour")
    script = (
        "import sys\n"
        "from datetime import datetime\n"
        "from app import create_app\n"
        "from app.models import clock_at\n"
        "from app.security.ratelimit import hit\n"
        "app = create_app({'SQLALCHEMY_DATABASE_URI': sys.argv[1], 'CARELOOP_RATELIMIT_FILING': '5/hour'})\n"
        "with app.app_context(), clock_at(datetime.fromisoformat(sys.argv[2])):\n"
        "    for _ in range(3):\n"
        "        hit('filing', '203.0.113.9')\n"
        "print('counted 3')\n"
    )
    env = {**os.environ, "SECRET_KEY": "another-process", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", script, app_ctx.config["SQLALCHEMY_DATABASE_URI"], NOW.isoformat()],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "counted 3"
    hit("filing", "203.0.113.9")
    hit("filing", "203.0.113.9")
    with pytest.raises(RateLimited) as raised:
        hit("filing", "203.0.113.9")
    assert raised.value.retry_after == 1800  # 10:30 → the hour's window ends at 11:00
    hit("filing", "203.0.113.10")  # another address is not affected


def test_public_filing_is_limited_per_address_and_keeps_the_words(client, limits):
    limits(CARELOOP_RATELIMIT_FILING="2/hour")
    assert [_file(client).status_code for _ in range(2)] == [302, 302]
    response = _file(client)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1800"
    page = response.get_data(as_text=True)
    assert "Too many requests in a short time" in page and "try again in about 30 minutes" in page
    assert "Your words are kept below; nothing has been saved yet." in page
    assert WORDS in page and 'value="Kit"' in page and "careloop.css" in page
    assert _reports() == 2
    assert _file(client, ip="198.51.100.8").status_code == 302  # someone else still can
    assert _reports() == 3


def test_limits_off_lets_every_filing_through(client, limits):
    limits(CARELOOP_RATELIMIT_FILING="1/hour", CARELOOP_RATELIMIT_ENABLED=False)
    assert [_file(client).status_code for _ in range(3)] == [302, 302, 302]


def test_suggestions_answer_429_in_json_with_retry_after(client, limits):
    limits(CARELOOP_SUGGEST_PER_MINUTE=2)
    codes = [client.get("/suggest", query_string={"text": "card reader"}).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    response = client.get("/suggest", query_string={"text": "card reader"})
    assert response.status_code == 429 and response.is_json
    assert response.headers["Retry-After"] == "60" and response.json["retry_after"] == 60
    assert "try again in about 1 minute" in response.json["error"]


def test_sign_in_is_limited_per_address(client, limits, make_user):
    limits(CARELOOP_RATELIMIT_LOGIN_IP="3/hour")
    user = make_user(Role.STAFF)
    for n in range(3):
        client.post("/login", data={"email": f"nobody{n}@example.org", "password": "wrong"})
    response = client.post("/login", data={"email": user.email, "password": "correct horse battery"})
    assert response.status_code == 429 and response.headers["Retry-After"] == "1800"
    page = response.get_data(as_text=True)
    assert "Too many requests in a short time" in page and f'value="{user.email}"' in page
    assert "_user_id" not in (client.get_cookie("session").value if client.get_cookie("session") else "")
    other = client.post("/login", data={"email": user.email, "password": "correct horse battery"},
                        environ_base={"REMOTE_ADDR": "192.0.2.44"})
    assert other.status_code == 302


def test_sign_in_is_limited_per_account_from_each_address(client, limits, make_user):
    """The account's limit counts per client address, so tries from one address cannot
    shut the account's owner out at another (issue 15)."""
    limits(CARELOOP_RATELIMIT_LOGIN_ACCOUNT="2/hour")
    user = make_user(Role.STAFF)
    for _ in range(2):
        client.post("/login", data={"email": user.email, "password": "correct horse battery"},
                    environ_base={"REMOTE_ADDR": "192.0.2.1"})
        client.post("/logout")
    response = client.post("/login", data={"email": user.email.upper(), "password": "correct horse battery"},
                           environ_base={"REMOTE_ADDR": "192.0.2.1"})
    assert response.status_code == 429
    elsewhere = client.post("/login", data={"email": user.email, "password": "correct horse battery"},
                            environ_base={"REMOTE_ADDR": "192.0.2.3"})
    assert elsewhere.status_code == 302


def test_proxy_count_uses_the_forwarded_address(app, app_ctx, fixed_clock):
    behind = create_app({**app.config, "CARELOOP_PROXY_COUNT": 1, "CARELOOP_RATELIMIT_FILING": "1/hour"})
    client = behind.test_client()
    first = _file(client, ip="10.0.0.1", **{"X-Forwarded-For": "203.0.113.50"})
    second = _file(client, ip="10.0.0.1", **{"X-Forwarded-For": "203.0.113.51"})
    again = _file(client, ip="10.0.0.1", **{"X-Forwarded-For": "203.0.113.50"})
    assert (first.status_code, second.status_code, again.status_code) == (302, 302, 429)


def test_without_proxies_a_forwarded_header_is_ignored(app, app_ctx, fixed_clock):
    direct = create_app({**app.config, "CARELOOP_PROXY_COUNT": 0, "CARELOOP_RATELIMIT_FILING": "1/hour"})
    client = direct.test_client()
    assert _file(client, ip="10.0.0.1", **{"X-Forwarded-For": "203.0.113.50"}).status_code == 302
    # A client cannot dodge the limit by inventing a forwarded address.
    assert _file(client, ip="10.0.0.1", **{"X-Forwarded-For": "203.0.113.99"}).status_code == 429


def test_a_limit_reached_anywhere_else_is_a_styled_page_or_json(app, app_ctx, fixed_clock):
    other = create_app({**app.config, "CARELOOP_RATELIMIT_FILING": "1/hour"})

    @other.route("/limited")
    def limited():
        hit("filing", "one")
        return "ok"

    client = other.test_client()
    assert client.get("/limited").status_code == 200
    page = client.get("/limited")
    assert page.status_code == 429 and page.headers["Retry-After"] == "1800"
    html = page.get_data(as_text=True)
    assert "Please wait a little" in html and "careloop.css" in html
    as_json = client.get("/limited", headers={"Accept": "application/json"})
    assert as_json.status_code == 429 and as_json.json["retry_after"] == 1800


# --- Security headers ----------------------------------------------------------------


def _assert_security_headers(response):
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp and "base-uri 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] in ("same-origin", "no-referrer")
    assert "camera=()" in response.headers["Permissions-Policy"]
    assert "geolocation=()" in response.headers["Permissions-Policy"]
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"


def test_security_headers_on_html_json_error_and_static_responses(client, app_ctx):
    responses = {
        "html": client.get("/"),
        "json": client.get("/suggest", query_string={"text": "x"}),
        "404": client.get("/no-such-page"),
        "405": client.put("/changes"),
        "static": client.get("/static/careloop.css"),
        "feed": client.get("/changes.atom"),
    }
    assert responses["json"].is_json and responses["404"].status_code == 404
    for kind, response in responses.items():
        _assert_security_headers(response)
        assert "Strict-Transport-Security" not in response.headers, kind  # served over plain http


def test_strict_transport_security_when_the_site_is_https(app, app_ctx):
    secure = create_app({**app.config, "CARELOOP_BASE_URL": "https://careloop.example.org"})

    @secure.route("/boom")
    def boom():
        raise RuntimeError("simulated")

    secure.config["PROPAGATE_EXCEPTIONS"] = False
    secure.testing = False
    client = secure.test_client()
    for response in (client.get("/"), client.get("/static/careloop.css"), client.get("/boom")):
        assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
        _assert_security_headers(response)
