"""What plugins import: ``hookimpl`` and the plain data they return.

Plugins are adapters. They speak to remote systems and hand back these data
classes; they never touch the database session. The core stores what they
return, keyed on ``(source, external_id)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from app.grouping.backend import SimilarityBackend
from app.plugins.hookspecs import hookimpl

__all__ = [
    "AuthenticationFailed",
    "ProblemInfo",
    "ReportInfo",
    "Setting",
    "SimilarityBackend",
    "SourceError",
    "Ticket",
    "TicketPage",
    "TicketSource",
    "WebhookRejected",
    "WebhookResult",
    "hookimpl",
]


class SourceError(Exception):
    """A remote system failed in a way the import should record and resume from."""


class AuthenticationFailed(SourceError):
    """The remote system refused the credentials (401/403)."""


class WebhookRejected(Exception):
    """A webhook call is not genuine (bad signature, stale timestamp); answered with 401."""


@dataclass(frozen=True)
class Setting:
    """One setting a source reads from the environment."""

    name: str  # the environment variable, e.g. CARELOOP_ZENDESK_URL
    description: str
    secret: bool = False
    required: bool = False
    default: str | None = None


@dataclass(frozen=True)
class Ticket:
    """A remote ticket or issue, normalised.

    ``status`` is ``"open"``, ``"closed"`` or ``"deleted"``; a deleted ticket has its text
    removed in Careloop. ``merged_into`` names the external id of the ticket it was
    merged into, when the remote system closed it by a merge.
    """

    external_id: str
    text: str
    title: str | None = None
    requester_name: str | None = None
    requester_email: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    status: str = "open"
    merged_into: str | None = None
    url: str | None = None
    location: str | None = None


@dataclass(frozen=True)
class TicketPage:
    """Tickets and the cursor to resume after them. ``done`` means nothing more for now."""

    tickets: list[Ticket]
    cursor: str | None
    done: bool = False


@dataclass(frozen=True)
class WebhookResult:
    """A verified webhook: its unique invocation id (for replay protection) and the tickets
    it brings (already fetched by the plugin, or sent in the webhook body)."""

    invocation_id: str
    tickets: list[Ticket] = field(default_factory=list)


@dataclass(frozen=True)
class TicketSource:
    """A source of reports, registered by a plugin through ``register_ticket_sources``.

    ``fetch(settings, cursor)`` yields pages from ``cursor`` (None on the first run); the
    core stores each page and its cursor in one transaction. ``write_back(settings,
    external_id, body)`` posts a public reply on the ticket (optional).
    ``handle_webhook(settings, headers, body)`` verifies a webhook call and returns a
    ``WebhookResult`` or raises ``WebhookRejected`` (optional).

    A source that also tracks work (like Jira) can carry a problem's fix:
    ``create_work_item(settings, summary, description) -> (key, url)``,
    ``link_back(settings, key, url, title)`` (a link from the item to the problem) and
    ``work_status(settings, key) -> "new" | "indeterminate" | "done"`` (all optional).
    """

    name: str
    title: str
    settings: tuple[Setting, ...]
    fetch: Callable[[Mapping[str, str], str | None], Iterator[TicketPage]]
    write_back: Callable[[Mapping[str, str], str, str], None] | None = None
    handle_webhook: Callable[[Mapping[str, str], Mapping[str, str], bytes], WebhookResult] | None = None
    # Optional: the missing-settings messages a simple `required` flag cannot express
    # (such as "email and token, or an OAuth token"); empty when configured.
    check: Callable[[Mapping[str, str]], list[str]] | None = None
    # Optional: whether replies are wanted right now (a setting may switch them off).
    write_back_enabled: Callable[[Mapping[str, str]], bool] | None = None
    create_work_item: Callable[[Mapping[str, str], str, str], tuple[str, str]] | None = None
    link_back: Callable[[Mapping[str, str], str, str, str], object] | None = None
    work_status: Callable[[Mapping[str, str], str], str] | None = None

    @property
    def tracks_work(self) -> bool:
        return self.work_status is not None

    def missing_settings(self, settings: Mapping[str, str]) -> list[str]:
        missing = [f"set {s.name}" for s in self.settings if s.required and not settings.get(s.name)]
        if not missing and self.check is not None:
            missing = self.check(settings)
        return missing

    def configured(self, settings: Mapping[str, str]) -> bool:
        return not self.missing_settings(settings)

    def replies_wanted(self, settings: Mapping[str, str]) -> bool:
        if self.write_back is None:
            return False
        return self.write_back_enabled is None or self.write_back_enabled(settings)


@dataclass(frozen=True)
class ReportInfo:
    """A report as plugins see it (plain data, no database objects)."""

    id: int
    problem_id: int
    channel: str
    source: str | None
    external_id: str | None
    text: str
    reporter_name: str | None
    reporter_email: str | None
    created_at: datetime


@dataclass(frozen=True)
class ProblemInfo:
    id: int
    title: str
    status: str
    owner_name: str | None
    public_title: str | None = None
    change_what: str | None = None
    decline_reason: str | None = None
    url: str | None = None
