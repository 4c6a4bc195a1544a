"""API token commands: `flask --app app tokens create|list|revoke`.

The operator may make a token for any user or system (like `grant`, the CLI is trusted);
the secret is printed once and never again. Acts as "cli:<user>" in the audit log.
"""

from __future__ import annotations

from datetime import timedelta

import click
import polars as pl
from flask.cli import AppGroup

from data_access import accounts, api_tokens
from data_access.accounts import AccountError
from data_access.api_tokens import TokenError
from data_access.models_api import TOKEN_ROLES
from portal.auth.identity import now
from portal.commands.users import _database, _echo_table, cli_actor

tokens = AppGroup("tokens", help="Create, list and revoke API tokens.")


@tokens.command("create", help="Create a token; its secret is printed once.")
@click.option("--name", required=True, help="What the token is for, e.g. 'EPJ Helse Nord'.")
@click.option("--registry", "registry_key", required=True, help="Registry key, e.g. stroke.")
@click.option("--role", type=click.Choice(TOKEN_ROLES), required=True)
@click.option("--unit", "unit_ids", type=int, multiple=True, required=True, help="Repeatable.")
@click.option("--user", "username", default=None, help="Owner; without it, a system token.")
@click.option("--days", type=click.IntRange(1, api_tokens.MAX_LIFETIME.days), default=90)
def create_command(
    name: str,
    registry_key: str,
    role: str,
    unit_ids: tuple[int, ...],
    username: str | None,
    days: int,
) -> None:
    moment = now()
    try:
        owner = None if username is None else accounts.find_user_id(_database(), username)
        created = api_tokens.create_token(
            _database(),
            None,
            cli_actor(),
            name=name,
            registry_key=registry_key,
            role=role,
            unit_ids=unit_ids,
            expires_at=moment + timedelta(days=days),
            owner_user_id=owner,
            moment=moment,
        )
    except (TokenError, AccountError) as error:
        raise click.ClickException(str(getattr(error, "message", error))) from None
    click.echo(f"Token {created.token_id} created; it expires {created.expires_at:%Y-%m-%d}.")
    click.echo("The secret is shown only now:")
    click.echo(created.secret)


@tokens.command("list", help="Show tokens (never their secrets).")
@click.option("--registry", "registry_key", default=None)
def list_command(registry_key: str | None) -> None:
    moment = now()
    rows = [
        {
            "token_id": t.id,
            "name": t.name,
            "prefix": t.prefix,
            "owner": t.owner or "(system)",
            "registry": t.registry,
            "role": t.role,
            "units": " ".join(map(str, t.unit_ids)),
            "expires": f"{t.expires_at:%Y-%m-%d}",
            "last_used": None if t.last_used_at is None else f"{t.last_used_at:%Y-%m-%d %H:%M}",
            "state": t.state(moment),
        }
        for t in api_tokens.list_tokens(_database(), registry_key=registry_key)
    ]
    _echo_table(pl.DataFrame(rows), empty="No tokens.")


@tokens.command("revoke", help="Revoke a token at once (see `tokens list` for the ids).")
@click.argument("token_id", type=int)
def revoke_command(token_id: int) -> None:
    try:
        changed = api_tokens.revoke_token(_database(), None, cli_actor(), token_id, now())
    except TokenError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"Token {token_id} {'revoked' if changed else 'was revoked already'}.")


COMMANDS: tuple[click.Command, ...] = (tokens,)
