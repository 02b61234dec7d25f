"""The leaders' view: the dashboard, the backlog, each leader's page, and CSV exports."""


from app.dashboard import routes  # noqa: F401
from app.dashboard.blueprint import bp

__all__ = ["bp"]
