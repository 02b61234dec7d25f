from datetime import timedelta

from app.auth import oidc, routes  # noqa: F401
from app.auth.blueprint import bp

__all__ = ["bp"]


@bp.record_once
def _remember_days(state) -> None:
    """"Keep me signed in" lasts ``CARELOOP_REMEMBER_DAYS`` (30 by default)."""
    config = state.app.config
    config["REMEMBER_COOKIE_DURATION"] = timedelta(days=int(config.get("CARELOOP_REMEMBER_DAYS", 30)))
