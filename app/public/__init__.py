
from app.public import routes  # noqa: F401
from app.public.blueprint import bp

__all__ = ["bp"]
