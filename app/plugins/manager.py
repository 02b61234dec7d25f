"""The plugin manager: one per app, kept in ``app.extensions["careloop.plugins"]``."""

from __future__ import annotations

import logging
import os
from importlib.metadata import entry_points

import pluggy
from flask import Flask, current_app

from app.grouping import collect_backends
from app.grouping.backend import BuiltinBackends
from app.models.reports import Channel
from app.plugin_api import TicketSource
from app.plugins import hookspecs
from config import ConfigurationError

log = logging.getLogger(__name__)
GROUP = "careloop"
EXTENSION = "careloop.plugins"
CHANNELS = frozenset(c.value for c in Channel)


class PluginError(ConfigurationError, RuntimeError):
    """A plugin cannot be loaded as configured; start-up stops with this one line."""


def check_wanted_plugins(config) -> dict:
    """The installed plugins' entry points; raises PluginError when CARELOOP_PLUGINS names one
    that is not installed (checked first thing at start-up, before anything is written)."""
    wanted = config.get("CARELOOP_PLUGINS")
    available = {ep.name: ep for ep in entry_points(group=GROUP)}
    missing = [name for name in wanted or () if name not in available]
    if missing:
        raise PluginError(
            f"CARELOOP_PLUGINS names {', '.join(missing)}, which is not installed. "
            f"Installed plugins: {', '.join(sorted(available)) or 'none'}."
        )
    return available


def init_plugins(app: Flask) -> pluggy.PluginManager:
    """Load the installed plugins (or only those named in CARELOOP_PLUGINS)."""
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    wanted = app.config.get("CARELOOP_PLUGINS")
    available = check_wanted_plugins(app.config)
    if wanted is not None:
        chosen = [available[name] for name in wanted]
    else:
        chosen = list(available.values())
    versions = {}
    for ep in chosen:
        pm.register(ep.load(), name=ep.name)
        versions[ep.name] = f"{ep.dist.name} {ep.dist.version}" if ep.dist else "unknown version"
    for plugin in app.config.get("CARELOOP_EXTRA_PLUGINS", ()):  # tests and embedding apps
        pm.register(plugin)

    pm.register(BuiltinBackends(), name="careloop.grouping")  # trylast: installed plugins win
    pm.check_pending()  # a misspelt @hookimpl fails at start-up, not silently
    app.extensions[EXTENSION] = pm
    app.extensions["careloop.plugin_versions"] = versions
    app.extensions["careloop.sources"] = _collect_sources(pm, app)
    app.extensions["careloop.similarity_backends"] = collect_backends(pm, app)
    return pm


def _collect_sources(pm: pluggy.PluginManager, app: Flask) -> dict[str, TicketSource]:
    sources: dict[str, TicketSource] = {}
    for registered in pm.hook.register_ticket_sources(app=app):
        for source in registered or ():
            if source.name in sources:
                raise PluginError(f"Two plugins register a ticket source named {source.name!r}.")
            if source.name in CHANNELS:  # an import's origin is its source's name: no channel's
                raise PluginError(f"A ticket source cannot be named {source.name!r}: that is a channel's name.")
            sources[source.name] = source
    # A mistyped value stops start-up with a clear line (not a 500 on the first publish).
    wrong = [line for source in sources.values() for line in source.invalid_settings(source_settings(source, app))]
    if wrong:
        raise PluginError("Careloop cannot start, a setting is wrong: " + " ".join(wrong))
    return sources


def plugin_manager(app: Flask | None = None) -> pluggy.PluginManager:
    return (app or current_app).extensions[EXTENSION]


def ticket_sources(app: Flask | None = None) -> dict[str, TicketSource]:
    return (app or current_app).extensions["careloop.sources"]


def source_settings(source: TicketSource, app: Flask | None = None) -> dict[str, str]:
    """A source's settings from the app's configuration (itself read from the environment)."""
    config = (app or current_app).config
    values = {}
    for setting in source.settings:
        value = config.get(setting.name, os.environ.get(setting.name))
        if value in (None, ""):
            value = setting.default
        if value not in (None, ""):
            values[setting.name] = str(value)
    return values
