"""Webhook calls from ticket sources: verified by the plugin, de-duplicated and stored here."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.imports.importer import ImportResult, store_ticket
from app.models import WebhookReceipt, utcnow
from app.plugin_api import SourceError, WebhookRejected
from app.plugins.manager import source_settings, ticket_sources
from app.services.errors import ServiceError

RECEIPTS_KEPT = timedelta(days=7)


class WebhookError(ServiceError):
    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def receive_webhook(name: str, headers: dict[str, str], body: bytes) -> dict:
    source = ticket_sources().get(name)
    if source is None or source.handle_webhook is None:
        raise WebhookError(f"No webhook is configured for {name!r}.", 404)
    settings = source_settings(source)
    try:
        verified = source.handle_webhook(settings, headers, body)
    except WebhookRejected as error:
        raise WebhookError(str(error) or "The webhook could not be verified.", 401) from error
    except SourceError as error:
        raise WebhookError(f"{source.title} could not be reached: {error}", 502) from error
    except ValueError as error:
        raise WebhookError(f"The webhook body could not be read: {error}", 400) from error
    try:
        with db.session.begin_nested():
            db.session.add(WebhookReceipt(source=name, invocation_id=verified.invocation_id))
    except IntegrityError:
        db.session.rollback()
        raise WebhookError("This webhook call was already received (replay refused).", 409) from None
    result = ImportResult(source=name)
    for ticket in verified.tickets:
        store_ticket(name, ticket, result)
    db.session.execute(
        db.delete(WebhookReceipt).where(WebhookReceipt.received_at < utcnow() - RECEIPTS_KEPT)
    )
    db.session.commit()
    return {"created": result.created, "updated": result.updated, "unchanged": result.unchanged,
            "removed": result.removed, "errors": result.errors}
