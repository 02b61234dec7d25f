"""Jira importer for Careloop (work in progress: registers no source yet)."""

from app.plugin_api import hookimpl


@hookimpl
def register_ticket_sources(app):
    return []
