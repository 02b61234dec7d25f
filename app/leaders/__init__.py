from flask import Blueprint

bp = Blueprint("leaders", __name__)

from app.leaders import (
    journeys,  # noqa: E402,F401  (asking the owner, answering people, finding problems)
    moderation,  # noqa: E402,F401  (reports held for moderation)
    routes,  # noqa: E402,F401
)
