"""The mail outbox: every message to a person, written with the event that causes it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import check_in, utcnow

if TYPE_CHECKING:
    from app.models.people import Reporter, User
    from app.models.problems import Problem


class MessageKind(StrEnum):
    OWNED = "owned"  # the problem got its first owner
    CHANGED = "changed"  # the change was published
    DECLINED = "declined"
    MOVED = "moved"  # their report moved to another problem by a merge
    STAFF_COPY = "staff_copy"  # to staff who filed for a customer
    OWNER_FLAG = "owner_flag"  # to the owner: "this is still happening"
    WRITE_BACK = "write_back"  # a public reply on an imported ticket
    DIGEST = "digest"  # a leader's weekly digest
    WORK_DONE = "work_done"  # to the owner: the linked work is done, record the change
    RECEIPT = "receipt"  # "we have your report": their words, their private link, the owner once there is one
    LINK_AGAIN = "link_again"  # their private link again, asked for by email address
    TOLD_IN_PERSON = "told_in_person"  # a record, never sent: staff told a person without email
    ANSWER = "answer"  # the owner writes to one reporter, quoting their words
    OWNERSHIP = "ownership"  # to a leader: asked about, offered or answered about ownership
    INVITATION = "invitation"  # to a new user: a one-time link to set a password


class MessageStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"  # gave up after MAX_ATTEMPTS, or a permanent refusal
    BOUNCED = "bounced"  # the receiving server refused the address
    UNREACHABLE = "unreachable"  # a leader marked the person unreachable (with a reason)


CLOSING_KINDS = (MessageKind.CHANGED, MessageKind.DECLINED)


class Message(db.Model):
    """The outbox: written in the same transaction as the event that causes it, sent
    later by ``careloop send-mail``. Bodies are rendered when written, so this is also
    the record of what each person received."""

    __tablename__ = "messages"
    __table_args__ = (
        check_in("kind", MessageKind),
        check_in("status", MessageStatus),
        Index("ix_messages_due", "status", "next_attempt_at"),
        Index("ix_messages_problem_kind", "problem_id", "kind"),
        # The dashboard (migration 0005): a leader's record (people told after their actions),
        # and each person's latest notice about a problem (people waiting to hear back).
        Index("ix_messages_event", "event_id"),
        Index("ix_messages_reporter_problem_kind", "reporter_id", "problem_id", "kind"),
        Index("ix_messages_to_problem", "to_address", "problem_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default=MessageStatus.PENDING)
    problem_id: Mapped[int | None] = mapped_column(ForeignKey("problems.id"))
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("reporters.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id"))
    report_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    # An email address, or "source:external_id" for a write-back.
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    # What the message told the person (app/services/telling.py), e.g. "owned:5" or
    # "changed:2026-05-01T10:00:00": nobody is told the same thing about a problem twice.
    notice_key: Mapped[str | None] = mapped_column(String(80))
    attempts: Mapped[int] = mapped_column(default=0)
    # When an admin last sent it again (its retry window starts then, not at created_at).
    retry_from: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    problem: Mapped[Problem | None] = relationship()
    reporter: Mapped[Reporter | None] = relationship()
    user: Mapped[User | None] = relationship()
