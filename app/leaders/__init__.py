from flask import Blueprint

from app.services.people import fix_counts, still_happening_count

bp = Blueprint("leaders", __name__)
# "Did this fix it for you?" answers and still-happening flags, in every problem table.
bp.add_app_template_global(fix_counts, "fix_counts")
bp.add_app_template_global(still_happening_count, "still_happening_count")

from app.leaders import (
    moderation,  # noqa: E402,F401  (reports held for moderation)
    routes,  # noqa: E402,F401
)
