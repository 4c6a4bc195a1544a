"""Backups (sikkerhetskopi) taken while the portal serves and writes, sealed and described.

A backup is one consistent snapshot: SQLite through its online backup API, which copies
the database in one read transaction while writers go on (WAL); PostgreSQL through
`pg_dump` on a snapshot exported from a transaction that also measures the manifest, so
the archive and its manifest see exactly the same rows. The payload is compressed and
sealed with the backup key (`backup_file`), with the manifest (`backup_manifest`) as its
last, authenticated record. A file becomes visible under its final name only when it is
complete, and only then are the oldest backups beyond `keep` removed: the N newest are
kept, whatever their age. Every backup is audited (`backup.create`) in the database it
copied, after the copy, so the event itself is in the next backup.
"""

from __future__ import annotations

import os
import re
import sqlite3
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from data_access import postgres_tools
from data_access.audit import Actor, record_event
from data_access.backup_file import SealedWriter
from data_access.backup_manifest import DatabaseContents, Manifest, read_contents
from data_access.database import Database
from data_access.models import utc_now

_NAME: Final = re.compile(r"backup-(\d{8}T\d{6}\.\d{6}Z)-(sqlite|postgresql)\.backup")
_STAMP: Final = "%Y%m%dT%H%M%S.%fZ"
_COPY_BYTES: Final = 1 << 20


class BackupError(RuntimeError):
    """A backup could not be made; nothing was left behind under a backup's name."""


@dataclass(frozen=True)
class BackupFile:
    """A finished backup in the backup folder, known by its name alone."""

    path: Path
    created_at: datetime
    kind: str


@dataclass(frozen=True)
class BackupReport:
    path: Path
    size: int
    seconds: float
    manifest: Manifest
    removed: tuple[Path, ...]


def create_backup(
    database: Database, directory: Path, key: bytes, *, keep: int, actor: Actor
) -> BackupReport:
    """Write a sealed backup of `database` into `directory`, keep the `keep` newest, audit it."""
    if keep < 1:
        raise ValueError("keep must be at least 1: a backup is never deleted as it is made")
    started = time.perf_counter()
    directory.mkdir(parents=True, exist_ok=True)
    created_at = utc_now()
    path = directory / f"backup-{created_at.strftime(_STAMP)}-{database.dialect}.backup"
    partial = path.with_name(path.name + ".partial")
    try:
        with (
            tempfile.TemporaryDirectory(dir=directory, prefix=".scratch-") as scratch,
            partial.open("xb") as handle,
        ):
            writer = SealedWriter(handle, key)
            contents = _snapshot(database, writer, Path(scratch))
            payload = writer.finish_payload()
            manifest = Manifest(created_at, contents, payload.sha256, payload.ciphertext_bytes)
            writer.close(manifest.to_json())
            handle.flush()
            os.fsync(handle.fileno())
        partial.rename(path)
    finally:
        partial.unlink(missing_ok=True)
    removed = remove_old_backups(directory, keep)
    report = BackupReport(
        path, path.stat().st_size, time.perf_counter() - started, manifest, removed
    )
    record_event(
        database,
        "backup.create",
        actor,
        object_type="backup",
        object_id=path.name,
        details={
            "file": path.name,
            "bytes": report.size,
            "payload_sha256": manifest.payload_sha256,
            "database": contents.kind,
            "revision": contents.alembic_revision,
            "tables": len(contents.tables),
            "rows": contents.rows,
            "seconds": round(report.seconds, 3),
            "removed": [old.name for old in removed],
        },
    )
    return report


def backup_files(directory: Path) -> list[BackupFile]:
    """The finished backups in `directory`, oldest first (partial files are not backups)."""
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        match = _NAME.fullmatch(path.name)
        if match and path.is_file():
            created = datetime.strptime(match[1], _STAMP).replace(tzinfo=UTC)
            found.append(BackupFile(path, created, match[2]))
    return sorted(found, key=lambda backup: backup.created_at)


def remove_old_backups(directory: Path, keep: int) -> tuple[Path, ...]:
    """Delete all but the `keep` newest backups; returns what was deleted."""
    old = [backup.path for backup in backup_files(directory)[:-keep]]
    for path in old:
        path.unlink(missing_ok=True)  # another process may have removed it first
    return tuple(old)


def sqlite_file(database: Database) -> Path:
    """The file of a SQLite database; an in-memory one cannot be backed up or restored."""
    name = make_url(database.url).database
    if not name or name == ":memory:" or name.startswith("file::memory:"):
        raise BackupError("an in-memory SQLite database has no file to back up or restore")
    return Path(name)


def _snapshot(database: Database, writer: SealedWriter, scratch: Path) -> DatabaseContents:
    if database.dialect == "sqlite":
        return _sqlite_snapshot(database, writer, scratch)
    if database.dialect == "postgresql":
        return _postgres_snapshot(database, writer)
    raise BackupError(f"backups of {database.dialect} databases are not supported")


def _sqlite_snapshot(database: Database, writer: SealedWriter, scratch: Path) -> DatabaseContents:
    """Copy the database with SQLite's backup API, measure the copy, and seal it."""
    copy = scratch / "snapshot.sqlite3"
    source_path = sqlite_file(database)
    if not source_path.is_file():
        raise BackupError(f"the SQLite database {source_path} does not exist")
    with (
        closing(sqlite3.connect(source_path, timeout=30)) as source,
        closing(sqlite3.connect(copy)) as target,
    ):
        # All pages in one step: one read transaction, so one consistent state.
        source.backup(target, pages=-1)
        # A copy in WAL mode would leave its last changes in a -wal file beside it.
        target.execute("PRAGMA journal_mode=DELETE")
    engine = create_engine(f"sqlite:///{copy}", poolclass=NullPool)
    try:
        with engine.connect() as connection:
            contents = read_contents(connection)
    finally:
        engine.dispose()
    with copy.open("rb") as snapshot:
        while chunk := snapshot.read(_COPY_BYTES):
            writer.write(chunk)
    return contents


def _postgres_snapshot(database: Database, writer: SealedWriter) -> DatabaseContents:
    """`pg_dump` on a snapshot exported from the transaction that measures the manifest."""
    with database.engine.connect() as connection:
        connection.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with connection.begin():
            snapshot = str(connection.scalar(text("SELECT pg_export_snapshot()")))
            try:
                postgres_tools.dump(database.url, snapshot, writer.write)
            except postgres_tools.PostgresToolError as error:
                raise BackupError(str(error)) from error
            return read_contents(connection)
