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
from email.policy import EmailPolicy
from email.policy import default as default_policy
from email.utils import format_datetime

from flask import current_app

from app.extensions import db
from app.models import Message, MessageKind, MessageStatus, Person, utcnow
from app.outbox import claims
from app.plugin_api import PermanentError, SourceError
from app.plugins.manager import source_settings, ticket_sources
from app.urls import external_url

log = logging.getLogger(__name__)
FIRST_RETRY = timedelta(minutes=1)
LAST_RETRY = timedelta(hours=6)
NOT_BUILT = "(not built)"  # the address of a message that could not even be composed


WITHDRAWN = "Withdrawn:"  # a reply never posted because write-back was switched off


class MailNotConfigured(RuntimeError):
    pass


# Headers a mail client must read as they are (RFC 8058 one-click unsubscribe): never
# RFC 2047-encoded. A URL has no space to fold at, so the header stays on one line (RFC 5322
# allows 998 octets; 78 is only a recommendation); only a longer one is folded after the colon.
VERBATIM_HEADERS = frozenset({"list-unsubscribe", "list-unsubscribe-post"})
HARD_LINE_LIMIT = 998


class MailPolicy(EmailPolicy):
    def _fold(self, name, value, *args, **kwargs):
        if name.lower() in VERBATIM_HEADERS:
            text = str(value)
            if len(name) + 2 + len(text) <= HARD_LINE_LIMIT:
                return f"{name}: {text}{self.linesep}"
            return f"{name}:{self.linesep} {text}{self.linesep}"
        return super()._fold(name, value, *args, **kwargs)


MAIL_POLICY = MailPolicy(**default_policy.__dict__)


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
    tokens = unsubscribe_tokens(emails)
    smtp = None
    try:
        if emails:
            smtp = _connect()
        for message in claimed:
            try:
                if message.kind == MessageKind.WRITE_BACK:
                    _write_back(message)
                else:
                    smtp = _send_email(smtp, message, tokens)
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
            except Exception as error:  # noqa: BLE001 - a poison message is set aside; the rest flows
                log.exception("Message %s could not be sent; set aside", message.id)
                _fail(message, MessageStatus.FAILED, f"Could not be sent: {type(error).__name__}: {error}")
                result.failed += 1
            else:
                message.status = MessageStatus.SENT
                message.sent_at = utcnow()
                message.attempts += 1
                message.claimed_until = None
                message.last_error = None  # the row shows the latest state, not the outage it survived
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
    config = current_app.config
    max_attempts = config["CARELOOP_MAIL_MAX_ATTEMPTS"]
    too_old = utcnow() - (message.retry_from or message.created_at) >= timedelta(days=config["CARELOOP_MAIL_RETRY_DAYS"])
    if too_old or (max_attempts and message.attempts >= max_attempts):
        message.status = MessageStatus.FAILED
        message.last_error = (f"Gave up after {message.attempts} tries over "
                              f"{_age(message)}. Last error: {message.last_error}")[:2000]
        return False
    message.status = MessageStatus.PENDING
    message.next_attempt_at = utcnow() + backoff(message.attempts)
    return True


def _age(message: Message) -> str:
    hours = (utcnow() - (message.retry_from or message.created_at)).total_seconds() / 3600
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.1f} hours"


def retry_failed(ids: list[int] | None = None) -> int:
    """Send failed (or bounced) email again: back in the outbox, due now, with the same
    Message-ID and a fresh retry window. ``ids`` None: every failed email. Returns how many
    (the caller commits). Mail to people who unsubscribed stays where it is."""
    query = db.select(Message).where(Message.status.in_([MessageStatus.FAILED, MessageStatus.BOUNCED]),
                                     Message.kind != MessageKind.TOLD_IN_PERSON, Message.to_address != NOT_BUILT)
    if ids is not None:
        query = query.where(Message.id.in_(ids))
    count = 0
    for message in db.session.scalars(query):
        if message.reporter is not None and message.user_id is None and message.reporter.unsubscribed_at:
            continue
        message.status = MessageStatus.PENDING
        message.next_attempt_at = message.retry_from = utcnow()
        message.attempts = 0
        message.claimed_by = message.claimed_until = None
        message.last_error = None
        count += 1
    db.session.flush()
    return count


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


def message_id(message: Message, domain: str) -> str:
    """The same Message-ID on every try (made from the row, not at random), so a receiving
    server can recognise a repeat."""
    return f"<careloop-message-{message.id}.{message.problem_id or 0}@{domain}>"


def _to_a_person(message: Message) -> bool:
    """Mail to someone who reported (not to staff): it carries their unsubscribe link."""
    return message.reporter_id is not None and message.user_id is None


def unsubscribe_tokens(messages: list[Message]) -> dict[str, str]:
    """The private token of each person these messages go to, by address: one query per batch."""
    addresses = {m.to_address for m in messages if _to_a_person(m)}
    if not addresses:
        return {}
    return dict(db.session.execute(db.select(Person.email, Person.token).where(Person.email.in_(addresses))).all())


def build_email(message: Message, tokens: dict[str, str] | None = None) -> EmailMessage:
    """The email for a message; raises ValueError when it cannot be built (the sender sets
    it aside with the reason). ``tokens``: people's tokens by address (``unsubscribe_tokens``),
    looked up here when not given."""
    config = current_app.config
    email = EmailMessage(policy=MAIL_POLICY)
    email["From"] = config["MAIL_FROM"]
    email["To"] = message.to_address
    email["Subject"] = message.subject
    email["Date"] = format_datetime(message.created_at.replace(tzinfo=timezone.utc))
    domain = config["MAIL_FROM"].rsplit("@", 1)[-1].strip("> ") or "careloop"
    email["Message-ID"] = message_id(message, domain)
    if config["CARELOOP_REPLY_TO"]:
        email["Reply-To"] = config["CARELOOP_REPLY_TO"]
    if _to_a_person(message):
        if tokens is None:
            tokens = unsubscribe_tokens([message])
        token = tokens.get(message.to_address) or message.reporter.token
        email["List-Unsubscribe"] = f"<{external_url('public.unsubscribe_page', token=token)}>"
        email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    email.set_content(message.body_text)
    if message.body_html:
        email.add_alternative(message.body_html, subtype="html")
    return email


def _send_email(smtp: smtplib.SMTP, message: Message, tokens: dict[str, str] | None = None) -> smtplib.SMTP:
    if message.reporter is not None and message.user_id is None and message.reporter.unsubscribed_at:
        raise PermanentFailure("unsubscribed before it was sent")
    try:
        email = build_email(message, tokens)
    except (ValueError, TypeError, LookupError) as error:
        raise PermanentFailure(f"Could not be built: {error}") from error
    try:
        smtp.send_message(email)
    except smtplib.SMTPRecipientsRefused as error:
        code, text = next(iter(error.recipients.values()))
        if 500 <= code < 600:
            raise PermanentFailure(f"{code} {text.decode(errors='replace')}", bounced=True) from error
        raise
    except smtplib.SMTPServerDisconnected:
        smtp = _connect()  # the server hung up between messages: reconnect once
        smtp.send_message(email)
    return smtp


def _write_back(message: Message) -> None:

    source_name, _, external_id = message.to_address.partition(":")
    source = ticket_sources().get(source_name)
    if source is None or source.write_back is None:
        raise PermanentFailure(f"The source {source_name!r} is no longer loaded or takes no replies.")
    settings = source_settings(source)
    if not source.replies_wanted(settings):
        raise PermanentFailure(WITHDRAWN + f" write-back to {source.title} was switched off before it was posted.")
    source.write_back(settings, external_id, message.body_text)
