"""Small helpers that views share: role checks and running a service for a form."""

from __future__ import annotations

from functools import wraps
from typing import Callable
from urllib.parse import urlsplit

from flask import abort
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf import FlaskForm

from app.extensions import db
from app.services.errors import NotFound, PermissionDenied, ServiceError


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


def run_service(
    form: FlaskForm, action: Callable[[], object], fields: dict[str, str] | None = None
) -> bool:
    """Run one service and commit; on a domain error roll back and show it on the form.

    ``fields`` maps a service's field names to this form's where they differ.
    Returns True when the change was saved. Nothing is partly saved either way.
    """
    try:
        action()
        db.session.commit()
        return True
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
        return False


def is_safe_next(target: str | None) -> bool:
    """Only follow a ?next= that stays on this site (no scheme, host or //)."""
    if not target:
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//") and "\\" not in target


def chosen_problem(form, *, staff: bool):
    """The "Is it one of these?" step shared by the filing forms.

    Returns (problem the person chose or None, suggestions to offer first). Suggestions
    are offered once, when the person has not seen them yet (without JavaScript they
    see them as a confirmation step; the script marks them seen while typing).
    """
    from app.models import Problem
    from app.services.grouping import suggestions, visible_open_problem_ids

    choice = (form.problem_choice.data or "").strip()
    if choice.isdigit():
        if int(choice) not in visible_open_problem_ids(staff=staff):
            form.problem_choice.errors = [_("That problem cannot be chosen; pick another or file as new.")]
            return None, suggestions(form.text.data, staff=staff)
        return db.session.get(Problem, int(choice)), []
    if choice == "new" or form.suggestions_seen.data:
        return None, []
    return None, suggestions(form.text.data, staff=staff)
