"""Operations that change Careloop's state, shared by views, the CLI, the API and importers.

The transaction rule: a service checks permissions and input, changes rows,
adds its audit ``Event`` to the session and flushes; it never commits. The
caller (a request, a CLI command, an import page) commits once, so the change
and its audit event land together or not at all.

A service raises ``ServiceError`` (or its subclass ``PermissionDenied``) with a
message a person understands; ``field`` names the form field it belongs to.
"""

from __future__ import annotations

from flask_babel import gettext as _


class ServiceError(Exception):
    def __init__(self, message: str, field: str | None = None):
        message = str(message)  # a lazy translation is fixed in the language of the moment
        super().__init__(message)
        self.message = message
        self.field = field


class PermissionDenied(ServiceError):
    pass


class NotFound(ServiceError):
    pass


def require_leader(actor, message: str | None = None) -> None:
    if not actor.is_leader:
        raise PermissionDenied(message or _("Only leaders and admins can do that."))


def require_owner_or_admin(problem, actor, message: str | None = None) -> None:
    if not (actor.is_admin or (problem.owner_id is not None and problem.owner_id == actor.id)):
        raise PermissionDenied(message or _("Only the problem's owner or an admin can do that."))


from app.services.problems import (  # noqa: E402
    add_comment,
    assign_owner,
    change_description_problems,
    decline,
    edit_problem,
    publish,
    record_change,
    reopen,
    start_work,
    unpublish,
)
from app.services.reports import file_report, move_report, new_reporter, reporter_for_user  # noqa: E402
from app.services.users import create_user, update_user  # noqa: E402

__all__ = [
    "NotFound",
    "PermissionDenied",
    "ServiceError",
    "add_comment",
    "assign_owner",
    "change_description_problems",
    "create_user",
    "decline",
    "edit_problem",
    "file_report",
    "move_report",
    "new_reporter",
    "publish",
    "record_change",
    "reopen",
    "reporter_for_user",
    "start_work",
    "unpublish",
    "update_user",
]
