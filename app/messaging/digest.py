"""The weekly digest: one message per active leader, written to the outbox.

``careloop digest`` calls ``write_digests`` (for a scheduler to run once a week) and
commits; ``careloop send-mail`` delivers the messages like any other mail. Rendering
follows ``messages.render_message``: templates/mail/digest.txt and .html.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import render_template

from app.extensions import db
from app.i18n import language
from app.messaging.compose import Rendered, render_subject
from app.models import Message, MessageKind, User, utcnow
from app.queries import leaders
from app.queries.dashboard import STALE_DAYS, DigestContent, digest_for
from app.services.branding import org_name as branded_org_name

DIGEST_DAYS = 7
# A leader who had a digest this recently is skipped, so running the command twice in a
# week (by hand, or a scheduler retrying) does not send everything twice.
AGAIN_AFTER = timedelta(days=6)


@dataclass
class DigestResult:
    written: int = 0
    skipped: int = 0

    def summary(self) -> str:
        text = f"Wrote {self.written} digest{'s' if self.written != 1 else ''} to the outbox"
        if self.skipped:
            text += f"; skipped {self.skipped} leader{'s' if self.skipped != 1 else ''} who had one in the last 6 days"
        return text + "."


def render_digest(leader: User, content: DigestContent, now: datetime) -> Rendered:
    """A leader's digest, in the organisation's default language."""
    context = dict(
        leader=leader, digest=content, now=now, stale_days=STALE_DAYS,
        org_name=branded_org_name(),
    )
    with language(None):
        return Rendered(
            subject=render_subject(MessageKind.DIGEST, **context),
            text=render_template("mail/digest.txt", **context),
            html=render_template("mail/digest.html", **context),
        )


def write_digests(now: datetime | None = None, *, force: bool = False) -> DigestResult:
    """Write this week's digest for every active leader and admin to the outbox (the
    caller commits). With ``force``, also for those who had one in the last 6 days."""
    now = now or utcnow()
    result = DigestResult()
    recently = set(db.session.scalars(
        db.select(Message.user_id).where(Message.kind == MessageKind.DIGEST, Message.created_at > now - AGAIN_AFTER)
    ))
    for leader in leaders():
        if leader.id in recently and not force:
            result.skipped += 1
            continue
        rendered = render_digest(leader, digest_for(leader, now, days=DIGEST_DAYS), now)
        db.session.add(Message(
            kind=MessageKind.DIGEST, user=leader, to_address=leader.email, report_ids=[],
            subject=rendered.subject[:300], body_text=rendered.text, body_html=rendered.html,
            created_at=now, next_attempt_at=now,
        ))
        result.written += 1
    db.session.flush()
    return result
