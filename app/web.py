"""Small helpers that views share: role checks and running a service for a form."""

from __future__ import annotations

from functools import wraps
from typing import Callable, TypeVar
from urllib.parse import urlsplit

from flask import abort
from flask_login import current_user, login_required
from flask_wtf import FlaskForm

from app.extensions import db
from app.services.errors import NotFound, PermissionDenied, ServiceError

T = TypeVar("T")


def leader_required(view: Callable) -> Callable:
    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not current_user.is_leader:
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def admin_required(view: Callable) -> Callable:
    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def run_service(form: FlaskForm, action: Callable[[], T], fields: dict[str, str] | None = None) -> T | None:
    """Run one service and commit; on a domain error roll back and show it on the form.

    ``fields`` maps a service's field names to this form's where they differ.
    Returns the action's value when the change was saved (True when the action returns
    nothing), or None when it was not. Nothing is partly saved either way.
    """
    try:
        value = action()
        db.session.commit()
        return True if value is None else value
    except PermissionDenied:
        db.session.rollback()
        abort(403)
    except NotFound:
        db.session.rollback()
        abort(404)
    except ServiceError as error:
        db.session.rollback()
        name = (fields or {}).get(error.field, error.field)
        field = form._fields.get(name) if name else None
        if field is not None:
            field.errors = [*field.errors, error.message]
        else:
            form.form_errors.append(error.message)
        return None


def is_safe_next(target: str | None) -> bool:
    """Only follow a ?next= that stays on this site (no scheme, host or //)."""
    if not target:
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//") and "\\" not in target
