"""``careloop api-tokens create|list|revoke``: tokens for the JSON API from the shell."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from app.extensions import db
from app.models import ApiScope


@click.group("api-tokens")
def api_tokens_command():
    """Tokens for the JSON API (/api/v1)."""


@api_tokens_command.command("create")
@click.option("--name", required=True, help="Which integration uses it.")
@click.option("--scope", type=click.Choice([s.value for s in ApiScope]), default=ApiScope.READ.value,
              show_default=True, help="read: problems, history, reports; read_write: also file reports.")
@with_appcontext
def create(name, scope):
    """Create a token and print it once (only its hash is kept)."""
    from app.services.api_tokens import create_token
    from app.services.errors import ServiceError

    try:
        new = create_token(name=name, scope=scope, actor=None)
        db.session.commit()
    except ServiceError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from error
    click.echo(f"Created {new.token.scope} token {new.token.id} \"{new.token.name}\". "
               "Copy it now: it is not shown again.", err=True)
    click.echo(new.secret)


@api_tokens_command.command("list")
@with_appcontext
def list_command():
    """Every token: id, prefix, scope, state, last use, name."""
    from app.services.api_tokens import list_tokens

    for token in list_tokens():
        state = f"revoked {token.revoked_at:%Y-%m-%d %H:%M}" if token.revoked_at else "active"
        used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
        click.echo(f"{token.id}\t{token.prefix}…\t{token.scope}\t{state}\tlast used {used}\t{token.name}")


@api_tokens_command.command("revoke")
@click.argument("token_id", type=int)
@with_appcontext
def revoke(token_id):
    """Revoke a token by its id: it stops working at once."""
    from app.services.api_tokens import revoke_token
    from app.services.errors import ServiceError

    try:
        token = revoke_token(token_id, actor=None)
        db.session.commit()
    except ServiceError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from error
    click.echo(f"Revoked token {token.id} \"{token.name}\" ({token.prefix}…).")
