"""Shared fixtures: one app per test session on a real database built by the migrations.

The database is chosen by DATABASE_URL (PostgreSQL in CI); without it a SQLite
file in a temporary folder is used. Every test starts from empty tables.
"""

from __future__ import annotations

import os
import re
from itertools import count

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from flask_migrate import upgrade

from app import create_app, services
from app.extensions import db
from app.models import Channel, Role, User

# No test may reach the internet: the grouping model ships in its package.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

PASSWORD = "correct horse battery"
_serial = count(1)


def _test_database_url(tmp_path_factory) -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return re.sub(r"^postgres(ql)?://", "postgresql+psycopg://", url)
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'careloop-test.sqlite'}"


def _drop_everything(engine: sa.Engine) -> None:
    """A clean slate, so the migrations (not create_all) build the schema."""
    meta = sa.MetaData()
    meta.reflect(bind=engine)
    meta.drop_all(bind=engine)


class IsolatedClient(FlaskClient):
    """Each request gets its own app context (fresh ``g`` and database session), as it
    would in production, even though the test itself holds one open."""

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret-key",
            "SQLALCHEMY_DATABASE_URI": _test_database_url(tmp_path_factory),
            "WTF_CSRF_ENABLED": False,
            "CARELOOP_BASE_URL": "http://careloop.test",
            # Tests file and sign in quickly from one address: the limits' own tests turn them on.
            "CARELOOP_SPAM_MIN_SECONDS": 0,
            "CARELOOP_RATELIMIT_FILING": "100000/hour",
            "CARELOOP_RATELIMIT_LOGIN_IP": "100000/hour",
            "CARELOOP_RATELIMIT_LOGIN_ACCOUNT": "100000/hour",
            # Tests truncate tables between them: read the public pages' version on every request.
            "CARELOOP_PAGE_CACHE_RECHECK_SECONDS": 0,
        }
    )
    app.test_client_class = IsolatedClient
    with app.app_context():
        _drop_everything(db.engine)
        upgrade()
        db.session.remove()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def empty_tables() -> None:
    db.session.remove()
    tables = [t.name for t in db.metadata.sorted_tables]
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in reversed(tables):
                conn.execute(sa.text(f"DELETE FROM {name}"))


@pytest.fixture
def app_ctx(app):
    """An application context with empty tables; cleaned again afterwards."""
    with app.app_context():
        empty_tables()
        yield app
        empty_tables()
    app.config["WTF_CSRF_ENABLED"] = False


@pytest.fixture
def thresholds(app_ctx):
    """Set the grouping thresholds for one test; the session's come back afterwards."""
    saved = {k: app_ctx.config[k] for k in ("CARELOOP_GROUPING_AUTO", "CARELOOP_GROUPING_REVIEW")}

    def set_(auto: float, review: float):
        app_ctx.config.update(CARELOOP_GROUPING_AUTO=auto, CARELOOP_GROUPING_REVIEW=review)

    yield set_
    app_ctx.config.update(saved)


@pytest.fixture
def client(app_ctx):
    return app_ctx.test_client()


@pytest.fixture
def runner(app_ctx):
    return app_ctx.test_cli_runner()


@pytest.fixture
def make_user(app_ctx):
    def make(role: Role | str = Role.STAFF, name: str | None = None, email: str | None = None) -> User:
        n = next(_serial)
        user = services.create_user(
            name=name or f"{str(role).title()} {n}",
            email=email or f"{role}{n}@example.org",
            role=role,
            password=PASSWORD,
        )
        db.session.commit()
        return user

    return make


@pytest.fixture
def make_report(app_ctx):
    """File a report through the real service; returns the Report."""

    def make(text: str = "The card reader at the front desk keeps rejecting contactless payments.",
             name: str | None = "Maria Lopez", email: str | None = "maria@example.net",
             contact_ok: bool = True, problem=None, channel: Channel = Channel.WEB, **kwargs):
        reporter = services.new_reporter(name=name, email=email, contact_ok=contact_ok)
        report = services.file_report(text=text, reporter=reporter, channel=channel, problem=problem, **kwargs)
        db.session.commit()
        return report

    return make


@pytest.fixture
def smtp(app):
    """A real SMTP server on loopback, with the app configured to send through it."""
    from tests.mailserver import SmtpServer

    server = SmtpServer()
    server.start()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port, MAIL_FROM="Careloop <care@example.org>",
                      CARELOOP_REPLY_TO="care-team@example.org")
    yield server
    server.stop()
    app.config.update(MAIL_SERVER="", MAIL_PORT=25, CARELOOP_REPLY_TO="")


class AuthActions:
    def __init__(self, client):
        self._client = client

    def login(self, user_or_email, password: str = PASSWORD):
        email = user_or_email if isinstance(user_or_email, str) else user_or_email.email
        return self._client.post("/login", data={"email": email, "password": password})

    def logout(self):
        return self._client.post("/logout")


@pytest.fixture
def auth(client):
    return AuthActions(client)


def pytest_sessionfinish(session, exitstatus):
    """In CI nothing may hide behind a skip: any skipped test fails the run."""
    if not (os.environ.get("CI") or os.environ.get("CARELOOP_FAIL_ON_SKIP")):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        for report in skipped:
            reporter.write_line(f"SKIPPED IN CI (not allowed): {report.nodeid}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def index(app_ctx):
    """The app's similarity index with its process copy dropped, as after a restart."""
    from app.grouping import similarity_index

    index = similarity_index()
    index.forget()
    yield index
    index.forget()
