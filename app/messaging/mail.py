"""Delivering the outbox: claim due messages, send them, record the outcome.

Each message is sent at most once even with several senders running: a sender first
claims rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; on SQLite a conditional UPDATE,
which SQLite's single writer makes atomic), commits the claim, then sends. A claim
that outlives its lease (a sender killed mid-send) is released for another try; the
message keeps its Message-ID, so a receiving server can recognise a repeat.
"""

from __future__ import annotations

import logging
import os
import random
import smtplib
import socket
import uuid
from dataclasses import dataclass
from datetime import timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from flask import current_app

from app.extensions import db
from app.models import Message, MessageKind, MessageStatus, utcnow
from app.outbox import claims
from app.plugin_api import PermanentError, SourceError

log = logging.getLogger(__name__)
FIRST_RETRY = timedelta(minutes=1)
LAST_RETRY = timedelta(hours=6)


WITHDRAWN = "Withdrawn:"  # a reply never posted because write-back was switched off


class MailNotConfigured(RuntimeError):
    pass


@dataclass
class DeliveryResult:
    sent: int = 0
    retrying: int = 0
    failed: int = 0

    def summary(self) -> str:
        return f"{self.sent} sent, {self.retrying} to retry, {self.failed} failed"


def backoff(attempts: int) -> timedelta:
    """1, 2, 4, 8 … minutes, capped at 6 hours, with ±20 % jitter so retries spread out."""
    delay = min(FIRST_RETRY * (2 ** max(attempts - 1, 0)), LAST_RETRY)
    return delay * random.uniform(0.8, 1.2)


def claim_due(limit: int, worker: str, kinds: list[str] | None = None) -> list[Message]:
    """Claim up to ``limit`` due messages (of ``kinds``, default all) and commit the claim."""
    return claims.claim_due(Message, pending=MessageStatus.PENDING, sending=MessageStatus.SENDING,
                            worker=worker, limit=limit,
                            where=() if kinds is None else (Message.kind.in_(kinds),))


def deliver_due(limit: int = 100) -> DeliveryResult:
    """Send what is due, once; returns counts. Raises MailNotConfigured without MAIL_SERVER
    when there is email to send."""
    worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    result = DeliveryResult()
    mail_configured = bool(current_app.config["MAIL_SERVER"])
    claimed = claim_due(limit, worker, None if mail_configured else [MessageKind.WRITE_BACK])
    if not mail_configured and not claimed and _email_waiting():
        raise MailNotConfigured(
            "MAIL_SERVER is not set, so email waits in the outbox (admins can read it at /admin/outbox)."
        )
    if not claimed:
        return result
    emails = [m for m in claimed if m.kind != MessageKind.WRITE_BACK]
    smtp = None
    try:
        if emails:
            smtp = _connect()
        for message in claimed:
            try:
                if message.kind == MessageKind.WRITE_BACK:
                    _write_back(message)
                else:
                    smtp = _send_email(smtp, message)
            except PermanentFailure as error:
                _fail(message, MessageStatus.BOUNCED if error.bounced else MessageStatus.FAILED, str(error))
                result.failed += 1
            except PermanentError as error:  # a ticket deleted or closed since: no retry changes that
                _fail(message, MessageStatus.FAILED, f"Refused for good: {error}")
                result.failed += 1
            except (smtplib.SMTPException, OSError, SourceError) as error:
                if _retry_later(message, error):
                    result.retrying += 1
                else:
                    result.failed += 1
            else:
                message.status = MessageStatus.SENT
                message.sent_at = utcnow()
                message.attempts += 1
                message.claimed_until = None
                result.sent += 1
            db.session.commit()  # each outcome is saved as soon as it is known
    except (smtplib.SMTPException, OSError) as error:
        # Could not even connect: put every claimed, unsent message back with a back-off.
        for message in claimed:
            if message.status == MessageStatus.SENDING:
                if _retry_later(message, error):
                    result.retrying += 1
                else:
                    result.failed += 1
        db.session.commit()
    finally:
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
    return result


def _email_waiting() -> bool:
    return db.session.scalar(db.select(db.exists().where(
        Message.status == MessageStatus.PENDING, Message.kind != MessageKind.WRITE_BACK)))


class PermanentFailure(Exception):
    def __init__(self, message: str, bounced: bool = False):
        super().__init__(message)
        self.bounced = bounced


def _retry_later(message: Message, error: Exception) -> bool:
    message.attempts += 1
    message.last_error = f"{type(error).__name__}: {error}"[:2000]
    message.claimed_until = None
    message.claimed_by = None
    if message.attempts >= current_app.config["CARELOOP_MAIL_MAX_ATTEMPTS"]:
        message.status = MessageStatus.FAILED
        message.last_error = f"Gave up after {message.attempts} tries. Last error: {message.last_error}"
        return False
    message.status = MessageStatus.PENDING
    message.next_attempt_at = utcnow() + backoff(message.attempts)
    return True


def _fail(message: Message, status: MessageStatus, why: str) -> None:
    message.attempts += 1
    message.status = status
    message.last_error = why[:2000]
    message.claimed_until = None


def _connect() -> smtplib.SMTP:
    config = current_app.config
    smtp = smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=30)
    if config["MAIL_USE_TLS"]:
        smtp.starttls()
    if config["MAIL_USERNAME"]:
        smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
    return smtp


def build_email(message: Message) -> EmailMessage:
    config = current_app.config
    email = EmailMessage()
    email["From"] = config["MAIL_FROM"]
    email["To"] = message.to_address
    email["Subject"] = message.subject
    email["Date"] = format_datetime(message.created_at.replace(tzinfo=timezone.utc))
    domain = config["MAIL_FROM"].rsplit("@", 1)[-1].strip(">") or "careloop"
    email["Message-ID"] = make_msgid(idstring=f"careloop-message-{message.id}", domain=domain)
    if config["CARELOOP_REPLY_TO"]:
        email["Reply-To"] = config["CARELOOP_REPLY_TO"]
    if message.reporter is not None and message.user_id is None:
        base = config["CARELOOP_BASE_URL"]
        email["List-Unsubscribe"] = f"<{base}/r/{message.reporter.token}/unsubscribe>"
        email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    email.set_content(message.body_text)
    if message.body_html:
        email.add_alternative(message.body_html, subtype="html")
    return email


def _send_email(smtp: smtplib.SMTP, message: Message) -> smtplib.SMTP:
    if message.reporter is not None and message.user_id is None and message.reporter.unsubscribed_at:
        raise PermanentFailure("unsubscribed before it was sent")
    try:
        smtp.send_message(build_email(message))
    except smtplib.SMTPRecipientsRefused as error:
        code, text = next(iter(error.recipients.values()))
        if 500 <= code < 600:
            raise PermanentFailure(f"{code} {text.decode(errors='replace')}", bounced=True) from error
        raise
    except smtplib.SMTPServerDisconnected:
        smtp = _connect()  # the server hung up between messages: reconnect once
        smtp.send_message(build_email(message))
    return smtp


def _write_back(message: Message) -> None:
    from app.plugins.manager import source_settings, ticket_sources

    source_name, _, external_id = message.to_address.partition(":")
    source = ticket_sources().get(source_name)
    if source is None or source.write_back is None:
        raise PermanentFailure(f"The source {source_name!r} is no longer loaded or takes no replies.")
    settings = source_settings(source)
    if not source.replies_wanted(settings):
        raise PermanentFailure(WITHDRAWN + f" write-back to {source.title} was switched off before it was posted.")
    source.write_back(settings, external_id, message.body_text)
