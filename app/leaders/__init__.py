from flask import Blueprint

bp = Blueprint("leaders", __name__)

from app.leaders import (
    moderation,  # noqa: E402,F401  (reports held for moderation)
    routes,  # noqa: E402,F401
)
