from app.leaders import (
    journeys,  # noqa: F401  (asking the owner, answering people, finding problems)
    moderation,  # noqa: F401  (reports held for moderation)
    routes,  # noqa: F401
)
from app.leaders.blueprint import bp
from app.services.people import fix_counts, still_happening_count

__all__ = ["bp"]

# "Did this fix it for you?" answers and still-happening flags, in every problem table.
bp.add_app_template_global(fix_counts, "fix_counts")
bp.add_app_template_global(still_happening_count, "still_happening_count")
