"""Staff accounts."""

from __future__ import annotations

import secrets

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _
from flask_babel import ngettext

from app.events import record_event
from app.extensions import db
from app.models import OPEN_STATUSES, USER_CREATED, USER_UPDATED, Problem, Role, User
from app.services.errors import PermissionDenied, ServiceError
from app.services.reports import clean_text

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
        raise PermissionDenied(_("Only admins can create accounts."))
    name = clean_text(name, field="name", label=_("Name"), limit=120, required=True)
    email = _valid_email(email or "")
    if role not in set(Role):
        raise ServiceError(_("Role must be one of: %(roles)s.", roles=", ".join(Role)), field="role")
    if len(password or "") < MIN_PASSWORD:
        raise ServiceError(_("The password needs at least %(count)s characters.", count=MIN_PASSWORD),
                           field="password")
    if db.session.scalar(db.select(User.id).filter_by(email=email)) is not None:
        raise ServiceError(_("An account with that email already exists."), field="email")
    user = User(name=name, email=email, role=Role(role))
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    record_event(USER_CREATED, actor, subject_user=user, role=user.role)
    db.session.flush()
    return user


def update_user(user: User, actor: User, *, role: Role | str | None = None, active: bool | None = None) -> None:
    if not actor.is_admin:
        raise PermissionDenied(_("Only admins can change accounts."))
    if role is not None and role not in set(Role):
        raise ServiceError(_("Role must be one of: %(roles)s.", roles=", ".join(Role)), field="role")
    new_role = Role(role) if role is not None else Role(user.role)
    new_active = user.active if active is None else active
    if user.id == actor.id and (not new_active or new_role != Role.ADMIN):
        raise ServiceError(_("You cannot remove your own admin access; ask another admin."))
    if new_role == Role.STAFF and user.is_leader:
        owned = db.session.scalar(
            db.select(db.func.count(Problem.id)).where(
                Problem.owner_id == user.id, Problem.status.in_(OPEN_STATUSES)
            )
        )
        if owned:
            raise ServiceError(
                ngettext("%(name)s owns %(num)s open problem; hand it over first.",
                         "%(name)s owns %(num)s open problems; hand them over first.", owned, name=user.name),
                field="role",
            )
    before = {"role": user.role, "active": user.active}
    user.role, user.active = new_role, new_active
    after = {"role": user.role, "active": user.active}
    if before != after:
        record_event(USER_UPDATED, actor, subject_user=user, before=before, after=after)
    db.session.flush()


# --- Single sign-on (OpenID Connect) -------------------------------------------------

_ROLE_RANK = {Role.STAFF: 0, Role.LEADER: 1, Role.ADMIN: 2}


def role_from_claims(claims: dict, role_claim: str, role_map: dict[str, str]) -> Role:
    """The highest role that the claim's values map to (``staff`` when none does).

    The claim may be a list (``["careloop-leaders", "everyone"]``) or one string with
    values separated by spaces or commas.
    """
    values = claims.get(role_claim)
    if isinstance(values, str):
        values = values.replace(",", " ").split()
    elif not isinstance(values, (list, tuple)):
        values = []
    roles = [Role(role_map[v]) for v in values if isinstance(v, str) and role_map.get(v) in set(Role)]
    return max(roles, key=_ROLE_RANK.__getitem__, default=Role.STAFF)


def _claims_name(claims: dict, email: str) -> str:
    name = claims.get("name") or " ".join(
        part for part in (claims.get("given_name"), claims.get("family_name")) if isinstance(part, str)
    )
    name = " ".join(str(name or "").split())
    return (name or email.split("@", 1)[0])[:120]


def _is_true(value) -> bool:
    # Some providers send "true"/"false" as strings.
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _apply_role(user: User, role: Role) -> tuple[dict, dict] | None:
    """Set the role the provider gave; a leader who owns open problems keeps the leader role
    until they are handed over (as ``update_user`` insists). Returns the change, if any."""
    if Role(user.role) == role:
        return None
    if role == Role.STAFF and user.is_leader:
        owned = db.session.scalar(
            db.select(db.func.count(Problem.id)).where(
                Problem.owner_id == user.id, Problem.status.in_(OPEN_STATUSES)
            )
        )
        if owned:
            role = Role.LEADER
            if Role(user.role) == role:
                return None
    before = user.role
    user.role = role
    return {"role": before}, {"role": role}


def sign_in_with_provider(
    *,
    issuer: str,
    claims: dict,
    allowed_domains: list[str],
    role_claim: str | None = None,
    role_map: dict[str, str] | None = None,
) -> User:
    """The staff account for a verified ID token's ``claims``: found by the provider's
    subject, else linked by email to an existing account, else created.

    The caller has verified the token (signature, issuer, audience, expiry, nonce).
    Refuses, with ``PermissionDenied`` and a message for the person, an email that is
    missing, unverified or outside ``allowed_domains``, and deactivated accounts. With
    ``role_claim`` set, the role follows the claim on every sign-in (``staff`` when no
    value maps to a role). Writes ``user_created``/``user_updated`` events; flushes.
    """
    subject = str(claims.get("sub") or "").strip()
    if not subject:
        raise PermissionDenied(_("The sign-in service did not say who you are, so Careloop cannot sign you in."))
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise PermissionDenied(
            _("The sign-in service did not share your email address. Ask your IT team to allow the "
              "“email” scope for Careloop, then try again.")
        )
    if "email_verified" in claims and not _is_true(claims["email_verified"]):
        raise PermissionDenied(
            _("Your email address is not verified at the sign-in service. Verify it there, then try again.")
        )
    email = User.normalise_email(email)
    domain = email.rsplit("@", 1)[1]
    if domain not in {d.strip().lower() for d in allowed_domains if d.strip()}:
        raise PermissionDenied(
            _("Accounts from %(domain)s cannot sign in to Careloop. Sign in with your work account, "
              "or ask an admin to allow that domain.", domain=domain)
        )
    role = role_from_claims(claims, role_claim, role_map or {}) if role_claim else None

    user = db.session.scalar(db.select(User).filter_by(oidc_issuer=issuer, oidc_subject=subject))
    linked_now = False
    if user is None:
        user = db.session.scalar(db.select(User).filter_by(email=email))
        if user is not None and user.oidc_subject is not None:
            raise PermissionDenied(
                _("The Careloop account for %(email)s is already linked to another sign-in. Ask an admin.",
                  email=email)
            )
        linked_now = user is not None
    if user is None:
        user = User(name=_claims_name(claims, email), email=email, role=role or Role.STAFF,
                    oidc_issuer=issuer, oidc_subject=subject)
        user.set_password(secrets.token_urlsafe(32))  # nobody knows it: single sign-on only
        db.session.add(user)
        db.session.flush()
        record_event(USER_CREATED, user, subject_user=user, role=user.role, via="single sign-on")
        db.session.flush()
        return user
    if not user.active:
        raise PermissionDenied(
            _("Your Careloop account has been deactivated, so you cannot sign in. "
              "If you think that is a mistake, ask an admin to reactivate it.")
        )
    details: dict = {}
    if linked_now:
        user.oidc_issuer, user.oidc_subject = issuer, subject
        details["linked"] = issuer
    change = _apply_role(user, role) if role is not None else None
    if change:
        details["before"], details["after"] = change
    if details:
        record_event(USER_UPDATED, user, subject_user=user, via="single sign-on", **details)
    db.session.flush()
    return user
