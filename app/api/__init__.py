"""The JSON API, ``/api/v1/``: problems, their history and reports, for integrations.

Callers authenticate with ``Authorization: Bearer <token>`` (tokens are made by admins:
``/admin/api-tokens`` or ``careloop api-tokens create``). The session cookie is never
read here, so CSRF cannot apply and the blueprint is exempt from it. Without a token a
caller sees what the public pages show and may file a report like the public form.
The OpenAPI document is served at ``/api/v1/openapi.json`` (built in ``openapi.py``).
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from app.api import (  # noqa: F401  (their views and hooks register on bp)
    auth,
    hostile,  # hostile input: JSON 4xx before any view runs
    routes,
)
from app.api.blueprint import bp
from app.extensions import csrf

__all__ = ["bp"]
from app.api.errors import handle_database_unavailable, handle_http_exception

bp.register_error_handler(HTTPException, handle_http_exception)
bp.register_error_handler(DBAPIError, handle_database_unavailable)


def init_app(app: Flask) -> None:

    csrf.exempt(bp)
    app.register_blueprint(bp)
