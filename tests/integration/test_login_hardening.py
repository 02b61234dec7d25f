"""Failed sign-ins lock an email address for a while; the lock holds across app processes,
says nothing about which accounts exist, and admins can see and lift it."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from app import create_app
from app.extensions import db
from app.models import Event, LoginFailure, Role, clock_at
from app.security.logins import ACCOUNT_UNLOCKED
from tests.conftest import PASSWORD

T0 = datetime(2030, 5, 6, 9, 0, 0)
LOCKED = "Too many failed sign-ins for this email address."
MISMATCH = "That email and password do not match an active account."


def _login(client, email, password, **kwargs):
    return client.post("/login", data={"email": email, "password": password}, **kwargs)


def _fail(client, email, times):
    return [_login(client, email, "wrong password").status_code for _ in range(times)]


def test_five_failures_lock_the_account_even_against_the_right_password(client, make_user):
    user = make_user(Role.STAFF)
    with clock_at(T0):
        assert _fail(client, user.email, 4) == [422] * 4
        fifth = _login(client, user.email, "wrong password")
        assert fifth.status_code == 429 and LOCKED in fifth.get_data(as_text=True)
        locked = _login(client, user.email, PASSWORD)
    assert locked.status_code == 429
    assert locked.headers["Retry-After"] == str(15 * 60)
    page = locked.get_data(as_text=True)
    assert LOCKED in page and "Try again in about 15 minutes" in page and "ask an admin to unlock" in page
    assert f'value="{user.email}"' in page and PASSWORD not in page
    with client.session_transaction() as session:
        assert "_user_id" not in session


def test_the_lock_ends_after_the_lock_time(client, make_user):
    user = make_user(Role.STAFF)
    with clock_at(T0):
        _fail(client, user.email, 5)
    with clock_at(T0 + timedelta(minutes=14)):
        assert _login(client, user.email, PASSWORD).status_code == 429
    with clock_at(T0 + timedelta(minutes=15, seconds=1)):
        assert _login(client, user.email, PASSWORD).status_code == 302


def test_failures_spread_over_more_than_the_window_do_not_lock(client, make_user):
    user = make_user(Role.STAFF)
    with clock_at(T0):
        _fail(client, user.email, 4)
    with clock_at(T0 + timedelta(minutes=16)):  # the earlier four no longer count
        assert _fail(client, user.email, 4) == [422] * 4
        assert _login(client, user.email, PASSWORD).status_code == 302


def test_a_successful_sign_in_starts_the_count_again(client, make_user):
    user = make_user(Role.STAFF)
    with clock_at(T0):
        _fail(client, user.email, 4)
        assert _login(client, user.email, PASSWORD).status_code == 302
        client.post("/logout")
        assert _fail(client, user.email, 4) == [422] * 4
        assert _login(client, user.email, PASSWORD).status_code == 302
    assert db.session.scalar(db.select(LoginFailure).where(LoginFailure.email == user.email)) is None


ATTACKER, PERSON = {"REMOTE_ADDR": "198.51.100.66"}, {"REMOTE_ADDR": "203.0.113.7"}


def test_someone_elses_failures_do_not_lock_a_person_out(client, make_user):
    """Failures lock the (account, address) pair: the guesser is locked, the person is not."""
    user = make_user(Role.STAFF)
    with clock_at(T0):
        attacker = [_login(client, user.email, "wrong password", environ_base=ATTACKER).status_code
                    for _ in range(6)]
        assert attacker == [422] * 4 + [429, 429]
        assert _login(client, user.email, PASSWORD, environ_base=ATTACKER).status_code == 429
        assert _login(client, user.email, PASSWORD, environ_base=PERSON).status_code == 302


def test_admins_see_a_lock_from_any_address_and_lifting_it_clears_every_address(client, auth, make_user):
    user = make_user(Role.STAFF, name="Locked Out")
    admin = make_user(Role.ADMIN)
    with clock_at(T0):
        _fail_from = lambda env: [_login(client, user.email, "nope", environ_base=env) for _ in range(5)]
        _fail_from(ATTACKER)
        _fail_from(PERSON)
        auth.login(admin)
        assert "Locked after failed sign-ins until" in client.get("/admin/users").get_data(as_text=True)
        assert client.post(f"/admin/users/{user.id}/unlock").status_code == 302
        client.post("/logout")
        assert _login(client, user.email, PASSWORD, environ_base=ATTACKER).status_code == 302


def test_an_address_without_an_account_behaves_exactly_the_same(client, make_user):
    user = make_user(Role.STAFF)
    with clock_at(T0):
        real = [_login(client, user.email, "wrong password") for _ in range(6)]
        ghost = [_login(client, "nobody-here@example.org", "wrong password") for _ in range(6)]
    assert [r.status_code for r in real] == [r.status_code for r in ghost] == [422] * 4 + [429, 429]
    for mine, theirs in zip(real, ghost):
        assert mine.headers.get("Retry-After") == theirs.headers.get("Retry-After")
        assert _page(mine, user.email) == _page(theirs, "nobody-here@example.org")
    assert MISMATCH in real[0].get_data(as_text=True)


def _page(response, email):
    """The page with the address typed and the per-page form token taken out."""
    html = response.get_data(as_text=True).replace(email, "EMAIL")
    return re.sub(r'<input[^>]*name="csrf_token"[^>]*>', "", html)


def test_the_email_is_matched_case_insensitively(client, make_user):
    user = make_user(Role.STAFF)
    with clock_at(T0):
        _fail(client, user.email.upper(), 3)
        _fail(client, "  " + user.email + " ", 2)
        assert _login(client, user.email, PASSWORD).status_code == 429


def test_failures_are_counted_in_the_database_across_app_processes(app, client, make_user):
    """Two app objects with their own engines and connections, as two processes would have."""
    user = make_user(Role.STAFF)
    other = create_app({**app.config}).test_client()
    with clock_at(T0):
        _fail(client, user.email, 3)
        _fail(other, user.email, 2)
        assert _login(client, user.email, PASSWORD).status_code == 429
        assert _login(other, user.email, PASSWORD).status_code == 429


def test_admins_see_the_lock_and_lift_it(client, auth, make_user):
    user = make_user(Role.STAFF, name="Locked Out")
    admin = make_user(Role.ADMIN)
    with clock_at(T0):
        _fail(client, user.email, 5)
        auth.login(admin)
        page = client.get("/admin/users").get_data(as_text=True)
        assert "Locked after failed sign-ins until 6 May 2030, 09:15 UTC." in page
        assert f'action="/admin/users/{user.id}/unlock"' in page
        assert f'action="/admin/users/{admin.id}/unlock"' not in page  # only locked accounts offer it
        response = client.post(f"/admin/users/{user.id}/unlock")
        assert response.status_code == 302
        event = db.session.scalar(db.select(Event).where(Event.verb == ACCOUNT_UNLOCKED))
        assert event.actor_id == admin.id and event.subject_user_id == user.id
        client.post("/logout")
        assert _login(client, user.email, PASSWORD).status_code == 302


def test_unlocking_needs_a_csrf_token(client, auth, make_user, app_ctx):
    user = make_user(Role.STAFF)
    with clock_at(T0):
        _fail(client, user.email, 5)
        auth.login(make_user(Role.ADMIN))
        app_ctx.config["WTF_CSRF_ENABLED"] = True
        assert client.post(f"/admin/users/{user.id}/unlock").status_code == 400
        app_ctx.config["WTF_CSRF_ENABLED"] = False
        client.post("/logout")
        assert _login(client, user.email, PASSWORD).status_code == 429


@pytest.mark.parametrize("next_url, expected", [("/triage", "/triage"), ("//evil.example/x", "/dashboard")])
def test_sign_in_still_follows_only_safe_next_addresses(client, make_user, next_url, expected):
    user = make_user(Role.LEADER)
    response = client.post("/login", query_string={"next": next_url},
                           data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == expected
