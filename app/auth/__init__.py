from flask import Blueprint

bp = Blueprint("auth", __name__)


@bp.record_once
def _remember_days(state) -> None:
    """"Keep me signed in" lasts ``CARELOOP_REMEMBER_DAYS`` (30 by default)."""
    from datetime import timedelta

    config = state.app.config
    config["REMEMBER_COOKIE_DURATION"] = timedelta(days=int(config.get("CARELOOP_REMEMBER_DAYS", 30)))

from app.auth import oidc, routes  # noqa: E402,F401
