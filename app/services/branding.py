"""The organisation's look: name, welcome text, colours and logo, set by an admin.

Stored in the one-row ``branding`` table, so every app process shows the same look. Each
process keeps what it read for ``CARELOOP_BRANDING_CACHE_SECONDS`` (5 by default) and
forgets it at once after its own save, so every gunicorn worker shows a change within
seconds without a query on every page.

Colours must stay readable whatever an admin picks: the primary colour carries white text
(the header and main buttons), the accent colour is the text of links and outlined buttons
on the page's light backgrounds. Each must reach WCAG AA (4.5:1) or it is refused with the
measured ratio and the nearest shade that passes (``app/colour.py``).
"""

from __future__ import annotations

import hashlib
import io
import math
import time
from dataclasses import dataclass, field

from flask import current_app, has_app_context
from flask_babel import gettext as _
from sqlalchemy.exc import SQLAlchemyError

from app import colour
from app.events import record_event
from app.extensions import db
from app.models import BRANDING_CHANGED, Branding, User, utcnow
from app.services.errors import PermissionDenied, ServiceError

ORG_NAME_MAX = 120
WELCOME_MAX = 1000
# White text sits on the primary colour (the header and main buttons).
PRIMARY_TEXT = ("#ffffff",)
# The accent colour is text on these: cards, the page, tinted panels and a button's hover.
ACCENT_BACKGROUNDS = ("#ffffff", "#f6f7f9", "#f3f7fb", "#eaf2fb")
# Hover shades: darker, so they only gain contrast with white and with light backgrounds.
HOVER_DARKER = -0.08
LOGO_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
_CACHE_KEY = "careloop_branding"


@dataclass(frozen=True)
class Look:
    """What pages and messages need of the branding row (no logo bytes)."""

    org_name: str
    custom_org_name: str | None = None
    welcome_text: str | None = None
    primary_colour: str | None = None
    accent_colour: str | None = None
    logo_type: str | None = None
    logo_width: int | None = None
    logo_height: int | None = None
    logo_sha256: str | None = None
    version: int = 0

    @property
    def has_logo(self) -> bool:
        return self.logo_sha256 is not None

    @property
    def logo_version(self) -> str | None:
        return self.logo_sha256[:16] if self.logo_sha256 else None

    @property
    def has_theme(self) -> bool:
        return bool(self.primary_colour or self.accent_colour)

    @property
    def welcome_paragraphs(self) -> list[str]:
        text = (self.welcome_text or "").replace("\r\n", "\n")
        return [p.strip() for p in text.split("\n\n") if p.strip()]

    def logo_url(self, base_url: str) -> str | None:
        """The logo's absolute address (for emails), versioned so a new logo is fetched anew."""
        return f"{base_url.rstrip('/')}/branding/logo?v={self.logo_version}" if self.has_logo else None


def _look_from(row: Branding | None) -> Look:
    default_name = current_app.config["CARELOOP_ORG_NAME"]
    if row is None:
        return Look(org_name=default_name)
    return Look(
        org_name=row.org_name or default_name,
        custom_org_name=row.org_name,
        welcome_text=row.welcome_text,
        primary_colour=row.primary_colour,
        accent_colour=row.accent_colour,
        logo_type=row.logo_type,
        logo_width=row.logo_width,
        logo_height=row.logo_height,
        logo_sha256=row.logo_sha256,
        version=row.version,
    )


def current_branding() -> Look:
    """The look now, from this process's short cache or the database."""
    if not has_app_context():
        raise RuntimeError("current_branding() needs an application context")
    app = current_app._get_current_object()
    ttl = app.config.get("CARELOOP_BRANDING_CACHE_SECONDS", 5)
    cached = app.extensions.get(_CACHE_KEY)
    now = time.monotonic()
    if cached is not None and ttl > 0 and now - cached[0] < ttl:
        return cached[1]
    try:
        look = _look_from(db.session.get(Branding, 1))
    except SQLAlchemyError:
        # A page about a database failure still renders, with the configured name.
        return Look(org_name=app.config["CARELOOP_ORG_NAME"])
    app.extensions[_CACHE_KEY] = (now, look)
    return look


def forget_cached_branding() -> None:
    """Drop this process's copy (after a save, and in tests); the next read queries again."""
    current_app.extensions.pop(_CACHE_KEY, None)


