"""Careloop: turn "this isn't working" reports into system changes people can see."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build an app: configuration, extensions, blueprints, errors and commands. Wiring only.

    Everything is imported here, not at the top, so that ``import app.plugin_api`` (what a
    plugin does) loads neither the database nor the rest of the app.
    """
    from app import (
        admin,
        api,
        auth,
        branding,
        dashboard,
        errors,
        events,
        health,
        i18n,
        labels,
        leaders,
        public,
        staff,
        urls,
    )
    from app.cli import init_cli
    from app.extensions import csrf, db, init_db, login_manager, migrate
    from app.plugins.manager import init_plugins
    from app.security import headers, limits, proxy
    from app.templating import init_templating
    from app.webhooks import routes as hooks

    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        instance_path=str(ROOT / "instance"),
    )
    app.config.from_object("config.Config")
    if config:
        app.config.update(config)

    init_db(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)

    events.init_app(app)  # the domain-event fan-out's listeners, on this app's session
    i18n.init_app(app)
    labels.init_app(app)
    init_plugins(app)
    # health: /healthz answers without the database, for load balancers.
    for module in (public, auth, staff, leaders, dashboard, admin, hooks, branding, health):
        app.register_blueprint(module.bp)
    api.init_app(app)  # /api/v1: JSON, bearer tokens, exempt from CSRF
    errors.init_app(app)
    limits.init_app(app)  # the 429 page
    proxy.init_app(app)  # the client's address behind proxies
    headers.init_app(app)  # CSP and the other security headers on every response
    init_templating(app)
    urls.init_app(app)  # external_url() in templates: links that leave the app
    init_cli(app)
    return app
