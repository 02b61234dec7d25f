"""Outgoing webhooks' tables: the endpoints admins register, and the delivery outbox.

A delivery row is written in the same transaction as the audit event that causes it
(``app/webhooks/outgoing.py``), and ``careloop send-webhooks`` sends it later,
with the same claiming, back-off and retry rules as the mail outbox.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import check_in, utcnow


class WebhookFormat(StrEnum):
    CARELOOP = "careloop"  # Careloop's own JSON
    SLACK = "slack"  # a Slack-compatible incoming-webhook body {"text", "blocks"}


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up after CARELOOP_WEBHOOK_MAX_ATTEMPTS


class WebhookEndpoint(db.Model):
    __tablename__ = "webhook_endpoints"
    __table_args__ = (check_in("format", WebhookFormat),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(100))
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    format: Mapped[str] = mapped_column(String(20), default=WebhookFormat.CARELOOP)
    active: Mapped[bool] = mapped_column(default=True, index=True)
    # Ticked by an admin (and audited): the address may be loopback or on a private network.
    allow_private: Mapped[bool] = mapped_column(default=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    secret_rotated_at: Mapped[datetime | None]

    @property
    def masked_secret(self) -> str:
        return "•" * 8 + self.secret[-4:]


class WebhookDelivery(db.Model):
    """One event for one endpoint. ``webhook_id`` stays the same on a redelivery, so a
    receiver can recognise a repeat."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        check_in("status", DeliveryStatus),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint", "endpoint_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id"))
    event_name: Mapped[str] = mapped_column(String(40))
    webhook_id: Mapped[str] = mapped_column(String(36), index=True)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    claimed_until: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    response_status: Mapped[int | None]
    response_excerpt: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    endpoint: Mapped[WebhookEndpoint] = relationship()
