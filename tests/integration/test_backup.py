"""`backup` and `restore` as an operator runs them, on SQLite and PostgreSQL.

One seeded source per database kind is backed up once per module; each test restores that
file (or a damaged copy) into a database of its own and looks at what arrived. Refusals
are checked on the data layer, on bare databases; the commands' own words once each.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import flask
import pytest
from sqlalchemy import inspect, select

from app import create_app
from data_access import migrate
from data_access.audit import SYSTEM
from data_access.backup import backup_files, create_backup
from data_access.backup_file import DamagedBackup, WrongBackupKey
from data_access.backup_manifest import DatabaseContents, read_contents
from data_access.database import Database
from data_access.models import AuditEvent
from data_access.restore import RestoreRefused, RestoreReport, restore_backup
from portal import setup
from tests.conftest import BACKENDS, fresh_database_url, make_settings, seeded_demo_app

RAW_KEY = os.urandom(32)
KEY = base64.urlsafe_b64encode(RAW_KEY).decode()
REGISTRATIONS = 300


def _invoke(app: flask.Flask, *args: str) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=list(args))
    return result.exit_code, result.output


def _database(app: flask.Flask) -> Database:
    database: Database = app.extensions["database"]
    return database


def _contents(database: Database) -> DatabaseContents:
    with database.engine.connect() as connection:
        return read_contents(connection)


def _events(database: Database, action: str) -> list[AuditEvent]:
    with database.reading() as session:
        query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        return list(session.scalars(query))


def _flip_byte(path: Path, destination: Path, offset: int) -> Path:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x10
    destination.write_bytes(bytes(data))
    return destination


@pytest.fixture(scope="module", params=BACKENDS)
def source(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_available: bool,
) -> Iterator[tuple[flask.Flask, Path, DatabaseContents]]:
    """A seeded application, its backup file, and its contents as the backup saw them."""
    tmp_path = tmp_path_factory.mktemp(f"source-{request.param}")
    with (
        fresh_database_url(request.param, tmp_path, postgres_available) as url,
        seeded_demo_app(tmp_path, REGISTRATIONS, database_url=url, BACKUP_KEY=KEY) as app,
    ):
        contents = _contents(_database(app))
        code, output = _invoke(app, "backup")
        assert code == 0, output
        [backup] = backup_files(app.config["PORTAL_SETTINGS"].backup_dir)
        yield app, backup.path, contents


@pytest.fixture
def empty(
    source: tuple[flask.Flask, Path, DatabaseContents], tmp_path: Path, postgres_available: bool
) -> Iterator[Database]:
    """A new database without tables, of the source's kind."""
    with fresh_database_url(_database(source[0]).dialect, tmp_path, postgres_available) as url:
        database = Database(url)
        yield database
        database.dispose()


def _restore(database: Database, path: Path, key: bytes = RAW_KEY) -> RestoreReport:
    return restore_backup(database, path, key, actor=SYSTEM, scratch_dir=path.parent)


def _tables(database: Database) -> list[str]:
    return inspect(database.engine).get_table_names()


def test_backup_is_sealed_named_and_audited(
    source: tuple[flask.Flask, Path, DatabaseContents],
) -> None:
    app, path, contents = source
    assert path.name.endswith(f"-{_database(app).dialect}.backup")
    assert b"stroke" not in path.read_bytes() and b"registrations" not in path.read_bytes()
    [event] = _events(_database(app), "backup.create")
    assert event.object_id == path.name and (event.username or "").startswith("cli:")
    assert event.details["file"] == path.name and event.details["bytes"] == path.stat().st_size
    assert event.details["rows"] == contents.rows
    assert event.details["revision"] == contents.alembic_revision


