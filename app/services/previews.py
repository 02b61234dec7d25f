"""Previewing a closing message for every person who would get it, saving nothing."""

from __future__ import annotations

from dataclasses import dataclass

from app.messaging.compose import Rendered, render_message
from app.models import MessageKind, Problem, Reporter

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
    by_reporter: dict[Reporter, list] = {}
    for report in problem.reports:
        if report.removed_at is None and report.moderation is None:
            by_reporter.setdefault(report.reporter, []).append(report)
    for reporter, reports in by_reporter.items():
        if not reporter.can_be_emailed:
            unreachable.append(reporter)
        elif len(previews) < MAX_PREVIEWS:
            previews.append(RecipientPreview(reporter, render_message(kind, problem, reporter=reporter,
                                                                      reports=reports, note=note)))
    return previews, unreachable
