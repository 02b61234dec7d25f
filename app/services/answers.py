"""The owner writes to one person who reported a problem (say, to answer "this is still
happening"): a message through the outbox that quotes their words, recorded in the history."""

from __future__ import annotations

from flask_babel import gettext as _

from app.events import record_event
from app.extensions import db
from app.messaging.compose import add_message, render_message
from app.models import PERSON_ANSWERED, Message, MessageKind, Report, User
from app.services.errors import ServiceError
from app.services.permissions import require_owner_or_admin
from app.services.reports import clean_text

ANSWER_LIMIT = 5000


def answer_person(report: Report, actor: User, words: str) -> Message:
    """Write to the person behind ``report`` in their language, quoting their report. Only the
    problem's owner or an admin may; the person must have agreed to be emailed."""
    problem = report.problem
    require_owner_or_admin(problem, actor, _("Only the problem's owner or an admin can write to the people who reported it."))
    words = clean_text(words, field="words", label=_("Your message"), limit=ANSWER_LIMIT, required=True)
    reporter = report.reporter
    if not reporter.can_be_emailed:
        raise ServiceError(_("%(name)s cannot be emailed (%(why)s). Their private page shows the problem's status.",
                             name=reporter.name_or_anonymous, why=reporter.contact_state), field="words")
    event = record_event(PERSON_ANSWERED, actor, problem=problem, report=report, reporter_id=reporter.id,
                   name=str(reporter.name_or_anonymous), words=words)
    rendered = render_message(MessageKind.ANSWER, problem, reporter=reporter, reports=[report], words=words)
    message = add_message(MessageKind.ANSWER, problem, event, rendered, to=reporter.email, reporter=reporter,
                          reports=[report])
    db.session.flush()
    return message
