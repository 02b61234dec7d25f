"""Reports: one person's words, with the channel that brought them and, when imported,
their source and the remote ticket."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, case, func
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import check_in, utcnow

if TYPE_CHECKING:
    from app.models.people import Reporter, User
    from app.models.problems import Problem


class Channel(StrEnum):
    """How a report came in. The core names no plugin: an imported report has the channel
    ``IMPORT`` and its ``source`` (the ticket source's name), and is shown by that source's title."""

    WEB = "web"
    STAFF = "staff"
    API = "api"
    IMPORT = "import"


class Report(db.Model):
    """One person's report, in their own words."""

    __tablename__ = "reports"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        check_in("channel", Channel),
        Index("ix_reports_problem_created", "problem_id", "created_at"),
        # The dashboard's figures (migration 0005): people affected per problem, reports per channel.
        Index("ix_reports_problem_reporter", "problem_id", "reporter_id"),
        Index("ix_reports_channel_problem", "channel", "problem_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(String(200))
    occurred_on: Mapped[date | None]
    impact: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(20), default=Channel.WEB)
    source: Mapped[str | None] = mapped_column(String(50))
    external_id: Mapped[str | None] = mapped_column(String(200))
    external_url: Mapped[str | None] = mapped_column(String(500))
    # An imported ticket's last remote update, so an unchanged ticket is not rewritten.
    external_updated_at: Mapped[datetime | None]
    # The external id of the ticket this one was merged into remotely (it follows that one).
    merged_into: Mapped[str | None] = mapped_column(String(200))
    # How the report came to be in its problem, when not by starting it: "auto" (the
    # similarity engine, with its score), "chosen" (the person said "me too"),
    # "confirmed" (a leader confirmed a suggested duplicate), "moved" (a leader moved it).
    grouping: Mapped[str | None] = mapped_column(String(20))
    grouping_score: Mapped[float | None]
    # Set when the remote ticket was deleted: the text is gone, the count and history stay.
    removed_at: Mapped[datetime | None]
    # Why an imported ticket is no longer a report (it stopped matching the source's filter);
    # the report stays, with this note. None while it matches.
    import_note: Mapped[str | None] = mapped_column(String(500))
    # The remote ticket that groups this one (a Zendesk incident's problem ticket), and its address.
    linked_to: Mapped[str | None] = mapped_column(String(200))
    linked_url: Mapped[str | None] = mapped_column(String(500))
    # The language the report was filed in (the page's language; imports: the default).
    locale: Mapped[str] = mapped_column(String(16), default="en", server_default="en")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # None for a public report held for moderation (CARELOOP_MODERATE_PUBLIC) until a leader approves it.
    problem_id: Mapped[int | None] = mapped_column(ForeignKey("problems.id"))
    # "held" (waiting for a leader), "rejected" (spam: text and personal details removed), or None.
    moderation: Mapped[str | None] = mapped_column(String(20), index=True)
    reporter_id: Mapped[int] = mapped_column(ForeignKey("reporters.id"), index=True)
    filed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    # Staff filing for a customer: their own note, kept apart from the customer's words
    # (``text``), so it is never quoted back to the customer.
    staff_note: Mapped[str | None] = mapped_column(Text)

    problem: Mapped[Problem] = relationship(back_populates="reports")
    reporter: Mapped[Reporter] = relationship(back_populates="reports")
    filed_by: Mapped[User | None] = relationship()

    @hybrid_property
    def origin(self) -> str:
        """Where the report came from, as people tell channels apart: the channel ("web",
        "staff", "api"), or for an imported report its source's name ("zendesk"). Labelled by
        ``app.labels.channel_label``; in SQL too (``Report.origin``), to group and filter by it."""
        if self.channel == Channel.IMPORT:
            return self.source or Channel.IMPORT.value
        return self.channel

    @origin.inplace.expression
    @classmethod
    def _origin_expression(cls):
        return case((cls.channel == Channel.IMPORT.value, func.coalesce(cls.source, Channel.IMPORT.value)),
                    else_=cls.channel)

    def quote(self, limit: int = 300) -> str:
        """The person's words, trimmed at a word boundary to about ``limit`` characters."""
        text = " ".join(self.text.split())
        if len(text) <= limit:
            return text
        cut = text[:limit].rsplit(" ", 1)[0]
        return cut.rstrip(",.;:") + "…"
