from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")

from app.admin import (
    api_tokens,  # noqa: E402,F401  (tokens for the JSON API: /admin/api-tokens)
    invitations,  # noqa: E402,F401  (inviting people by email: /admin/invitations/<token>)
    locks,  # noqa: E402,F401  (accounts locked after failed sign-ins)
    routes,  # noqa: E402,F401
    webhooks,  # noqa: E402,F401  (outgoing webhooks: /admin/webhooks)
)
