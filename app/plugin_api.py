"""What plugins import: ``hookimpl`` and the plain data they return.

Plugins are adapters. They speak to remote systems and hand back these data
classes; they never touch the database session. The core stores what they
return, keyed on ``(source, external_id)``.
"""

from __future__ import annotations

import logging
import math
import random as _random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from app.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    import numpy

_log = logging.getLogger(__name__)

__all__ = [
    "AuthenticationFailed",
    "PermanentError",
    "RetryPolicy",
    "TransientError",
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


class PermanentError(SourceError):
    """A lasting refusal that a retry cannot change (404 for a deleted ticket, 422 for a
    closed one). The delivery worker fails the reply at once, with this reason."""


class TransientError(SourceError):
    """A failure worth retrying (a truncated body, a reset connection, 429, 5xx).

    ``retry_after`` is how long the remote system asked to wait, when it said."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class RetryPolicy:
    """One bounded retry policy for every plugin: exponential back-off with "equal jitter"
    (half fixed, half random), never sooner than a ``Retry-After``, never waiting longer
    than ``max_wait`` at once, and at most ``max_retries`` retries per request.

    ``run(call, what)`` calls ``call()`` until it returns; a :class:`TransientError` is
    retried, anything else is raised at once. After the last retry the error is raised
    again as a :class:`SourceError` that says what to do. ``sleep`` and ``random`` are
    injectable so tests run on a fake clock.
    """

    max_retries: int = 5
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    max_wait: float = 300.0
    sleep: Callable[[float], None] | None = None
    random: Callable[[], float] | None = None
    retries: int = 0  # how many retries this policy has made (for reports and tests)

    def backoff(self, attempt: int) -> float:
        ceiling = min(self.backoff_cap, self.backoff_base * (2 ** attempt))
        return ceiling / 2 + (self.random or _random.random)() * ceiling / 2

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """The wait before retry number ``attempt`` (0-based)."""
        if retry_after is not None:
            return max(0.0, retry_after)  # never sooner than the remote system asked
        return self.backoff(attempt)

    def run(self, call: Callable[[], Any], what: str, *, on_retry: Callable[[float], None] | None = None) -> Any:
        attempt = 0
        while True:
            try:
                return call()
            except TransientError as error:
                if attempt >= self.max_retries:
                    raise SourceError(f"{error} (gave up after {attempt + 1} attempts at {what}; the next "
                                      "run resumes from the last page stored)") from error
                wait = self.delay(attempt, error.retry_after)
                if wait > self.max_wait:
                    raise SourceError(f"{error} (asked to wait {wait:.0f} s before {what}; stopping here, the "
                                      "next run resumes from the last page stored)") from error
                if on_retry is not None:
                    on_retry(wait)
                _log.warning("%s failed (%s); retry %d in %.1f s", what, error, attempt + 1, wait)
                (self.sleep or time.sleep)(wait)
                attempt += 1
                self.retries += 1


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
    removed in Careloop. ``excluded`` says why a ticket is not a report (it stopped
    matching the source's filter). ``merged_into`` names the external id of the ticket it was
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
    # The remote ticket that groups this one (a Zendesk incident's problem ticket): the
    # report joins that ticket's Careloop problem, and the problem shows the link.
    linked_to: str | None = None
    linked_url: str | None = None
    # Set when the ticket no longer matches the source's filter: a new one is not stored,
    # an existing report is kept and shows this reason.
    excluded: str | None = None


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
    ``write_back`` raises :class:`PermanentError` for a refusal a retry cannot change.
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
    # Optional: the address a person opens for an item key (linked work shows as a link).
    item_url: Callable[[Mapping[str, str], str], str] | None = None
    # Optional: mistyped setting values (for example "write-back: disabled"), one line
    # each; checked when the app starts, which stops with those lines instead of failing
    # later on a request.
    validate: Callable[[Mapping[str, str]], list[str]] | None = None
    # Optional: one cheap authenticated call; returns what it found ("Signed in as ...")
    # or raises SourceError / AuthenticationFailed (the Sources page's "Test connection").
    test_connection: Callable[[Mapping[str, str]], str] | None = None

    def invalid_settings(self, settings: Mapping[str, str]) -> list[str]:
        return list(self.validate(settings)) if self.validate is not None else []

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


@dataclass(frozen=True)
class SimilarityBackend:
    """A way to turn text into vectors, registered by ``register_similarity_backends``.

    ``encode(texts)`` returns a float32 NumPy array of shape ``(len(texts), dim)`` whose
    rows have length 1 (cosine similarity is their dot product); it must be pure (no
    database, no network) and safe to call from several threads. ``slope`` and
    ``intercept`` calibrate: score = 1 / (1 + exp(-(slope * cosine + intercept))).
    ``model`` is stored with every vector; change it whenever ``encode`` changes, and
    vectors of another model are ignored until ``careloop grouping-reindex`` re-encodes them.
    """

    name: str
    title: str
    dim: int
    model: str
    encode: Callable[[Sequence[str]], numpy.ndarray]
    slope: float
    intercept: float
    # Optional, for backends made of parts (see ``hybrid``): the vector is the model's part
    # (``parts[0]`` dimensions), then a part that reads what the model cannot (a
    # multilingual model, or the lexical vector), then optionally a lexical part, each of
    # length 1 (the whole divided by sqrt(len(parts))). ``readable(text)`` in [0, 1] says how
    # much of the text the first model can read (the share of its words in its vocabulary):
    # the similarity is the first part's cosine weighed by it, plus the second part's for
    # the rest. ``understood(text)`` says how much any part's model reads (None: as
    # ``readable``); a text under half understood is never joined automatically.
    parts: tuple[int, ...] | None = None
    readable: Callable[[str], float] | None = None
    understood: Callable[[str], float] | None = None

    def calibrate(self, cosine):
        """Cosine similarity (a float or an array) to a score in [0, 1]."""
        import numpy as np

        return 1.0 / (1.0 + np.exp(-(self.slope * np.asarray(cosine, dtype=np.float64) + self.intercept)))

    def cosine_for(self, score: float) -> float:
        """The cosine similarity at which the calibrated score equals ``score``."""
        score = min(max(score, 1e-9), 1 - 1e-9)
        return (math.log(score / (1 - score)) - self.intercept) / self.slope
