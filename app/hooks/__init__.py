"""Incoming webhooks from ticket sources (``POST /hooks/<source>``)."""

from flask import Blueprint

bp = Blueprint("hooks", __name__, url_prefix="/hooks")

from . import routes  # noqa: E402,F401
