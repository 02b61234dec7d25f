"""The ``careloop`` command: Flask's CLI (run, db, routes, shell) plus Careloop's own."""

from __future__ import annotations

import json
import secrets
import sys
import time

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from app import create_app
from app.api.cli import api_tokens_command
from app.branding.cli import branding_command
from app.demo import DEMO_LOGINS, load_demo_data
from app.extensions import db
from app.grouping.cli import grouping_eval, grouping_reindex
from app.imports.importer import get_source, preview_source, run_import
from app.messaging.digest import write_digests
from app.messaging.mail import MailNotConfigured, deliver_due
from app.messaging.mail import retry_failed as put_back
from app.models import Role
from app.plugins.manager import PluginError, plugin_manager, ticket_sources
from app.queries.export import iter_problems, iter_reports
from app.scheduler import backup_command, scheduler_command
from app.serve import serve_command
from app.services.errors import ServiceError
from app.services.sessions import set_password
from app.services.users import create_user
from app.webhooks import outgoing as outgoing_webhooks
from app.worker import watch_loop
from config import ConfigurationError


def main() -> None:
    FlaskGroup(create_app=_app_or_exit, help="Careloop: reports in, system changes out.")()


def _app_or_exit() -> Flask:
    """The app; a bad setting stops here with its one line on stderr and exit status 2, no traceback."""


    try:
        return create_app()
    except (ConfigurationError, PluginError) as error:  # a mistyped setting: one clear line
        click.echo(f"careloop: {error}", err=True)
        sys.exit(2)


def init_cli(app: Flask) -> None:
    app.cli.add_command(users)
    app.cli.add_command(demo_data)
    app.cli.add_command(export)
    app.cli.add_command(import_command)
    app.cli.add_command(plugins_command)
    app.cli.add_command(send_mail)
    app.cli.add_command(send_webhooks)
    app.cli.add_command(digest_command)

    app.cli.add_command(scheduler_command)
    app.cli.add_command(backup_command)
    app.cli.add_command(serve_command)

    app.cli.add_command(grouping_eval)
    app.cli.add_command(grouping_reindex)


    app.cli.add_command(api_tokens_command)


    app.cli.add_command(branding_command)


@click.group()
def users():
    """Manage staff accounts."""


@users.command("create")
@click.option("--name", required=True)
@click.option("--email", required=True)
@click.option("--role", type=click.Choice([r.value for r in Role]), default=Role.STAFF.value, show_default=True)
@click.option("--password", help="First password; one is generated and printed when left out.")
@with_appcontext
def create_user_command(name, email, role, password):
    """Create a staff account."""

    user, password = _with_password(password, lambda chosen: create_user(name=name, email=email, role=role,
                                                                          password=chosen))
    click.echo(f"Created {user.role} {user.name} <{user.email}>.")
    if password:
        click.echo(f"Password: {password}")


@users.command("set-password")
@click.option("--email", required=True)
@click.option("--password", help="The new password; one is generated and printed when left out.")
@with_appcontext
def set_password_command(email, password):
    """Set an account's password; its sessions end on every device."""

    user, password = _with_password(password, lambda chosen: set_password(email, chosen))
    click.echo(f"New password set for {user.name} <{user.email}>. Signed out everywhere.")
    if password:
        click.echo(f"Password: {password}")


def _with_password(given: str | None, action):
    """Run a service that takes a password (generated when none is given) and commit; returns
    what it returned and the generated password to print (None when the person gave one)."""
    generated = secrets.token_urlsafe(12) if given is None else None
    try:
        result = action(generated if given is None else given)
        db.session.commit()
    except ServiceError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from error
    return result, generated


@click.command("demo-data")
@with_appcontext
def demo_data():
    """Load demo accounts, reports and problems (safe to run again)."""

    created = load_demo_data()
    db.session.commit()
    click.echo("Demo data loaded." if created else "Demo data was already there; nothing changed.")
    click.echo("Demo logins (email / password):")
    for role, email, password in DEMO_LOGINS:
        click.echo(f"  {role:<7} {email} / {password}")


@click.group()
def export():
    """Export data as JSON lines on standard output."""


@export.command("reports")
@with_appcontext
def export_reports():
    """One JSON object per report."""

    for line in iter_reports():
        click.echo(json.dumps(line, ensure_ascii=False))


@export.command("problems")
@with_appcontext
def export_problems():
    """One JSON object per problem."""

    for line in iter_problems():
        click.echo(json.dumps(line, ensure_ascii=False))


