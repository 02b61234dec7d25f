"""Operations that change Careloop's state, shared by views, the CLI, the API and importers.

The transaction rule: a service checks permissions and input, changes rows,
adds its audit ``Event`` to the session and flushes; it never commits. The
caller (a request, a CLI command, an import page) commits once, so the change
and its audit event land together or not at all.

A service raises ``ServiceError`` (or its subclasses ``PermissionDenied`` and ``NotFound``,
all in ``app/services/errors.py``) with a message a person understands; ``field`` names the
form field it belongs to. Who may do what is checked in ``app/services/permissions.py``.

Import operations from their modules (``from app.services.problems import assign_owner``).
For views and tests that read better as ``services.assign_owner(...)``, the common ones are
also attributes of this package, loaded when first used, so importing the package runs
nothing and makes no import cycle.
"""

from __future__ import annotations

from importlib import import_module

_OPERATIONS = {
    "app.services.errors": ("NotFound", "PermissionDenied", "ServiceError"),
    "app.services.permissions": ("require_leader", "require_owner_or_admin"),
    "app.services.problems": ("add_comment", "assign_owner", "change_description_problems", "decline",
                              "edit_problem", "publish", "record_change", "reopen", "start_work", "unpublish"),
    "app.services.reports": ("file_report", "move_report", "new_reporter", "reporter_for_user"),
    "app.services.users": ("create_user", "update_user"),
}
_HOME = {name: module for module, names in _OPERATIONS.items() for name in names}
__all__ = sorted(_HOME)


def __getattr__(name: str):
    if name in _HOME:
        return getattr(import_module(_HOME[name]), name)
    try:  # submodules as attributes (services.grouping), as a package's own would be
        return import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as error:
        if error.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
