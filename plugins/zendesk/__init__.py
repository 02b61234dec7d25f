"""Zendesk importer for Careloop: tickets become reports, replies go back as comments.

Registered as the ``zendesk`` entry point of the ``careloop`` group (pyproject.toml).
Setup for people: plugins/zendesk/README.md. The source: :mod:`plugins.zendesk.source`.
"""

from app.plugin_api import hookimpl
from plugins.zendesk.source import ZendeskSource


@hookimpl
def register_ticket_sources(app):
    """One Zendesk source per app (its rate limiter lives as long as the app)."""
    return [ZendeskSource().ticket_source()]
