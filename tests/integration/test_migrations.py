"""The schema comes from the migrations, and the migrations match the models."""

from __future__ import annotations

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
