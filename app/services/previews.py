"""Previewing a closing message for every person who would get it, saving nothing."""

from __future__ import annotations

from dataclasses import dataclass

from app.messaging.compose import Rendered, render_message
from app.models import MessageKind, Problem, Reporter
from app.services.telling import people_in

MAX_PREVIEWS = 100


@dataclass
class RecipientPreview:
    reporter: Reporter
    rendered: Rendered


def preview_all(problem: Problem, kind: MessageKind, *, note: str | None = None) -> tuple[list[RecipientPreview], list[Reporter]]:
    """Each emailable person's message as it would go out (in their language, quoting their
    words), up to MAX_PREVIEWS; and the people who cannot be emailed (their private page
    shows the change and the note)."""
    previews, unreachable = [], []
    for person in people_in(problem):  # one message per person, quoting all their reports
        if not person.reachable:
            unreachable.append(person.reporter)
        elif len(previews) < MAX_PREVIEWS:
            previews.append(RecipientPreview(person.reporter, render_message(
                kind, problem, reporter=person.reporter, reports=person.reports, note=note)))
    return previews, unreachable
