"""Which Zendesk tickets are reports, chosen by a Zendesk view or a search query.

Both settings are optional, and both may be set (a ticket must then be in the view and
match the search). They add to the field filters in ``filters.py``; a ticket is a report
only when it passes everything that is set.

- ``CARELOOP_ZENDESK_VIEW``: the id of a Zendesk view (Admin Center > Workspaces > Views;
  the number in the view's address). A ticket is a report while it is in the view.
- ``CARELOOP_ZENDESK_SEARCH``: a Zendesk search query for tickets, e.g.
  ``tags:bug -tags:password_reset ticket_type:incident``. A ticket is a report while it
  matches. Careloop asks for tickets itself (``filter[type]=ticket``): the query must not
  contain ``type:``.

How this works with incremental runs: the incremental export still drives the import.
It brings every changed ticket (edits, deletions, tickets that stopped matching) and its
cursor is what the core stores. The view or search only decides which of those tickets
become reports:

- the view is listed in full once per run (``GET /api/v2/views/{id}/tickets.json``,
  cursor pagination, 100 a page) and each changed ticket is looked up in that list;
- the search is asked once per export page (``GET /api/v2/search/export.json``, cursor
  pagination, 1000 a page), narrowed to the page's own ``updated_at`` range
  (``<query> updated>{first - 1 s} updated<{last + 1 s}``), so a backfill asks about each
  ticket about once and an incremental run costs one search request a page.

A ticket that is not in the view or does not match comes back excluded with the reason,
so a report stored earlier stays and says why.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from app.plugin_api import Setting, SourceError
from plugins.zendesk import mapping

VIEW = "CARELOOP_ZENDESK_VIEW"
SEARCH = "CARELOOP_ZENDESK_SEARCH"

VIEW_PAGE_SIZE = 100  # Zendesk's most for a view's tickets
SEARCH_PAGE_SIZE = 1000  # Zendesk's most for an export of search results
MAX_PAGES = 10_000  # a guard against a server that never says "no more"
# "type:" picks the kind of record; the export takes it as filter[type] and refuses it in
# the query. "ticket_type:" (incident, problem, ...) is a ticket field and is fine.
TYPE_IN_QUERY = re.compile(r"(?<![\w])type\s*:", re.IGNORECASE)

SETTINGS = (
    Setting(VIEW, "Only tickets in this Zendesk view (its numeric id), e.g. 360001234567"),
    Setting(SEARCH, "Only tickets matching this Zendesk search query (without type:), "
                    "e.g. tags:bug -tags:password_reset"),
)


class Client(Protocol):
    def get_json(self, path: str, params: Mapping[str, Any] | None = None, *,
                 export: bool = False, allow: tuple[int, ...] = ()) -> tuple[int, dict]: ...


def problems(settings: Mapping[str, str]) -> list[str]:
    """Mistyped values, one line each."""
    wrong = []
    view = (settings.get(VIEW) or "").strip()
    if view and not view.isdigit():
        wrong.append(f"{VIEW} takes the numeric id of a Zendesk view (the number in its address), not {view!r}.")
    query = (settings.get(SEARCH) or "").strip()
    if query and TYPE_IN_QUERY.search(query):
        wrong.append(f"{SEARCH} must not contain type: (Careloop asks Zendesk for tickets itself); "
                     f"use ticket_type: for incident, problem, question or task. Not {query!r}.")
    return wrong


@dataclass
class Selection:
    """The view and the search of one run; the view is listed once, on first use."""

    view: str | None = None
    search: str | None = None
    _view_ids: set[int] | None = field(default=None, repr=False)
    _view_title: str = field(default="", repr=False)

    @classmethod
    def from_settings(cls, settings: Mapping[str, str]) -> Selection:
        wrong = problems(settings)
        if wrong:
            raise SourceError(" ".join(wrong))
        return cls(view=(settings.get(VIEW) or "").strip() or None,
                   search=(settings.get(SEARCH) or "").strip() or None)

    @property
    def active(self) -> bool:
        return bool(self.view or self.search)

    def outside(self, client: Client, raw_tickets: Iterable[Mapping[str, Any]]) -> dict[int, str]:
        """The tickets among ``raw_tickets`` that are not chosen, each with the reason."""
        raw_tickets = [raw for raw in raw_tickets if mapping.ticket_id(raw) is not None]
        if not self.active or not raw_tickets:
            return {}
        reasons: dict[int, str] = {}
        if self.view:
            in_view = self.view_ids(client)
            for raw in raw_tickets:
                if mapping.ticket_id(raw) not in in_view:
                    reasons[mapping.ticket_id(raw)] = (
                        f"It is not in the Zendesk view {self._view_title or self.view} ({VIEW}={self.view}).")
        if self.search:
            still = [raw for raw in raw_tickets if mapping.ticket_id(raw) not in reasons]
            matching = self.search_ids(client, still) if still else set()
            for raw in still:
                if mapping.ticket_id(raw) not in matching:
                    reasons[mapping.ticket_id(raw)] = f"It does not match the Zendesk search {SEARCH} ({self.search})."
        return reasons

    # -- the view ---------------------------------------------------------------------------

    def view_ids(self, client: Client) -> set[int]:
        """Every ticket id in the view now (listed once per run)."""
        if self._view_ids is not None:
            return self._view_ids
        status, body = client.get_json(f"/api/v2/views/{self.view}.json", allow=(404,))
        if status == 404:
            raise SourceError(f"Zendesk has no view {self.view} that this agent can see ({VIEW}); "
                              "check the id in the view's address and that the agent may use the view.")
        view = body.get("view") if isinstance(body.get("view"), Mapping) else {}
        self._view_title = f'"{view["title"]}"' if view.get("title") else ""
        ids: set[int] = set()
        params: dict[str, Any] = {"page[size]": VIEW_PAGE_SIZE}
        for _ in range(MAX_PAGES):
            _, body = client.get_json(f"/api/v2/views/{self.view}/tickets.json", params)
            tickets = body.get("tickets")
            if not isinstance(tickets, list):
                raise SourceError(f"Zendesk's list of the tickets in view {self.view} has no tickets in it; "
                                  f"keys were {sorted(body)[:10]}.")
            ids.update(i for i in (mapping.ticket_id(t) for t in tickets if isinstance(t, Mapping)) if i is not None)
            after = _next_cursor(body, params.get("page[after]"))
            if after is None:
                break
            params = {"page[size]": VIEW_PAGE_SIZE, "page[after]": after}
        self._view_ids = ids
        return ids

    # -- the search -------------------------------------------------------------------------

    def search_ids(self, client: Client, raw_tickets: list[Mapping[str, Any]]) -> set[int]:
        """The ids of tickets matching the search, among those updated when these were."""
        params: dict[str, Any] = {"query": window_query(self.search or "", raw_tickets),
                                  "filter[type]": "ticket", "page[size]": SEARCH_PAGE_SIZE}
        ids: set[int] = set()
        for _ in range(MAX_PAGES):
            status, body = client.get_json("/api/v2/search/export.json", params, allow=(400, 422))
            if status in (400, 422):
                raise SourceError(f"Zendesk refused the search in {SEARCH} ({self.search!r}; HTTP {status}): "
                                  f"{_describe(body)}")
            results = body.get("results")
            if not isinstance(results, list):
                raise SourceError(f"Zendesk's search results have no list of results; keys were {sorted(body)[:10]}.")
            ids.update(i for i in (mapping.ticket_id(r) for r in results
                                   if isinstance(r, Mapping) and r.get("result_type", "ticket") == "ticket")
                       if i is not None)
            after = _next_cursor(body, params.get("page[after]"))
            if after is None:
                break
            params = {**params, "page[after]": after}
        return ids


def window_query(query: str, raw_tickets: Iterable[Mapping[str, Any]]) -> str:
    """The search narrowed to the tickets' ``updated_at`` range, a second wider each side
    (Zendesk's search compares whole seconds, and ``>``/``<`` are strict)."""
    times = [t for t in (mapping.parse_time(raw.get("updated_at")) for raw in raw_tickets) if t is not None]
    if not times:
        return query
    first = (min(times) - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    last = (max(times) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{query} updated>{first} updated<{last}"


def _next_cursor(body: Mapping[str, Any], previous: str | None) -> str | None:
    """The cursor of the next page, or None at the end (``meta.has_more`` false, no cursor,
    or the same cursor again)."""
    meta = body.get("meta") if isinstance(body.get("meta"), Mapping) else {}
    after = meta.get("after_cursor")
    if not meta.get("has_more") or not after or str(after) == previous:
        return None
    return str(after)


def _describe(body: Mapping[str, Any]) -> str:
    error = body.get("error")
    if isinstance(error, Mapping):
        error = ": ".join(str(v) for v in (error.get("title"), error.get("message")) if v)
    parts = [str(p) for p in (error, body.get("description")) if p]
    return ": ".join(parts)[:300] or "no details"
