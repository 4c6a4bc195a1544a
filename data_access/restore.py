"""Restoring a backup into an empty database, and proving that it came back whole.

Nothing is written to the target until the whole file has been authenticated: a flipped
byte, a truncated file or a wrong key stops the restore with the target untouched. The
target must be empty (no tables, or only what the portal's first start writes: the schema
at the backup's revision, the organisation tree and the registry rows) and of the same
kind as the backup's database. SQLite is restored with its backup API, page by page into
the target file; PostgreSQL with `pg_restore` in one transaction. Then the restored
database is measured as the backup was (row counts and checksums of every table, schema
revision, audit chain head) and its audit chain is verified end to end; only a restore
that passes is audited (`backup.restore`, in the restored database, extending its chain).
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from sqlalchemy import Connection, inspect, text

from data_access import postgres_tools
from data_access.audit import Actor, ChainVerification, record_event, verify_chain
from data_access.backup import sqlite_file
from data_access.backup_file import DamagedBackup, open_backup
from data_access.backup_manifest import Manifest, read_contents
from data_access.database import Database

# Tables the portal's first start fills from its shipped configuration: a target holding
# rows only here still counts as empty.
STARTUP_TABLES: Final = frozenset({"alembic_version", "audit_chain_head", "registries", "units"})


class RestoreRefused(RuntimeError):  # noqa: N818 - a refusal, not a fault
    """Nothing was restored: the target is not empty or does not fit, or pg_restore failed."""


class RestoreVerificationError(RuntimeError):
    """The restore ran, but the database does not match the backup's manifest."""


@dataclass(frozen=True)
class RestoreReport:
    manifest: Manifest
    chain: ChainVerification
    seconds: float


def restore_backup(
    database: Database, path: Path, key: bytes, *, actor: Actor, scratch_dir: Path
) -> RestoreReport:
    """Restore `path` into the empty `database`, verify it, and audit the restore.

    Raises `BackupFileError` (not a backup, wrong key, damaged) or `RestoreRefused` with
    nothing written, `RestoreVerificationError` when the restored database fails verification.
    """
    started = time.perf_counter()
    has_schema, revision = _empty_target(database)
    scratch_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch_dir, prefix=".restore-") as scratch:
        payload = Path(scratch) / "payload"
        with payload.open("wb") as out:
            opened = open_backup(path, key, out)
        manifest = Manifest.from_json(opened.manifest)
        if opened.payload.sha256 != manifest.payload_sha256:
            raise DamagedBackup(f"{path.name}: the payload does not match its manifest's digest")
        _check_fits(database, manifest, has_schema, revision)
        database.dispose()  # no pooled connection may hold the old database open
        if database.dialect == "sqlite":
            _restore_sqlite(database, payload)
        else:
            _restore_postgres(database, payload, replace_schema=has_schema)
    database.dispose()
    chain = verify_restored(database, manifest)
    report = RestoreReport(manifest, chain, time.perf_counter() - started)
    record_event(
        database,
        "backup.restore",
        actor,
        object_type="backup",
        object_id=path.name,
        details={
            "file": path.name,
            "created_at": manifest.created_at.isoformat(),
            "payload_sha256": manifest.payload_sha256,
            "database": manifest.contents.kind,
            "revision": manifest.contents.alembic_revision,
            "tables": len(manifest.contents.tables),
            "rows": manifest.contents.rows,
            "audit_events_checked": chain.events_checked,
            "seconds": round(report.seconds, 3),
        },
    )
    return report


def verify_restored(database: Database, manifest: Manifest) -> ChainVerification:
    """Raise `RestoreVerificationError` unless `database` holds what `manifest` describes."""
    with database.engine.connect() as connection:
        problems = manifest.contents.differences(read_contents(connection))
    chain = verify_chain(database)
    if not chain.ok:
        problems.append(f"audit chain broken at event {chain.first_broken_id}: {chain.reason}")
    if problems:
        raise RestoreVerificationError(
            "the restored database does not match the backup (do not use it; restore again "
            "into a new empty database): " + "; ".join(problems)
        )
    return chain


def _empty_target(database: Database) -> tuple[bool, str | None]:
    """(has a schema, its revision) of a target without rows; `RestoreRefused` otherwise."""
    with database.engine.connect() as connection:
        names = inspect(connection).get_table_names()
        filled = sorted(
            name for name in names if name not in STARTUP_TABLES and _has_rows(connection, name)
        )
        revision = (
            connection.scalar(text("SELECT version_num FROM alembic_version"))
            if "alembic_version" in names
            else None
        )
    if filled:
        raise RestoreRefused(
            "the target database is not empty (rows in " + ", ".join(filled) + "): a backup is "
            "restored only into an empty database, so that nothing is overwritten or mixed"
        )
    return bool(names), revision


def _check_fits(
    database: Database, manifest: Manifest, has_schema: bool, revision: str | None
) -> None:
    kind = manifest.contents.kind
    if kind != database.dialect:
        raise RestoreRefused(
            f"the backup is of a {kind} database and cannot be restored into {database.dialect}"
        )
    if has_schema and revision != manifest.contents.alembic_revision:
        raise RestoreRefused(
            f"the target database holds the schema at revision {revision or 'none'} but the "
            f"backup is at {manifest.contents.alembic_revision}: restore into a database "
            "without tables (set AUTO_MIGRATE=false so the portal does not create them)"
        )


def _has_rows(connection: Connection, table: str) -> bool:
    quoted = connection.dialect.identifier_preparer.quote(table)
    return connection.scalar(text(f"SELECT 1 FROM {quoted} LIMIT 1")) is not None


def _restore_sqlite(database: Database, payload: Path) -> None:
    """Copy every page of the snapshot over the target file, in one write transaction."""
    target_path = sqlite_file(database)
    target_path.parent.mkdir(parents=True, exist_ok=True)
    with (
        closing(sqlite3.connect(payload)) as source,
        closing(sqlite3.connect(target_path, timeout=30)) as target,
    ):
        source.backup(target, pages=-1)


def _restore_postgres(database: Database, payload: Path, *, replace_schema: bool) -> None:
    try:
        postgres_tools.restore(database.url, payload, replace_schema=replace_schema)
    except postgres_tools.PostgresToolError as error:
        raise RestoreRefused(f"{error} (in one transaction, so nothing was written)") from error
