"""The leaders' view: the dashboard, the backlog, each leader's page, and CSV exports."""

from flask import Blueprint

bp = Blueprint("dashboard", __name__)

from app.dashboard import routes  # noqa: E402,F401
