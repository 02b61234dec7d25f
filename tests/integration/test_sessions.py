"""Sessions end when people say so (issue 15): sign-out removes the remember cookie, and
every copy of the session and remember cookies issued before it stops working, as do a
password change, deactivation, a role change and "sign out everywhere"."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

import pytest

from app.extensions import db
from app.models import Event, Role, User
from app.services.sessions import SIGNED_OUT_EVERYWHERE
from app.services.users import update_user
from tests.conftest import PASSWORD

STAFF_PAGE = "/staff/reports"


def _sign_in(client, user, remember=True):
    data = {"email": user.email, "password": PASSWORD}
    if remember:
        data["remember"] = "y"
    response = client.post("/login", data=data)
    assert response.status_code == 302
    return response


def _cookies(client) -> dict[str, str]:
    return {name: client.get_cookie(name).value for name in ("session", "remember_token")
            if client.get_cookie(name) is not None}


def _replay(app, cookies: dict[str, str]):
    """A new browser that holds only the copied cookies."""
    other = app.test_client()
    for name, value in cookies.items():
        other.set_cookie(name, value, domain="localhost")
    return other.get(STAFF_PAGE)


def _is_sign_in_page(response) -> bool:
    return response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_copied_cookies_work_while_signed_in(app, client, make_user):
    """The control for the replays below: the same copies do open the page before sign-out."""
    _sign_in(client, make_user(Role.STAFF))
    copied = _cookies(client)
    assert set(copied) == {"session", "remember_token"}
    assert _replay(app, copied).status_code == 200
    assert _replay(app, {"remember_token": copied["remember_token"]}).status_code == 200


def test_sign_out_removes_the_remember_cookie(client, make_user):
    _sign_in(client, make_user(Role.STAFF))
    response = client.post("/logout")
    removed = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("remember_token=")]
    assert removed and ("Expires=Thu, 01 Jan 1970" in removed[0] or "Max-Age=0" in removed[0])
    assert client.get_cookie("remember_token") is None
    assert _is_sign_in_page(client.get(STAFF_PAGE))


@pytest.mark.parametrize("copied", [("session",), ("remember_token",), ("session", "remember_token")])
def test_cookies_copied_before_sign_out_answer_with_the_sign_in_page(app, client, make_user, copied):
    _sign_in(client, make_user(Role.STAFF))
    cookies = {name: value for name, value in _cookies(client).items() if name in copied}
    client.post("/logout")
    assert _is_sign_in_page(_replay(app, cookies))


def test_the_remember_cookie_lasts_30_days_by_default(client, make_user):
    response = _sign_in(client, make_user(Role.STAFF))
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("remember_token="))
    expires = parsedate_to_datetime(cookie.split("Expires=", 1)[1].split(";", 1)[0])
    days = (expires - datetime.now(timezone.utc)) / timedelta(days=1)
    assert 29.9 < days <= 30


def _other_device(app, user):
    """A second browser signed in as ``user`` with "Keep me signed in"; its cookies."""
    device = app.test_client()
    _sign_in(device, user)
    return _cookies(device)


def test_an_admin_signs_someone_out_everywhere(app, client, auth, make_user):
    user = make_user(Role.STAFF)
    phone = _other_device(app, user)
    admin = make_user(Role.ADMIN)
    auth.login(admin)
    assert f'action="/admin/users/{user.id}/sign-out"' in client.get("/admin/users").get_data(as_text=True)
    assert client.post(f"/admin/users/{user.id}/sign-out").status_code == 302
    assert _is_sign_in_page(_replay(app, phone))
    assert _is_sign_in_page(_replay(app, {"remember_token": phone["remember_token"]}))
    event = db.session.scalar(db.select(Event).where(Event.verb == SIGNED_OUT_EVERYWHERE))
    assert (event.actor_id, event.subject_user_id) == (admin.id, user.id)
    assert client.get("/admin/users").status_code == 200  # the admin stays signed in


def test_signing_out_everywhere_needs_a_csrf_token(app_ctx, client, auth, make_user):
    user = make_user(Role.STAFF)
    phone = _other_device(app_ctx, user)
    auth.login(make_user(Role.ADMIN))
    app_ctx.config["WTF_CSRF_ENABLED"] = True
    assert client.post(f"/admin/users/{user.id}/sign-out").status_code == 400
    app_ctx.config["WTF_CSRF_ENABLED"] = False
    assert _replay(app_ctx, phone).status_code == 200


@pytest.mark.parametrize("change", ["deactivate", "role"])
def test_deactivation_and_a_role_change_end_the_sessions(app, make_user, change):
    user = make_user(Role.LEADER)
    laptop = _other_device(app, user)
    admin = make_user(Role.ADMIN)
    if change == "deactivate":
        update_user(user, admin, active=False)
        db.session.commit()
        update_user(user, admin, active=True)  # reactivated: the old cookies stay dead
    else:
        update_user(user, admin, role=Role.STAFF)
    db.session.commit()
    assert _is_sign_in_page(_replay(app, laptop))
    assert _is_sign_in_page(_replay(app, {"remember_token": laptop["remember_token"]}))


def test_a_password_change_ends_the_sessions(app, make_user):
    user = make_user(Role.STAFF)
    laptop = _other_device(app, user)
    db.session.get(User, user.id).set_password("a brand new password")
    db.session.commit()
    assert _is_sign_in_page(_replay(app, {"remember_token": laptop["remember_token"]}))
    assert _is_sign_in_page(_replay(app, laptop))


def test_the_cli_sets_a_password_and_ends_the_sessions(app, runner, make_user):
    user = make_user(Role.STAFF)
    laptop = _other_device(app, user)
    result = runner.invoke(args=["users", "set-password", "--email", user.email.upper(),
                                 "--password", "another long password"])
    assert result.exit_code == 0, result.output
    assert "Signed out everywhere" in result.output
    assert _is_sign_in_page(_replay(app, laptop))
    assert app.test_client().post("/login", data={"email": user.email, "password": "another long password"}
                                  ).status_code == 302


def test_the_remember_duration_is_configurable(app, make_user):
    from app import create_app

    short = create_app({**app.config, "CARELOOP_REMEMBER_DAYS": 2}).test_client()
    response = _sign_in(short, make_user(Role.STAFF))
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("remember_token="))
    expires = parsedate_to_datetime(cookie.split("Expires=", 1)[1].split(";", 1)[0])
    assert (expires - datetime.now(timezone.utc)) < timedelta(days=2, minutes=1)
