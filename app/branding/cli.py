"""``careloop branding reset``: the organisation's look back to the defaults, from the
command line, for when a setting has made the pages (even /admin/branding) unusable."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from app.extensions import db
from app.services.branding import forget_cached_branding, reset_branding


@click.group("branding")
def branding_command():
    """The organisation's name, welcome text, colours and logo."""


@branding_command.command("reset")
@with_appcontext
def reset_command():
    """Restore the default name, colours, welcome text and logo."""

    changed = reset_branding()
    db.session.commit()
    forget_cached_branding()
    if changed:
        click.echo(f"Branding reset to the defaults ({', '.join(changed)}). Every app process shows it "
                   "within CARELOOP_BRANDING_CACHE_SECONDS.")
    else:
        click.echo("Branding was already the default; nothing changed.")
