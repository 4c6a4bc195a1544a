"""User commands: `flask --app app create-user|set-password|grant|revoke|disable-user|…`.

They let an operator make the first administrator before any page can be used, and fix
accounts when no administrator can log in. Each acts as "cli:<operating-system user>" in
the audit log, and every refusal is a one-line message with exit code 1 (2 for bad usage),
never a traceback.
"""

from __future__ import annotations

import dataclasses
import getpass
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import ParamSpec, TypeVar

import click
import flask
import polars as pl
from flask.cli import with_appcontext

from data_access import accounts
from data_access.accounts import AccountError
from data_access.audit import SYSTEM, Actor
from data_access.database import Database
from data_access.models import ROLES

P = ParamSpec("P")
R = TypeVar("R")


def _database() -> Database:
    database: Database = flask.current_app.extensions["database"]
    return database


def cli_actor() -> Actor:
    """The operator, as the audit log names them: "cli:" and the operating-system user."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):  # no user name in the environment or the password database
        who = "unknown"
    return dataclasses.replace(SYSTEM, username=f"cli:{who}"[:80])


@contextmanager
def _refusals() -> Iterator[None]:
    """An `AccountError` becomes a clean click error (exit code 1) instead of a traceback."""
    try:
        yield
    except AccountError as error:
        raise click.ClickException(error.message) from None


def _account_command(function: Callable[P, R]) -> Callable[P, R]:
    @wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with _refusals():
            return function(*args, **kwargs)

    return wrapper


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        given = line.removesuffix("\n").removesuffix("\r")
        if not given:
            raise click.UsageError("--password-stdin: no password on standard input")
        return given
    prompted: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return prompted


_password_stdin = click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input instead of prompting.",
)


@click.command("create-user", help="Create a user account (without grants).")
@click.argument("username")
@click.option("--name", "display_name", required=True, help="The name shown in the portal.")
@click.option("--email", default=None, help="E-mail address (optional).")
@click.option("--language", type=click.Choice(accounts.LANGUAGES), default="nb", show_default=True)
@_password_stdin
@with_appcontext
@_account_command
def create_user_command(
    username: str, display_name: str, email: str | None, language: str, password_stdin: bool
) -> None:
    password = _read_password(password_stdin)
    user_id = accounts.create_user(
        _database(), cli_actor(), username, display_name, password, email=email, language=language
    )
    click.echo(f"Created user {username} (id {user_id}).")


@click.command("set-password", help="Reset a user's password (and lift a lockout).")
@click.argument("username")
@_password_stdin
@with_appcontext
@_account_command
def set_password_command(username: str, password_stdin: bool) -> None:
    user_id = accounts.find_user_id(_database(), username)
    password = _read_password(password_stdin)
    accounts.set_password(_database(), cli_actor(), user_id, password, reset=True)
    click.echo(f"Password of {username} reset; their open sessions are ended.")


@click.command("grant", help="Give USERNAME a role in a registry on a unit and the units below.")
@click.argument("username")
@click.option("--registry", "registry_key", required=True, help="Registry key, e.g. stroke.")
@click.option("--unit", "unit_id", type=int, required=True, help="Unit id, e.g. 100032.")
@click.option("--role", type=click.Choice(ROLES), required=True)
@with_appcontext
@_account_command
def grant_command(username: str, registry_key: str, unit_id: int, role: str) -> None:
    grant_id = accounts.grant(_database(), cli_actor(), username, registry_key, unit_id, role)
    click.echo(f"Grant {grant_id}: {username} is {role} in {registry_key} on unit {unit_id}.")


@click.command("revoke", help="Remove a grant (see list-grants for the ids).")
@click.argument("grant_id", type=int)
@with_appcontext
@_account_command
def revoke_command(grant_id: int) -> None:
    accounts.revoke(_database(), cli_actor(), grant_id)
    click.echo(f"Grant {grant_id} revoked.")


@click.command("disable-user", help="Refuse a user every login and end their sessions.")
@click.argument("username")
@with_appcontext
@_account_command
def disable_user_command(username: str) -> None:
    user_id = accounts.find_user_id(_database(), username)
    if accounts.disable_user(_database(), cli_actor(), user_id):
        click.echo(f"User {username} disabled; their open sessions are ended.")
    else:
        click.echo(f"User {username} was disabled already.")


@click.command("enable-user", help="Let a disabled user log in again.")
@click.argument("username")
@with_appcontext
@_account_command
def enable_user_command(username: str) -> None:
    user_id = accounts.find_user_id(_database(), username)
    changed = accounts.enable_user(_database(), cli_actor(), user_id)
    click.echo(f"User {username} {'enabled' if changed else 'was active already'}.")


@click.command("list-users", help="Show every user account and its state.")
@with_appcontext
def list_users_command() -> None:
    users = accounts.list_users(_database())
    _echo_table(
        users.select(
            "user_id",
            "username",
            "display_name",
            "is_active",
            "has_two_factor",
            "failed_logins",
            pl.col("locked_until").dt.strftime("%Y-%m-%d %H:%M"),
            pl.col("last_login_at").dt.strftime("%Y-%m-%d %H:%M"),
        ),
        empty="No users.",
    )


@click.command("list-grants", help="Show every grant, with the ids that revoke takes.")
@click.option("--registry", "registry_key", default=None, help="Only this registry's grants.")
@with_appcontext
def list_grants_command(registry_key: str | None) -> None:
    grants = accounts.list_grants(_database(), registry_key)
    _echo_table(
        grants.select(
            "grant_id", "username", "registry", "role", "unit_id", "unit_short_name", "granted_by"
        ),
        empty="No grants.",
    )


def _echo_table(frame: pl.DataFrame, *, empty: str) -> None:
    """Plain aligned columns: readable in a terminal and easy to grep; nulls show as "-"."""
    if frame.is_empty():
        click.echo(empty)
        return
    text = frame.select(pl.all().cast(pl.String).fill_null("-"))
    widths = {name: max(len(name), *(len(value) for value in text[name])) for name in text.columns}
    click.echo("  ".join(name.ljust(widths[name]) for name in text.columns).rstrip())
    for row in text.iter_rows():
        click.echo("  ".join(v.ljust(widths[n]) for n, v in zip(text.columns, row, strict=True)))


COMMANDS: tuple[click.Command, ...] = (
    create_user_command,
    set_password_command,
    grant_command,
    revoke_command,
    disable_user_command,
    enable_user_command,
    list_users_command,
    list_grants_command,
)