def test_damaged_file_is_refused_then_the_intact_one_restores_exactly(
    source: tuple[flask.Flask, Path, DatabaseContents], tmp_path: Path, postgres_available: bool
) -> None:
    """Through the commands: a flipped byte writes nothing; the file itself comes back whole."""
    app, path, before = source
    damaged = _flip_byte(path, tmp_path / path.name, path.stat().st_size // 2)
    with fresh_database_url(_database(app).dialect, tmp_path, postgres_available) as url:
        target = create_app(make_settings(tmp_path, url, AUTO_MIGRATE="false", BACKUP_KEY=KEY))
        try:
            code, output = _invoke(target, "restore", str(damaged))
            assert code == 1, output
            assert "nothing was restored" in output and "fails its authentication" in output
            assert _tables(_database(target)) == []
            code, output = _invoke(target, "restore", str(path))
            assert code == 0, output
            assert "match their counts and checksums; audit chain intact" in output
            after = _contents(_database(target))
            restored = _events(_database(target), "backup.restore")
        finally:
            _database(target).dispose()
    # The restore is audited in the restored database, after the backup's events.
    for name, table in before.tables.items():
        if name not in {"audit_events", "audit_chain_head"}:
            assert after.tables[name] == table, name
    assert set(after.tables) == set(before.tables)
    assert after.alembic_revision == before.alembic_revision
    assert after.tables["registrations"].rows == REGISTRATIONS
    assert after.tables["audit_events"].rows == before.tables["audit_events"].rows + 1
    [event] = restored
    assert event.details["file"] == path.name and event.details["rows"] == before.rows
    assert before.audit_chain_head is not None
    assert event.previous_hash == before.audit_chain_head.last_hash


def test_a_database_the_portal_only_prepared_counts_as_empty(
    source: tuple[flask.Flask, Path, DatabaseContents], empty: Database
) -> None:
    """A first start writes the schema, units and registries: restoring over it is safe."""
    app, path, before = source
    setup.prepare_database(app, empty)
    report = _restore(empty, path)
    assert report.chain.ok and report.manifest.contents.tables == before.tables
    assert _contents(empty).tables["registrations"] == before.tables["registrations"]


@pytest.mark.parametrize("where", [0.3, -3], ids=["payload", "manifest"])
def test_a_flipped_byte_writes_nothing(
    source: tuple[flask.Flask, Path, DatabaseContents],
    empty: Database,
    tmp_path: Path,
    where: float,
) -> None:
    _, path, _ = source
    size = path.stat().st_size
    offset = int(size * where) if where > 0 else size + int(where)
    with pytest.raises(DamagedBackup, match="fails its authentication check"):
        _restore(empty, _flip_byte(path, tmp_path / path.name, offset))
    assert _tables(empty) == []


def test_a_wrong_key_writes_nothing(
    source: tuple[flask.Flask, Path, DatabaseContents], empty: Database
) -> None:
    with pytest.raises(WrongBackupKey, match="BACKUP_KEY does not open this backup"):
        _restore(empty, source[1], key=os.urandom(32))
    assert _tables(empty) == []


def test_a_database_with_data_is_refused(
    source: tuple[flask.Flask, Path, DatabaseContents],
) -> None:
    app, path, _ = source
    before = _contents(_database(app))
    code, output = _invoke(app, "restore", str(path))
    assert code == 1
    assert "the target database is not empty" in output and "registrations" in output
    assert _contents(_database(app)) == before


def test_a_backup_of_another_kind_is_refused(
    source: tuple[flask.Flask, Path, DatabaseContents], tmp_path: Path, postgres_available: bool
) -> None:
    app, path, _ = source
    other = "sqlite" if _database(app).dialect == "postgresql" else "postgresql"
    with fresh_database_url(other, tmp_path, postgres_available) as url:
        elsewhere = Database(url)
        try:
            with pytest.raises(RestoreRefused, match="cannot be restored into"):
                _restore(elsewhere, path)
            assert _tables(elsewhere) == []
        finally:
            elsewhere.dispose()


def test_retention_keeps_the_newest(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'r.sqlite3'}")
    migrate.upgrade(database)
    try:
        reports = [
            create_backup(database, tmp_path / "b", RAW_KEY, keep=2, actor=SYSTEM) for _ in range(3)
        ]
        events = _events(database, "backup.create")
    finally:
        database.dispose()
    kept = [backup.path for backup in backup_files(tmp_path / "b")]
    assert kept == [reports[1].path, reports[2].path]
    assert not reports[0].path.exists()
    assert [report.removed for report in reports] == [(), (), (reports[0].path,)]
    assert events[-1].details["removed"] == [reports[0].path.name]


def test_backup_is_refused_without_a_key(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'k.sqlite3'}")
    app = create_app(settings.with_changes(backup_key=None))
    try:
        code, output = _invoke(app, "backup")
    finally:
        _database(app).dispose()
    assert code == 1 and "BACKUP_KEY is not set" in output
    assert backup_files(settings.backup_dir) == []
