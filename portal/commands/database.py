"""Database commands: `flask --app app db upgrade|downgrade|current` and `seed-demo`."""

from __future__ import annotations

import click
import flask
from flask.cli import with_appcontext

from data_access import migrate
from data_access.accounts import AccountError, create_demo_users
from data_access.database import Database
from entry.registry_folder import RegistryFolder
from portal import setup
from portal.catalogue import installed_registries
from portal.commands.users import cli_actor
from portal.demo import seed_demo
from portal.settings import Settings


def _database() -> Database:
    database: Database = flask.current_app.extensions["database"]
    return database


@click.group(help="Database schema: migrate up or down, show the revision.")
def db() -> None:
    """The schema is owned by Alembic migrations in data_access/migrations."""


@db.command(help="Migrate to the newest schema and load the organisation tree and registries.")
@with_appcontext
def upgrade() -> None:
    setup.prepare_database(flask.current_app, _database())
    click.echo(f"Database at revision {migrate.current_revision(_database())}.")


@db.command(help="Migrate down to REVISION (use 'base' for an empty database).")
@click.argument("revision")
@with_appcontext
def downgrade(revision: str) -> None:
    migrate.downgrade(_database(), revision)
    click.echo(f"Database at revision {migrate.current_revision(_database()) or 'base'}.")


@db.command(help="Show the database's revision and whether it is the newest.")
@with_appcontext
def current() -> None:
    revision = migrate.current_revision(_database()) or "base"
    state = "current" if migrate.is_current(_database()) else f"behind {migrate.head_revision()}"
    click.echo(f"{revision} ({state})")


@click.command("seed-demo", help="Replace a registry's data with synthetic demo registrations.")
@click.option("--registrations", type=click.IntRange(min=1), default=50_000, show_default=True)
@click.option("--seed", type=int, default=2026, show_default=True)
@click.option("--registry", "registry_key", default="stroke", show_default=True)
@click.option(
    "--with-users/--without-users",
    default=True,
    show_default=True,
    help="Also create one demo user per role (password: env DEMO_PASSWORD or the README's "
    "default); refused when PORTAL_ENV=production.",
)
@with_appcontext
def seed_demo_command(registrations: int, seed: int, registry_key: str, with_users: bool) -> None:
    settings: Settings = flask.current_app.config["PORTAL_SETTINGS"]
    if with_users and settings.environment == "production":
        raise click.ClickException(
            "demo users are refused when PORTAL_ENV=production (their password is public); "
            "use --without-users"
        )
    registries = {registry.key: registry for registry in installed_registries()}
    if registry_key not in registries:
        raise click.BadParameter(
            f"no registry {registry_key!r}; installed: {', '.join(sorted(registries)) or 'none'}",
            param_hint="--registry",
        )
    registry = registries[registry_key]
    setup.prepare_database(flask.current_app, _database())
    report = seed_demo(_database(), settings, registry, registrations, seed)
    click.echo(
        f"Stored {report.registrations:,} registrations for {report.patients:,} patients in "
        f"registry {report.registry}: generated in {report.generate_seconds:.1f} s, "
        f"stored in {report.store_seconds:.1f} s. Truth file: {report.truth_path}"
    )
    if with_users:
        _seed_demo_users(registry, settings.demo_password)


def _seed_demo_users(registry: RegistryFolder, password: str) -> None:
    """Demo accounts that exist already are kept as they are (a re-seed changes no password)."""
    try:
        demo_users = create_demo_users(
            _database(), registry.key, password, actor=cli_actor(), units=registry.demo_units
        )
    except AccountError as error:
        raise click.ClickException(f"demo users: {error.message}") from None
    click.echo("Demo users (password from DEMO_PASSWORD, or the documented default):")
    for username, role, unit_id in demo_users:
        click.echo(f"  {username}: {role} on unit {unit_id}")


COMMANDS: tuple[click.Command, ...] = (db, seed_demo_command)
