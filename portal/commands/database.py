"""Database commands: `flask --app app db upgrade|downgrade|current` and `seed-demo`."""

from __future__ import annotations

import click
import flask
from flask.cli import with_appcontext

from data_access import migrate
from data_access.database import Database
from portal import setup
from portal.catalogue import installed_registries
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
@with_appcontext
def seed_demo_command(registrations: int, seed: int, registry_key: str) -> None:
    registries = {registry.key: registry for registry in installed_registries()}
    if registry_key not in registries:
        raise click.BadParameter(
            f"no registry {registry_key!r}; installed: {', '.join(sorted(registries)) or 'none'}",
            param_hint="--registry",
        )
    settings: Settings = flask.current_app.config["PORTAL_SETTINGS"]
    setup.prepare_database(flask.current_app, _database())
    report = seed_demo(_database(), settings, registries[registry_key], registrations, seed)
    click.echo(
        f"Stored {report.registrations:,} registrations for {report.patients:,} patients in "
        f"registry {report.registry}: generated in {report.generate_seconds:.1f} s, "
        f"stored in {report.store_seconds:.1f} s. Truth file: {report.truth_path}"
    )


COMMANDS: tuple[click.Command, ...] = (db, seed_demo_command)
