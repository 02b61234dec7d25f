from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")

from . import routes  # noqa: E402,F401
from . import webhooks  # noqa: E402,F401  (outgoing webhooks: /admin/webhooks)
from . import locks  # noqa: E402,F401  (accounts locked after failed sign-ins)
from . import api_tokens  # noqa: E402,F401  (tokens for the JSON API: /admin/api-tokens)
from . import invitations  # noqa: E402,F401  (inviting people by email: /admin/invitations/<token>)