def org_name() -> str:
    return current_branding().org_name


# --- the theme stylesheet ------------------------------------------------------------------


def theme_css(look: Look) -> str:
    """CSS custom properties overriding those of app/static/careloop.css."""
    lines = [f"/* {look.org_name}: colours set by an admin at /admin/branding (version {look.version}). */", ":root {"]
    if look.primary_colour:
        lines += [
            f"  --header-bg: {look.primary_colour};",
            f"  --primary: {look.primary_colour};",
            f"  --primary-dark: {colour.shade(look.primary_colour, HOVER_DARKER)};",
        ]
    if look.accent_colour:
        lines += [
            f"  --brand: {look.accent_colour};",
            f"  --brand-dark: {colour.shade(look.accent_colour, HOVER_DARKER)};",
        ]
    lines.append("}")
    return "\n".join(lines) + "\n"


def logo_file() -> tuple[bytes, str, str] | None:
    """The logo's bytes, content type and SHA-256, or None when there is none."""
    row = db.session.execute(
        db.select(Branding.logo, Branding.logo_type, Branding.logo_sha256).where(Branding.id == 1)
    ).first()
    if row is None or row.logo is None:
        return None
    return bytes(row.logo), row.logo_type, row.logo_sha256


# --- checking what an admin gives ----------------------------------------------------------


@dataclass
class FieldRefusal:
    field: str
    message: str
    suggestion: str | None = None  # a colour that passes, offered with one click


class BrandingRefused(ServiceError):
    """One or more fields refused; ``problems`` says which and why (nothing was saved)."""

    def __init__(self, problems: list[FieldRefusal]):
        super().__init__(" ".join(p.message for p in problems), problems[0].field)
        self.problems = problems


def ratio_text(ratio: float) -> str:
    """Rounded down, so a ratio that fails never reads as 4.50:1."""
    return f"{math.floor(ratio * 100) / 100:.2f}:1"


def check_colour(value: str | None, field_name: str) -> tuple[str | None, FieldRefusal | None]:
    """The colour normalised (``#rrggbb``, or None for "the default") or the problem with it."""
    value = (value or "").strip()
    if not value:
        return None, None
    try:
        hex_value = colour.normalise_hex(value)
    except ValueError:
        return None, FieldRefusal(field_name, _("Give a colour as # and six hex digits, for example #0b5cad."))
    if field_name == "primary_colour":
        ratio, _against = colour.worst_contrast(hex_value, PRIMARY_TEXT)
        if ratio < colour.AA_NORMAL_TEXT:
            suggestion = colour.nearest_passing_shade(hex_value, PRIMARY_TEXT)
            return hex_value, FieldRefusal(field_name, _(
                "White text on %(colour)s (the header and main buttons) has a contrast of only %(ratio)s; "
                "at least 4.5:1 is needed so everyone can read it. The nearest shade that passes is %(suggestion)s.",
                colour=hex_value, ratio=ratio_text(ratio), suggestion=suggestion), suggestion)
    else:
        ratio, against = colour.worst_contrast(hex_value, ACCENT_BACKGROUNDS)
        if ratio < colour.AA_NORMAL_TEXT:
            suggestion = colour.nearest_passing_shade(hex_value, ACCENT_BACKGROUNDS)
            return hex_value, FieldRefusal(field_name, _(
                "Links in %(colour)s have a contrast of only %(ratio)s on the page's light backgrounds "
                "(on %(background)s); at least 4.5:1 is needed so everyone can read them. "
                "The nearest shade that passes is %(suggestion)s.",
                colour=hex_value, ratio=ratio_text(ratio), background=against, suggestion=suggestion), suggestion)
    return hex_value, None


@dataclass(frozen=True)
class LogoInfo:
    content_type: str
    width: int
    height: int


