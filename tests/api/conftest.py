"""Fixtures for the JSON API: tokens of each scope, and a bearer header helper."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.models import ApiScope
from app.services.api_tokens import create_token


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def make_token(app_ctx):
    """Create a token through the real service; returns (secret, token row id)."""

    def make(scope: ApiScope | str = ApiScope.READ, name: str = "Test integration") -> tuple[str, int]:
        new = create_token(name=name, scope=scope, actor=None)
        db.session.commit()
        return new.secret, new.token.id

    return make


@pytest.fixture
def read_token(make_token) -> str:
    return make_token(ApiScope.READ, "Reader")[0]


@pytest.fixture
def write_token(make_token) -> str:
    return make_token(ApiScope.READ_WRITE, "Writer")[0]


@pytest.fixture
def limits(app):
    """Change rate-limit settings for one test; the originals come back afterwards."""
    keys = ("CARELOOP_API_RATE_LIMIT", "CARELOOP_API_ANONYMOUS_RATE_LIMIT", "CARELOOP_RATELIMIT_FILING",
            "CARELOOP_RATELIMIT_ENABLED")
    saved = {k: app.config.get(k) for k in keys}
    yield app.config
    for key, value in saved.items():
        if value is None:
            app.config.pop(key, None)
        else:
            app.config[key] = value


def pytest_terminal_summary(terminalreporter):
    """Say how many generated requests the fuzzing run sent (the closing note quotes it)."""
    from tests.api import test_fuzz

    if test_fuzz.RESULTS:
        terminalreporter.write_line(test_fuzz.summary_line())
