"""API tokens: made by admins, shown once, stored hashed, scoped, revocable, last use recorded."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import sqlalchemy as sa

from app.extensions import db
from app.models import (
    API_TOKEN_CREATED,
    API_TOKEN_REVOKED,
    ApiScope,
    ApiToken,
    Event,
    Role,
    clock_at,
)
from app.services.api_tokens import create_token, revoke_token
from tests.api.conftest import bearer


def _raw_rows() -> list[tuple]:
    with db.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.text("SELECT * FROM api_tokens"))]


def test_a_token_is_stored_only_as_its_sha256(make_token):
    secret, token_id = make_token(ApiScope.READ)
    assert secret.startswith("cl_") and len(secret) >= 3 + 43  # 256 random bits, URL-safe
    token = db.session.get(ApiToken, token_id)
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret.startswith(token.prefix) and len(token.prefix) == 11
    # The secret is in no column of the row, in whole or without its prefix.
    for value in _raw_rows()[0]:
        assert secret not in str(value) and secret[3:] not in str(value)


def test_tokens_are_distinct_and_their_events_do_not_leak_them(make_token):
    secrets = {make_token(ApiScope.READ, f"Integration {i}")[0] for i in range(10)}
    assert len(secrets) == 10
    events = db.session.scalars(sa.select(Event).where(Event.verb == API_TOKEN_CREATED)).all()
    assert len(events) == 10
    assert not any(s in str(e.details) for e in events for s in secrets)


def test_last_use_is_written_at_most_once_a_minute(client, make_token):
    secret, token_id = make_token(ApiScope.READ)
    assert db.session.get(ApiToken, token_id).last_used_at is None
    start = datetime(2030, 5, 1, 9, 0, 0)
    with clock_at(start):
        assert client.get("/api/v1/problems", headers=bearer(secret)).status_code == 200
    db.session.expire_all()
    assert db.session.get(ApiToken, token_id).last_used_at == start
    with clock_at(start + timedelta(seconds=50)):
        client.get("/api/v1/problems", headers=bearer(secret))
    db.session.expire_all()
    assert db.session.get(ApiToken, token_id).last_used_at == start  # not rewritten within the minute
    with clock_at(start + timedelta(seconds=61)):
        client.get("/api/v1/problems", headers=bearer(secret))
    db.session.expire_all()
    assert db.session.get(ApiToken, token_id).last_used_at == start + timedelta(seconds=61)


def test_a_revoked_token_stops_working_at_once(client, make_token):
    secret, token_id = make_token(ApiScope.READ_WRITE)
    assert client.get("/api/v1/reports", headers=bearer(secret)).status_code == 200
    revoke_token(token_id, actor=None)
    db.session.commit()
    response = client.get("/api/v1/reports", headers=bearer(secret))
    assert response.status_code == 401
    assert response.json["error"]["code"] == "invalid_token"
    assert "invalid_token" in response.headers["WWW-Authenticate"]
    # Even where anonymous callers are welcome: a bad token is refused, not ignored.
    assert client.get("/api/v1/problems", headers=bearer(secret)).status_code == 401
    assert client.post("/api/v1/reports", json={"text": "x", "name": "A"}, headers=bearer(secret)).status_code == 401


def test_unknown_and_malformed_tokens_are_refused(client, make_token):
    secret, _ = make_token(ApiScope.READ)
    for header in (f"Bearer {secret[:-1]}x", f"Bearer {secret[3:]}", "Bearer ", f"Basic {secret}", secret,
                   "Bearer " + "cl_" + "a" * 500):
        response = client.get("/api/v1/reports", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.is_json


def test_admins_create_a_token_and_see_it_once(client, auth, make_user):
    admin = make_user(Role.ADMIN)
    auth.login(admin)
    page = client.get("/admin/api-tokens")
    assert page.status_code == 200 and "Create a token" in page.get_data(as_text=True)
    response = client.post("/admin/api-tokens", data={"name": "Service desk", "scope": "read_write"})
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    token = db.session.scalar(sa.select(ApiToken))
    start = html.index('value="cl_') + len('value="')
    secret = html[start:html.index('"', start)]
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert "shown only this once" in html
    assert token.scope == ApiScope.READ_WRITE and token.created_by_id == admin.id
    # The list shows the prefix, never the token again.
    listing = client.get("/admin/api-tokens").get_data(as_text=True)
    assert token.prefix in listing and secret not in listing
    # And the token works.
    assert client.get("/api/v1/reports", headers=bearer(secret)).status_code == 200


def test_the_create_form_keeps_the_name_and_shows_the_error(client, auth, make_user):
    auth.login(make_user(Role.ADMIN))
    response = client.post("/admin/api-tokens", data={"name": "", "scope": "read"})
    assert response.status_code == 422
    assert "Give the token a name." in response.get_data(as_text=True)
    response = client.post("/admin/api-tokens", data={"name": "Keep me", "scope": "everything"})
    assert response.status_code == 422
    assert 'value="Keep me"' in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(ApiToken.id))) == 0


def test_admins_revoke_a_token_in_the_page(client, auth, make_user, make_token):
    admin = make_user(Role.ADMIN)
    secret, token_id = make_token(ApiScope.READ, "Old dashboard")
    auth.login(admin)
    response = client.post(f"/admin/api-tokens/{token_id}/revoke", follow_redirects=True)
    assert response.status_code == 200
    assert "revoked" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(ApiToken, token_id).revoked_at is not None
    event = db.session.scalar(sa.select(Event).where(Event.verb == API_TOKEN_REVOKED))
    assert event.actor_id == admin.id and event.details["token_id"] == token_id
    assert client.get("/api/v1/problems", headers=bearer(secret)).status_code == 401
    assert client.post("/admin/api-tokens/999/revoke").status_code == 404


def test_only_admins_may_manage_tokens_in_the_service(make_user):
    import pytest

    from app.services.errors import PermissionDenied

    leader = make_user(Role.LEADER)
    with pytest.raises(PermissionDenied):
        create_token(name="x", scope="read", actor=leader)


def test_the_cli_creates_lists_and_revokes_tokens(runner, client):
    result = runner.invoke(args=["api-tokens", "create", "--name", "Nightly export", "--scope", "read"])
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip().splitlines()[-1]
    assert secret.startswith("cl_")
    assert client.get("/api/v1/reports", headers=bearer(secret)).status_code == 200
    token = db.session.scalar(sa.select(ApiToken))
    listed = runner.invoke(args=["api-tokens", "list"])
    assert token.prefix in listed.output and "Nightly export" in listed.output and "active" in listed.output
    assert secret not in listed.output
    revoked = runner.invoke(args=["api-tokens", "revoke", str(token.id)])
    assert revoked.exit_code == 0 and "Revoked" in revoked.output
    assert "revoked" in runner.invoke(args=["api-tokens", "list"]).output
    assert client.get("/api/v1/reports", headers=bearer(secret)).status_code == 401
    assert runner.invoke(args=["api-tokens", "revoke", "4242"]).exit_code != 0
    assert runner.invoke(args=["api-tokens", "create", "--name", "x", "--scope", "admin"]).exit_code != 0
