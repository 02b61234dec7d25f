"""Which Zendesk tickets are reports: the filter settings, checked and applied.

Every setting is optional; an empty one does not filter. A ticket is a report when it
passes all of them:

- ``CARELOOP_ZENDESK_TAGS``: it has at least one of these tags (``bug, outage``).
- ``CARELOOP_ZENDESK_EXCLUDE_TAGS``: it has none of these (``password_reset, how_to``).
- ``CARELOOP_ZENDESK_TYPES``: its type is one of these (``problem, incident``; ``none``
  stands for tickets without a type).
- ``CARELOOP_ZENDESK_GROUPS`` / ``_BRANDS`` / ``_FORMS``: its group, brand or ticket form
  id is one of these (numbers, as Admin Center shows them).

A ticket that does not pass comes back as a ``Ticket`` with ``excluded`` saying why, so
the core keeps a report it stored earlier and shows the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.plugin_api import Setting, SourceError

TAGS = "CARELOOP_ZENDESK_TAGS"
EXCLUDE_TAGS = "CARELOOP_ZENDESK_EXCLUDE_TAGS"
TYPES = "CARELOOP_ZENDESK_TYPES"
GROUPS = "CARELOOP_ZENDESK_GROUPS"
BRANDS = "CARELOOP_ZENDESK_BRANDS"
FORMS = "CARELOOP_ZENDESK_FORMS"
TICKET_TYPES = ("problem", "incident", "question", "task", "none")

SETTINGS = (
    Setting(TAGS, "Only tickets with at least one of these tags (comma-separated), e.g. bug, outage"),
    Setting(EXCLUDE_TAGS, "Never tickets with any of these tags, e.g. password_reset, how_to"),
    Setting(TYPES, "Only these ticket types: problem, incident, question, task, none (no type)"),
    Setting(GROUPS, "Only tickets in these group ids (comma-separated numbers)"),
    Setting(BRANDS, "Only tickets of these brand ids"),
    Setting(FORMS, "Only tickets of these ticket form ids"),
)


def _words(settings: Mapping[str, str], name: str) -> frozenset[str]:
    return frozenset(w.strip().lower() for w in (settings.get(name) or "").split(",") if w.strip())


@dataclass(frozen=True)
class TicketFilter:
    tags: frozenset[str] = frozenset()
    exclude_tags: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    brands: frozenset[str] = frozenset()
    forms: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings: Mapping[str, str]) -> TicketFilter:
        wrong = problems(settings)
        if wrong:
            raise SourceError(" ".join(wrong))
        return cls(*(_words(settings, name) for name in (TAGS, EXCLUDE_TAGS, TYPES, GROUPS, BRANDS, FORMS)))

    @property
    def active(self) -> bool:
        return any((self.tags, self.exclude_tags, self.types, self.groups, self.brands, self.forms))

    def why_not(self, raw: Mapping[str, Any]) -> str | None:
        """None when the ticket is a report; otherwise the reason, in words."""
        tags = {str(t).lower() for t in raw.get("tags") or ()}
        if self.tags and not tags & self.tags:
            return f"It no longer has any of the tags in {TAGS} ({', '.join(sorted(self.tags))})."
        if self.exclude_tags and tags & self.exclude_tags:
            return f"It has the tag {sorted(tags & self.exclude_tags)[0]}, excluded by {EXCLUDE_TAGS}."
        kind = str(raw.get("type") or "none").lower()
        if self.types and kind not in self.types:
            return f"Its type is {kind}, not one of {TYPES} ({', '.join(sorted(self.types))})."
        for name, wanted, field in ((GROUPS, self.groups, "group_id"), (BRANDS, self.brands, "brand_id"),
                                    (FORMS, self.forms, "ticket_form_id")):
            if wanted and str(raw.get(field) or "") not in wanted:
                return f"Its {field} is {raw.get(field) or 'not set'}, not one of {name}."
        return None


def problems(settings: Mapping[str, str]) -> list[str]:
    """Mistyped filter values, one line each."""
    wrong = []
    unknown = sorted(_words(settings, TYPES) - set(TICKET_TYPES))
    if unknown:
        wrong.append(f"{TYPES} takes {', '.join(TICKET_TYPES)}; not {', '.join(unknown)}.")
    for name in (GROUPS, BRANDS, FORMS):
        bad = sorted(w for w in _words(settings, name) if not w.isdigit())
        if bad:
            wrong.append(f"{name} takes numeric ids (comma-separated), not {', '.join(bad)}.")
    return wrong
