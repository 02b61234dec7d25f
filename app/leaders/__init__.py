
from app.leaders import (
    moderation,  # noqa: F401  (reports held for moderation)
    routes,  # noqa: F401
)
from app.leaders.blueprint import bp

__all__ = ["bp"]
