"""Plain-data views of reports and problems for plugin hooks (kept for old imports).

Hooks are no longer called from services: they follow from recorded events (app/events.py).
"""

from __future__ import annotations

from app.events import problem_info, report_info

__all__ = ["problem_info", "report_info"]
