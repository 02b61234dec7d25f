
from app.auth import oidc, routes  # noqa: F401
from app.auth.blueprint import bp

__all__ = ["bp"]
