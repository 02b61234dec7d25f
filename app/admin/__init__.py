
from app.admin import (
    api_tokens,  # noqa: F401  (tokens for the JSON API: /admin/api-tokens)
    invitations,  # noqa: F401  (inviting people by email: /admin/invitations/<token>)
    locks,  # noqa: F401  (accounts locked after failed sign-ins)
    routes,  # noqa: F401
    webhooks,  # noqa: F401  (outgoing webhooks: /admin/webhooks)
)
from app.admin.blueprint import bp

__all__ = ["bp"]
