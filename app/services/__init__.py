"""Operations that change Careloop's state, shared by views, the CLI, the API and importers.

The transaction rule: a service checks permissions and input, changes rows,
adds its audit ``Event`` to the session and flushes; it never commits. The
caller (a request, a CLI command, an import page) commits once, so the change
and its audit event land together or not at all.

A service raises ``ServiceError`` (or its subclasses ``PermissionDenied`` and ``NotFound``,
all in ``app/services/errors.py``) with a message a person understands; ``field`` names the
form field it belongs to. Who may do what is checked in ``app/services/permissions.py``.
"""

from __future__ import annotations

from app.services.errors import NotFound, PermissionDenied, ServiceError
from app.services.permissions import require_leader, require_owner_or_admin
from app.services.problems import (
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
from app.services.reports import file_report, move_report, new_reporter, reporter_for_user
from app.services.users import create_user, update_user

__all__ = [
    "require_leader",
    "require_owner_or_admin",
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
