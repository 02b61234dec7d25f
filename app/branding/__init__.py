"""The organisation's look: its theme stylesheet and logo, served from the database.

The admin page is ``/admin/branding`` (``branding.edit``); the rules live in
``app/services/branding.py`` and the colour maths in ``app/colour.py``.
"""


from app.branding import routes  # noqa: F401
from app.branding.blueprint import bp

__all__ = ["bp"]
