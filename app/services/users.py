"""Staff accounts."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from ..extensions import db
from ..models import OPEN_STATUSES, USER_CREATED, USER_UPDATED, Problem, Role, User
from . import PermissionDenied, ServiceError
from .audit import record
from .reports import clean_text

MIN_PASSWORD = 10


def _valid_email(email: str) -> str:
    try:
        return User.normalise_email(validate_email(email, check_deliverability=False).normalized)
    except EmailNotValidError as exc:
        raise ServiceError(str(exc), field="email") from exc


def create_user(
    *, name: str, email: str, role: Role | str, password: str, actor: User | None = None
) -> User:
    """Create a staff account. ``actor`` None means the command line (trusted)."""
    if actor is not None and not actor.is_admin:
        raise PermissionDenied("Only admins can create accounts.")
    name = clean_text(name, field="name", label="Name", limit=120, required=True)
    email = _valid_email(email or "")
    if role not in set(Role):
        raise ServiceError(f"Role must be one of: {', '.join(Role)}.", field="role")
    if len(password or "") < MIN_PASSWORD:
        raise ServiceError(f"The password needs at least {MIN_PASSWORD} characters.", field="password")
    if db.session.scalar(db.select(User.id).filter_by(email=email)) is not None:
        raise ServiceError("An account with that email already exists.", field="email")
    user = User(name=name, email=email, role=Role(role))
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    record(USER_CREATED, actor, subject_user=user, role=user.role)
    db.session.flush()
    return user


def update_user(user: User, actor: User, *, role: Role | str | None = None, active: bool | None = None) -> None:
    if not actor.is_admin:
        raise PermissionDenied("Only admins can change accounts.")
    if role is not None and role not in set(Role):
        raise ServiceError(f"Role must be one of: {', '.join(Role)}.", field="role")
    new_role = Role(role) if role is not None else Role(user.role)
    new_active = user.active if active is None else active
    if user.id == actor.id and (not new_active or new_role != Role.ADMIN):
        raise ServiceError("You cannot remove your own admin access; ask another admin.")
    if new_role == Role.STAFF and user.is_leader:
        owned = db.session.scalar(
            db.select(db.func.count(Problem.id)).where(
                Problem.owner_id == user.id, Problem.status.in_(OPEN_STATUSES)
            )
        )
        if owned:
            raise ServiceError(
                f"{user.name} owns {owned} open problem(s); hand them over first.", field="role"
            )
    before = {"role": user.role, "active": user.active}
    user.role, user.active = new_role, new_active
    after = {"role": user.role, "active": user.active}
    if before != after:
        record(USER_UPDATED, actor, subject_user=user, before=before, after=after)
    db.session.flush()
