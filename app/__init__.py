"""Careloop: turn "this isn't working" reports into system changes people can see."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """A top-level folder of the project (``templates``, ``migrations``): in the checkout, or
    bundled into the package by the wheel build (setup.py copies it to ``app/_bundled``)."""
    bundled = HERE / "_bundled" / name
    return bundled if bundled.exists() else ROOT / name


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build an app: configuration, extensions, blueprints, errors and commands. Wiring only.

    A bad setting raises ``config.SettingError`` (one line naming the variable, its value and
    what is allowed) before anything else happens. Everything is imported here, not at the
    top, so that ``import app.plugin_api`` (what a plugin does) loads neither the database
    nor the rest of the app.
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
        observability,
        pagecache,
        public,
        staff,
        urls,
    )
    from app.cli import init_cli
    from app.extensions import csrf, db, init_db, login_manager, migrate
    from app.plugins.manager import check_wanted_plugins, init_plugins
    from app.security import headers, limits, proxy
    from app.templating import init_templating
    from app.webhooks import routes as hooks
    from config import check_settings

    app = Flask(__name__, template_folder=str(resource_dir("templates")),
                instance_path=str(Path(os.environ.get("CARELOOP_INSTANCE_PATH") or "instance").resolve()))
    app.config.from_object("config.Config")
    if config:
        app.config.update(config)
    check_settings(app.config)
    check_wanted_plugins(app.config)
    _instance_defaults(app)

    observability.init_logging(app)
    init_db(app)
    migrate.init_app(app, db, directory=str(resource_dir("migrations")))
    login_manager.init_app(app)
    csrf.init_app(app)
    events.init_app(app)  # the domain-event fan-out's listeners, on this app's session

    i18n.init_app(app)
    labels.init_app(app)
    init_plugins(app)
    # health: /healthz answers without the database, for load balancers; /readyz checks it.
    for module in (public, auth, staff, leaders, dashboard, admin, hooks, branding, health):
        app.register_blueprint(module.bp)
    api.init_app(app)  # /api/v1: JSON, bearer tokens, exempt from CSRF
    errors.init_app(app)
    limits.init_app(app)  # the 429 page
    proxy.init_app(app)  # the client's address behind proxies
    headers.init_app(app)  # CSP and the other security headers on every response
    init_templating(app)
    urls.init_app(app)  # external_url() in templates: links that leave the app
    observability.init_app(app)  # request ids, access metrics, /metrics
    pagecache.init_app(app)  # validators and a render cache for anonymous public pages
    init_cli(app)
    return app


def _instance_defaults(app: Flask) -> None:
    """Where no secret key or database is configured, keep them in the instance folder
    (``CARELOOP_INSTANCE_PATH``, ``./instance`` by default), created here and never at import.

    A fixed key in the code would let anyone forge sessions; a key generated per process
    would log everyone out on restart and break several workers: so one is generated once.
    """
    instance = Path(app.config["CARELOOP_INSTANCE_PATH"]).resolve()
    app.instance_path = str(instance)
    if app.config.get("SECRET_KEY") and app.config.get("SQLALCHEMY_DATABASE_URI"):
        return
    instance.mkdir(parents=True, exist_ok=True)
    if not app.config.get("SECRET_KEY"):
        path = instance / "secret_key"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        app.config["SECRET_KEY"] = path.read_text().strip()
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{instance / 'careloop.sqlite'}"
