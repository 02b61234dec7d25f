"""The organisation's look: its theme stylesheet and logo, served from the database.

The admin page is ``/admin/branding`` (``branding.edit``); the rules live in
``app/services/branding.py`` and the colour maths in ``app/colour.py``.
"""

from flask import Blueprint

bp = Blueprint("branding", __name__)

from app.branding import routes  # noqa: E402,F401
