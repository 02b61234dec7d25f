"""The leaders' view: the dashboard, the backlog, each leader's page, and CSV exports."""

from flask import Blueprint

bp = Blueprint("dashboard", __name__)

from . import routes  # noqa: E402,F401
