"""Careloop: turn "this isn't working" reports into system changes people can see."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from app.extensions import csrf, db, login_manager, migrate

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build an app: configuration, extensions, blueprints, errors and commands. Wiring only."""
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        instance_path=str(ROOT / "instance"),
    )
    app.config.from_object("config.Config")
    if config:
        app.config.update(config)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)

    from app import events

    events.init_app(app)  # the domain-event fan-out's listeners; SQLite pragmas on the engines

    from app import admin, api, auth, branding, dashboard, errors, health, i18n, labels, leaders, public, staff
    from app.plugins.manager import init_plugins
    from app.security import limits
    from app.templating import init_templating
    from app.webhooks import routes as hooks

    i18n.init_app(app)
    labels.init_app(app)
    init_plugins(app)
    # health: /healthz answers without the database, for load balancers.
    for module in (public, auth, staff, leaders, dashboard, admin, hooks, branding, health):
        app.register_blueprint(module.bp)
    api.init_app(app)  # /api/v1: JSON, bearer tokens, exempt from CSRF
    errors.init_app(app)
    limits.init_app(app)  # the client's address behind proxies; the 429 page
    init_templating(app)

    from app.cli import init_cli

    init_cli(app)
    return app
