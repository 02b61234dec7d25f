from flask import Blueprint

bp = Blueprint("leaders", __name__)

from . import routes  # noqa: E402,F401
from . import moderation  # noqa: E402,F401  (reports held for moderation)
from . import journeys  # noqa: E402,F401  (asking the owner, answering people, finding problems)
