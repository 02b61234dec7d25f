"""Zendesk JSON to Careloop's plain ``Ticket`` (pure functions, no HTTP)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from app.plugin_api import Ticket

# Zendesk tags the ticket that a merge closed (the source) with this tag.
MERGED_TAG = "closed_by_merge"
# The text Zendesk writes on the source ticket when it is merged, e.g.
# 'This request was closed and merged into request #123 "Card reader".'
MERGED_INTO_TEXT = re.compile(r"merged into (?:request|ticket) #(\d+)", re.IGNORECASE)

OPEN_STATUSES = {"new", "open", "pending", "hold"}
CLOSED_STATUSES = {"solved", "closed"}


def parse_time(value: Any) -> datetime | None:
    """Zendesk's ISO 8601 timestamps ("2024-02-08T17:26:48Z") as naive UTC datetimes."""
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def careloop_status(raw: Mapping[str, Any]) -> str:
    status = str(raw.get("status") or "").lower()
    if status == "deleted":
        return "deleted"
    if status in CLOSED_STATUSES:
        return "closed"
    return "open"


def agent_url(base: str, ticket_id: Any) -> str:
    return f"{base.rstrip('/')}/agent/tickets/{ticket_id}"


def users_by_id(users: Iterable[Mapping[str, Any]] | None) -> dict[int, Mapping[str, Any]]:
    """The side-loaded ``users`` list (``include=users``) by id."""
    found: dict[int, Mapping[str, Any]] = {}
    for user in users or ():
        user_id = _maybe_int(user.get("id")) if isinstance(user, Mapping) else None
        if user_id is not None:
            found[user_id] = user
    return found


def ticket_id(raw: Mapping[str, Any]) -> int | None:
    """The ticket's numeric id, or None when it has none."""
    return _maybe_int(raw.get("id"))


def closed_by_merge(raw: Mapping[str, Any]) -> bool:
    """Whether a merge closed this ticket (it was merged into another one)."""
    return MERGED_TAG in (raw.get("tags") or ()) or _via_merge_target(raw.get("via")) is not None


def merge_target(raw: Mapping[str, Any]) -> str | None:
    """The target id when the ticket itself names it (``via.source.to.ticket_id`` with
    ``rel == "merge"``); otherwise None, and the target is found in its comments."""
    return _via_merge_target(raw.get("via"))


def merge_target_from_comments(comments: Iterable[Mapping[str, Any]]) -> str | None:
    """The ticket a merge moved this one into, from the comment Zendesk adds to the source
    ticket: its ``via`` is ``{"channel": "merge", "source": {"rel": "merge", "to":
    {"ticket_id": 123, ...}}}``; failing that, the words of that comment ("...merged into
    request #123"). Pass the comments latest first: the merge is the last thing that
    happened to the ticket."""
    comments = [c for c in comments if isinstance(c, Mapping)]
    for comment in comments:
        target = _via_merge_target(comment.get("via"))
        if target:
            return target
    for comment in comments:
        match = MERGED_INTO_TEXT.search(str(comment.get("plain_body") or comment.get("body") or ""))
        if match:
            return match.group(1)
    return None


def _via_merge_target(via: Any) -> str | None:
    if not isinstance(via, Mapping):
        return None
    source = via.get("source")
    if not isinstance(source, Mapping) or source.get("rel") != "merge":
        return None
    to = source.get("to")
    if isinstance(to, Mapping) and to.get("ticket_id"):
        return str(to["ticket_id"])
    return None


def to_ticket(raw: Mapping[str, Any], users: Mapping[int, Mapping[str, Any]], base: str,
              merged_into: str | None = None) -> Ticket:
    """One Zendesk ticket (incremental export or ``GET /tickets/{id}``) as a ``Ticket``."""
    if raw.get("id") is None:
        raise ValueError("a Zendesk ticket without an id")
    ticket_id = _int(raw["id"])
    requester = users.get(_maybe_int(raw.get("requester_id")))
    return Ticket(
        external_id=str(ticket_id),
        title=_text(raw.get("subject") or raw.get("raw_subject")),
        text=_text(raw.get("description")) or "",
        requester_name=_text(requester.get("name")) if requester else None,
        requester_email=_text(requester.get("email")) if requester else None,
        created_at=parse_time(raw.get("created_at")),
        updated_at=parse_time(raw.get("updated_at")),
        status=careloop_status(raw),
        merged_into=merged_into or merge_target(raw),
        url=agent_url(base, ticket_id),
        # An incident linked to a Zendesk problem ticket joins that ticket's Careloop problem.
        linked_to=str(problem) if (problem := _maybe_int(raw.get("problem_id"))) else None,
        linked_url=agent_url(base, problem) if problem else None,
    )


def targets_first(tickets: list[Ticket]) -> list[Ticket]:
    """Tickets of one page with merged ones after the rest, so a merge target in the same
    page is stored before the ticket that follows it (the order is otherwise kept)."""
    return sorted(tickets, key=lambda t: t.merged_into is not None)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _maybe_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"not a Zendesk id: {value!r}") from None
