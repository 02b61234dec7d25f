"""Fixtures for plugin tests: a fake ticket source registered for one test."""

from __future__ import annotations

import pytest

from app.plugin_api import TicketSource


@pytest.fixture
def register_source(app_ctx):
    """Register TicketSources on the running app for one test, removed afterwards."""
    sources = app_ctx.extensions["careloop.sources"]
    added = []

    def register(source: TicketSource) -> TicketSource:
        sources[source.name] = source
        added.append(source.name)
        return source

    yield register
    for name in added:
        sources.pop(name, None)


@pytest.fixture
def plugin(app_ctx):
    """Register a plugin object with the app's plugin manager for one test."""
    from app.plugins.manager import plugin_manager

    pm = plugin_manager(app_ctx)
    registered = []

    def register(obj):
        pm.register(obj)
        registered.append(obj)
        return obj

    yield register
    for obj in registered:
        pm.unregister(obj)