def check_logo(data: bytes, *, max_bytes: int, max_side: int) -> LogoInfo:
    """Judge an upload by its content, never its name: PNG, JPEG or WebP only (an SVG can
    carry scripts), at most ``max_bytes`` and ``max_side`` pixels a side, and it must decode."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise ServiceError(_("That file is empty."), "logo")
    if len(data) > max_bytes:
        raise ServiceError(_(
            "That logo is larger than %(max)s KB, the most we take. Save it smaller and try again.",
            max=max_bytes // 1024), "logo")
    refused = _("That file is not a PNG, JPEG or WebP image. Logos must be one of those (SVG is not accepted).")
    try:
        with Image.open(io.BytesIO(data), formats=list(LOGO_TYPES)) as image:
            kind, (width, height) = image.format, image.size
            if width > max_side or height > max_side:
                raise ServiceError(_(
                    "That logo is %(width)s × %(height)s pixels; the most we take is %(max)s pixels a side.",
                    width=width, height=height, max=max_side), "logo")
            image.load()  # decode it all: a truncated or disguised file fails here
    except ServiceError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise ServiceError(refused, "logo") from None
    if kind not in LOGO_TYPES:
        raise ServiceError(refused, "logo")
    return LogoInfo(LOGO_TYPES[kind], width, height)


# --- saving ---------------------------------------------------------------------------------


@dataclass
class BrandingResult:
    branding: Branding
    changed: list[str] = field(default_factory=list)


def update_branding(
    actor: User,
    *,
    org_name: str | None,
    welcome_text: str | None,
    primary_colour: str | None,
    accent_colour: str | None,
    logo: bytes | None = None,
    remove_logo: bool = False,
) -> BrandingResult:
    """Check and save the look (the caller commits, then calls ``forget_cached_branding``).

    Empty values go back to the default. Raises ``BrandingRefused`` listing every field
    refused, so the form can show each message next to its field; nothing is saved then.
    """
    if not actor.is_admin:
        raise PermissionDenied(_("Only admins can change the organisation's look."))
    problems: list[FieldRefusal] = []
    name = " ".join((org_name or "").split()) or None
    if name and len(name) > ORG_NAME_MAX:
        problems.append(FieldRefusal("org_name", _("Keep the name to %(max)s characters.", max=ORG_NAME_MAX)))
    welcome = (welcome_text or "").replace("\r\n", "\n").strip() or None
    if welcome and len(welcome) > WELCOME_MAX:
        problems.append(FieldRefusal("welcome_text", _(
            "The welcome text is %(length)s characters; keep it to %(max)s.", length=len(welcome), max=WELCOME_MAX)))
    primary, problem = check_colour(primary_colour, "primary_colour")
    problems += [problem] if problem else []
    accent, problem = check_colour(accent_colour, "accent_colour")
    problems += [problem] if problem else []
    info = None
    if logo is not None and not remove_logo:
        try:
            info = check_logo(logo, max_bytes=current_app.config["CARELOOP_LOGO_MAX_BYTES"],
                              max_side=current_app.config["CARELOOP_LOGO_MAX_SIDE"])
        except ServiceError as error:
            problems.append(FieldRefusal("logo", error.message))
    if problems:
        raise BrandingRefused(problems)

    row = db.session.get(Branding, 1)
    if row is None:
        row = Branding(id=1, version=0)
        db.session.add(row)
    details: dict[str, object] = {}
    for attr, new in (("org_name", name), ("primary_colour", primary), ("accent_colour", accent)):
        old = getattr(row, attr)
        if old != new:
            details[attr] = {"from": old, "to": new}
            setattr(row, attr, new)
    if row.welcome_text != welcome:
        details["welcome_text"] = "changed" if welcome else "removed"
        row.welcome_text = welcome
    if remove_logo and row.logo_sha256:
        details["logo"] = "removed"
        row.logo = row.logo_type = row.logo_width = row.logo_height = row.logo_sha256 = None
    elif info is not None:
        digest = hashlib.sha256(logo).hexdigest()
        if digest != row.logo_sha256:
            details["logo"] = "replaced" if row.logo_sha256 else "added"
            details["logo_type"] = info.content_type
            row.logo, row.logo_type, row.logo_sha256 = logo, info.content_type, digest
            row.logo_width, row.logo_height = info.width, info.height
    if details:
        row.version = (row.version or 0) + 1
        row.updated_at = utcnow()
        row.updated_by_id = actor.id
        changed = sorted(k for k in details if k != "logo_type")
        record_event(BRANDING_CHANGED, actor, changed=changed, **details)
    db.session.flush()
    return BrandingResult(row, sorted(k for k in details if k != "logo_type"))
