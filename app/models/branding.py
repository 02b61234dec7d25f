"""The organisation's look (at most one row)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import utcnow

BRANDING_CHANGED = "branding_changed"


class Branding(db.Model):
    """The organisation's look, set by an admin at /admin/branding: at most one row (id 1).

    Empty columns mean "the default" (``CARELOOP_ORG_NAME``, the stylesheet's colours, no logo).
    ``version`` grows with every save; pages link the theme stylesheet and logo by it."""

    __tablename__ = "branding"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False, default=1)
    org_name: Mapped[str | None] = mapped_column(String(120))
    welcome_text: Mapped[str | None] = mapped_column(Text)
    primary_colour: Mapped[str | None] = mapped_column(String(7))  # header and main buttons, white text on it
    accent_colour: Mapped[str | None] = mapped_column(String(7))  # links, on the page background
    logo: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    logo_type: Mapped[str | None] = mapped_column(String(20))  # image/png, image/jpeg or image/webp
    logo_width: Mapped[int | None]
    logo_height: Mapped[int | None]
    logo_sha256: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