@click.command("import")
@click.argument("source")
@click.option("--dry-run", is_flag=True, help="Say how many tickets the current settings would bring in, "
              "with a sample; store nothing.")
@click.option("--pages", default=10, show_default=True, help="With --dry-run: read at most this many pages.")
@click.option("--watch", is_flag=True, help="Keep going: import again every CARELOOP_IMPORT_EVERY_MINUTES.")
@with_appcontext
def import_command(source, dry_run, pages, watch):
    """Import new and changed tickets from SOURCE (a source name, or "all")."""



    names = sorted(ticket_sources()) if source == "all" else [source]
    try:
        for name in names:
            get_source(name)
    except ServiceError as error:
        raise click.ClickException(error.message) from error
    if dry_run:
        failed = False
        for name in names:
            preview = preview_source(name, max_pages=pages)
            click.echo(preview.summary())
            for ticket in preview.sample:
                click.echo(f"  would import {ticket.external_id}: {(ticket.title or ticket.text)[:80]}")
            for ticket in preview.excluded_sample:
                click.echo(f"  would leave out {ticket.external_id}: {ticket.excluded}")
            failed = failed or preview.error is not None
        if failed:
            raise click.ClickException("The dry run could not read every source; nothing was stored.")
        return
    while True:
        failed = False
        for name in names:
            result, linked = run_import(name)
            click.echo(result.summary())
            for problem in result.ticket_errors[:20]:
                click.echo(f"  skipped {problem}")
            failed = failed or not result.ok
            if linked is not None:
                checked, done = linked
                click.echo(f"  linked work: {checked} checked, {done} newly done (owners asked to record the change)")
        if not watch:
            break
        time.sleep(60 * (current_app.config["CARELOOP_IMPORT_EVERY_MINUTES"] or 15))
    if failed:
        raise click.ClickException("Some imports failed; what was already imported is kept. Run again to resume.")


@click.command("plugins")
@with_appcontext
def plugins_command():
    """List loaded plugins, their versions and the hooks they implement."""


    pm = plugin_manager()
    versions = current_app.extensions["careloop.plugin_versions"]
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda item: str(item[0])):
        version = versions.get(name, "registered in code")
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        click.echo(f"{name} ({version}): {', '.join(hooks) or 'no hooks'}")
    sources = current_app.extensions["careloop.sources"]
    click.echo(f"Ticket sources: {', '.join(sorted(sources)) or 'none'}")


@click.command("send-mail")
@click.option("--watch", is_flag=True, help="Keep going, checking for due messages every few seconds.")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between checks with --watch.")
@click.option("--retry-failed", is_flag=True, help="First put every failed email back in the outbox (same Message-ID).")
@with_appcontext
def send_mail(watch, interval, retry_failed):
    """Deliver the outbox: due email and ticket replies, once (or continuously with --watch)."""
    if retry_failed:
        count = put_back()
        db.session.commit()
        click.echo(f"{count} failed message(s) back in the outbox.")

    def step():
        try:
            result = deliver_due()
        except MailNotConfigured as error:
            raise click.ClickException(str(error)) from error
        if result.sent or result.retrying or result.failed or not watch:
            click.echo(result.summary())

    if not watch:
        return step()
    watch_loop("send-mail", step, interval)  # survives database restarts and network errors


@click.command("send-webhooks")
@click.option("--watch", is_flag=True, help="Keep going, checking for due deliveries every few seconds.")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between checks with --watch.")
@with_appcontext
def send_webhooks(watch, interval):
    """Deliver outgoing webhooks that are due, once (or continuously with --watch)."""
    def step():
        result = outgoing_webhooks.SendResult()
        while True:  # everything due now, batch after batch
            batch = outgoing_webhooks.deliver_due()
            if not (batch.delivered or batch.retrying or batch.failed):
                break
            result.delivered += batch.delivered
            result.retrying += batch.retrying
            result.failed += batch.failed
        if result.delivered or result.retrying or result.failed or not watch:
            click.echo(result.summary())

    if not watch:
        return step()
    watch_loop("send-webhooks", step, interval)  # survives database restarts and network errors


@click.command("digest")
@click.option("--force", is_flag=True, help="Also write for leaders who had a digest in the last 6 days.")
@with_appcontext
def digest_command(force):
    """Write each active leader's weekly digest to the outbox (run weekly from a scheduler)."""

    result = write_digests(force=force)
    db.session.commit()
    click.echo(result.summary() + " `careloop send-mail` delivers them.")
