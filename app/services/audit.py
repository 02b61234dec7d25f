"""Writing audit events: the one function every service records with.

``record`` is ``app.events.record_event``: the audit row is added to the current
transaction, and the event's messages, webhook deliveries and plugin hooks follow from it
when that transaction commits (see app/events.py).
"""

from __future__ import annotations

from app.events import record_event as record

__all__ = ["record"]
