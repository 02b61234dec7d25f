"""The schema comes from the migrations, and the migrations match the models."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from flask_migrate import downgrade, upgrade

from app import services
from app.extensions import db
from app.models import Role, User

EXPECTED_TABLES = {"users", "reporters", "problems", "reports", "comments", "events"}


def _tables() -> set[str]:
    return set(sa.inspect(db.engine).get_table_names()) - {"alembic_version"}


def _revision() -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _head() -> str:
    config = current_app.extensions["migrate"].migrate.get_config()
    return ScriptDirectory.from_config(config).get_current_head()


def test_the_database_is_at_head(app_ctx):
    assert _revision() == _head()
    assert EXPECTED_TABLES <= _tables()


def test_downgrade_to_base_and_upgrade_again(app_ctx):
    services.create_user(name="Before", email="before@example.org", role=Role.ADMIN, password="long enough pw")
    db.session.commit()
    db.session.remove()
    try:
        downgrade(revision="base")
        assert _tables() == set()
        assert _revision() is None
    finally:
        # leave the database at head whatever happened above
        upgrade()
    assert _revision() == _head()
    assert EXPECTED_TABLES <= _tables()
    # the rebuilt schema works, and the downgrade really dropped the data
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 0
    services.create_user(name="After", email="after@example.org", role=Role.ADMIN, password="long enough pw")
    db.session.commit()
    assert db.session.scalar(sa.select(User.name)) == "After"


def test_the_models_match_the_migrations(app_ctx):
    migrate = current_app.extensions["migrate"]
    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                **{k: v for k, v in migrate.configure_args.items() if k.startswith("compare")},
            },
        )
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def _channels() -> dict[str, tuple[str, str | None]]:
    with db.engine.connect() as conn:
        return {text: (channel, source) for text, channel, source in conn.execute(
            sa.text("SELECT text, channel, source FROM reports"))}


def test_0021_files_imports_under_one_neutral_channel_and_back(app_ctx):
    """Zendesk's and Jira's reports, and a third importer's filed as "api", become "import" with
    their source; an API token's own reports stay "api". The downgrade gives the old channels back."""
    db.session.remove()
    before = {"zendesk": ("zendesk", "zendesk"), "jira": ("jira", "jira"), "helpdesk": ("api", "helpdesk"),
              "token": ("api", "api-token-3"), "api": ("api", None), "web": ("web", None)}
    try:
        downgrade(revision="0020")
        with db.engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO reporters (id, kind, contact_ok, token, created_at, locale) "
                                 "VALUES (1, 'customer', false, 't', '2026-01-01', 'en')"))
            for n, (text, (channel, source)) in enumerate(before.items(), start=1):
                conn.execute(sa.text(
                    "INSERT INTO reports (id, text, channel, source, external_id, reporter_id, created_at, locale) "
                    "VALUES (:id, :text, :channel, :source, :external_id, 1, '2026-01-01', 'en')"),
                    {"id": n, "text": text, "channel": channel, "source": source,
                     "external_id": str(n) if source else None})
        upgrade(revision="0021")
        assert _channels() == {"zendesk": ("import", "zendesk"), "jira": ("import", "jira"),
                               "helpdesk": ("import", "helpdesk"), "token": ("api", "api-token-3"),
                               "api": ("api", None), "web": ("web", None)}
        with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as conn:  # the new CHECK holds
            conn.execute(sa.text("UPDATE reports SET channel = 'zendesk' WHERE text = 'zendesk'"))
        downgrade(revision="0020")
        assert _channels() == before
        with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as conn:  # and so does the old one
            conn.execute(sa.text("UPDATE reports SET channel = 'import' WHERE text = 'zendesk'"))
    finally:
        with db.engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM reports"))
            conn.execute(sa.text("DELETE FROM reporters"))
        upgrade()
    assert _revision() == _head()
