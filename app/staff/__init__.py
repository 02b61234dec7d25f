
from app.staff import routes  # noqa: F401
from app.staff.blueprint import bp

__all__ = ["bp"]
