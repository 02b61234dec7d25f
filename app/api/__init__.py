"""The JSON API, ``/api/v1/``: problems, their history and reports, for integrations.

Callers authenticate with ``Authorization: Bearer <token>`` (tokens are made by admins:
``/admin/api-tokens`` or ``careloop api-tokens create``). The session cookie is never
read here, so CSRF cannot apply and the blueprint is exempt from it. Without a token a
caller sees what the public pages show and may file a report like the public form.
The OpenAPI document is served at ``/api/v1/openapi.json`` (built in ``openapi.py``).
"""

from __future__ import annotations

from flask import Blueprint, Flask
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from app.api import (  # noqa: F401  (their views and hooks register on bp)
    auth,
    hostile,  # noqa: E402,F401  (hostile input: JSON 4xx before any view runs)
    routes,
)
from app.api.errors import handle_database_unavailable, handle_http_exception

bp.register_error_handler(HTTPException, handle_http_exception)
bp.register_error_handler(DBAPIError, handle_database_unavailable)


def init_app(app: Flask) -> None:
    from app.extensions import csrf

    csrf.exempt(bp)
    app.register_blueprint(bp)
