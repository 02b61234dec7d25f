"""The ``careloop`` command: Flask's CLI (run, db, routes, shell) plus Careloop's own."""

from __future__ import annotations

import json
import secrets

import click
from flask import Flask
from flask.cli import FlaskGroup, with_appcontext

from app.extensions import db
from app.models import Role


def main() -> None:
    from app import create_app

    FlaskGroup(create_app=lambda: create_app(), help="Careloop: reports in, system changes out.")()


def init_cli(app: Flask) -> None:
    app.cli.add_command(users)
    app.cli.add_command(demo_data)
    app.cli.add_command(export)
    app.cli.add_command(import_command)
    app.cli.add_command(plugins_command)
    app.cli.add_command(send_mail)
    app.cli.add_command(send_webhooks)
    app.cli.add_command(digest_command)

    from app.grouping.cli import grouping_eval, grouping_reindex

    app.cli.add_command(grouping_eval)
    app.cli.add_command(grouping_reindex)

    from app.api.cli import api_tokens_command

    app.cli.add_command(api_tokens_command)


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
    from app.services.errors import ServiceError
    from app.services.users import create_user

    generated = password is None
    password = password or secrets.token_urlsafe(12)
    try:
        user = create_user(name=name, email=email, role=role, password=password)
        db.session.commit()
    except ServiceError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from error
    click.echo(f"Created {user.role} {user.name} <{user.email}>.")
    if generated:
        click.echo(f"Password: {password}")


@click.command("demo-data")
@with_appcontext
def demo_data():
    """Load demo accounts, reports and problems (safe to run again)."""
    from app.demo import DEMO_LOGINS, load_demo_data

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
    from app.queries.export import iter_reports

    for line in iter_reports():
        click.echo(json.dumps(line, ensure_ascii=False))


@export.command("problems")
@with_appcontext
def export_problems():
    """One JSON object per problem."""
    from app.queries.export import iter_problems

    for line in iter_problems():
        click.echo(json.dumps(line, ensure_ascii=False))


@click.command("import")
@click.argument("source")
@with_appcontext
def import_command(source):
    """Import new and changed tickets from SOURCE (a source name, or "all")."""
    from app.imports.importer import get_source, import_from_source
    from app.imports.linked_work import check_linked_work
    from app.plugins.manager import ticket_sources
    from app.services.errors import ServiceError

    names = sorted(ticket_sources()) if source == "all" else [source]
    failed = False
    for name in names:
        try:
            get_source(name)
            result = import_from_source(name)
        except ServiceError as error:
            raise click.ClickException(error.message) from error
        click.echo(result.summary())
        for problem in result.ticket_errors[:20]:
            click.echo(f"  skipped {problem}")
        failed = failed or not result.ok
        if get_source(name).tracks_work:
            checked, done = check_linked_work(name)
            click.echo(f"  linked work: {checked} checked, {done} newly done (owners asked to record the change)")
    if failed:
        raise click.ClickException("Some imports failed; what was already imported is kept. Run again to resume.")


@click.command("plugins")
@with_appcontext
def plugins_command():
    """List loaded plugins, their versions and the hooks they implement."""
    from flask import current_app

    from app.plugins.manager import plugin_manager

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
@with_appcontext
def send_mail(watch, interval):
    """Deliver the outbox: due email and ticket replies, once (or continuously with --watch)."""
    import time

    from app.messaging.mail import MailNotConfigured, deliver_due

    while True:
        try:
            result = deliver_due()
        except MailNotConfigured as error:
            raise click.ClickException(str(error)) from error
        if result.sent or result.retrying or result.failed or not watch:
            click.echo(result.summary())
        if not watch:
            return
        time.sleep(interval)


@click.command("send-webhooks")
@click.option("--watch", is_flag=True, help="Keep going, checking for due deliveries every few seconds.")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between checks with --watch.")
@with_appcontext
def send_webhooks(watch, interval):
    """Deliver outgoing webhooks that are due, once (or continuously with --watch)."""
    import time

    from app.webhooks.outgoing import SendResult, deliver_due

    while True:
        result = SendResult()
        while True:  # everything due now, batch after batch
            batch = deliver_due()
            if not (batch.delivered or batch.retrying or batch.failed):
                break
            result.delivered += batch.delivered
            result.retrying += batch.retrying
            result.failed += batch.failed
        if result.delivered or result.retrying or result.failed or not watch:
            click.echo(result.summary())
        if not watch:
            return
        time.sleep(interval)


@click.command("digest")
@click.option("--force", is_flag=True, help="Also write for leaders who had a digest in the last 6 days.")
@with_appcontext
def digest_command(force):
    """Write each active leader's weekly digest to the outbox (run weekly from a scheduler)."""
    from app.messaging.digest import write_digests

    result = write_digests(force=force)
    db.session.commit()
    click.echo(result.summary() + " `careloop send-mail` delivers them.")
