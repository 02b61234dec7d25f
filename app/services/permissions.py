"""Who may act: the checks services make before they change anything."""

from __future__ import annotations

from flask_babel import gettext as _

from app.services.errors import PermissionDenied


def require_leader(actor, message: str | None = None) -> None:
    if not actor.is_leader:
        raise PermissionDenied(message or _("Only leaders and admins can do that."))


def require_owner_or_admin(problem, actor, message: str | None = None) -> None:
    if not (actor.is_admin or (problem.owner_id is not None and problem.owner_id == actor.id)):
        raise PermissionDenied(message or _("Only the problem's owner or an admin can do that."))
