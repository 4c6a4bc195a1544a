"""Backup commands: `flask --app app backup` while the portal serves, `restore FILE` into an
empty database. docs/operations.md ("Backup and restore") is the operator's guide."""

from __future__ import annotations

from pathlib import Path

import click
import flask
from flask.cli import with_appcontext

from data_access.backup import BackupError, create_backup
from data_access.backup_file import BackupFileError
from data_access.database import Database
from data_access.restore import RestoreRefused, RestoreVerificationError, restore_backup
from portal.commands.users import cli_actor
from portal.settings import Settings


def _settings_and_key() -> tuple[Settings, bytes]:
    settings: Settings = flask.current_app.config["PORTAL_SETTINGS"]
    if settings.backup_key is None:
        raise click.ClickException(
            "BACKUP_KEY is not set: PORTAL_ENV=production never makes up a backup key. Make "
            "one (docs/operations.md), keep it apart from the backups, and set BACKUP_KEY."
        )
    return settings, settings.backup_key


def _database() -> Database:
    database: Database = flask.current_app.extensions["database"]
    return database


@click.command(help="Write an encrypted, checksummed backup to BACKUP_DIR; keeps BACKUP_KEEP.")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write here instead of BACKUP_DIR (retention applies to this folder).",
)
@with_appcontext
def backup(directory: Path | None) -> None:
    settings, key = _settings_and_key()
    try:
        report = create_backup(
            _database(),
            directory or settings.backup_dir,
            key,
            keep=settings.backup_keep,
            actor=cli_actor(),
        )
    except BackupError as error:
        raise click.ClickException(f"no backup was made: {error}") from None
    contents = report.manifest.contents
    click.echo(
        f"Backup written: {report.path} ({report.size / 1e6:.1f} MB, {contents.rows:,} rows "
        f"in {len(contents.tables)} tables, revision {contents.alembic_revision}, "
        f"{report.seconds:.1f} s)."
    )
    for old in report.removed:
        click.echo(f"Removed old backup {old.name} (BACKUP_KEEP={settings.backup_keep}).")


@click.command(help="Restore FILE into this empty database, then verify it against the backup.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def restore(file: Path) -> None:
    settings, key = _settings_and_key()
    try:
        report = restore_backup(
            _database(), file, key, actor=cli_actor(), scratch_dir=settings.backup_dir
        )
    except (BackupFileError, RestoreRefused) as error:
        raise click.ClickException(f"nothing was restored: {error}") from None
    except RestoreVerificationError as error:
        raise click.ClickException(str(error)) from None
    contents = report.manifest.contents
    click.echo(
        f"Restored {file.name} (made {report.manifest.created_at:%Y-%m-%d %H:%M:%S} UTC, "
        f"revision {contents.alembic_revision}) in {report.seconds:.1f} s: {contents.rows:,} "
        f"rows in {len(contents.tables)} tables match their counts and checksums; audit chain "
        f"intact ({report.chain.events_checked:,} events)."
    )


COMMANDS: tuple[click.Command, ...] = (backup, restore)
