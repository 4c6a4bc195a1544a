"""The portal's own backups: due ones are made, by one process at a time, on a thread."""

from __future__ import annotations

import fcntl
import time
from datetime import timedelta
from pathlib import Path

import flask

from app import create_app
from data_access import migrate
from data_access.backup import backup_files
from data_access.database import Database
from portal import backup_schedule
from portal.backup_schedule import LOCK_NAME, BackupScheduler, run_due_backup
from tests.conftest import make_settings


def test_a_backup_is_made_when_due_and_not_before(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.sqlite3'}"
    settings = make_settings(tmp_path, url, BACKUP_INTERVAL_HOURS="24")
    database = Database(url)
    migrate.upgrade(database)
    try:
        first = run_due_backup(database, settings)
        assert first is not None
        assert run_due_backup(database, settings) is None  # the newest is fresh
        later = first.manifest.created_at + timedelta(hours=24, seconds=1)
        second = run_due_backup(database, settings, now=later)
        assert second is not None and second.path != first.path
        # While another process holds the lock, this one does nothing.
        with (settings.backup_dir / LOCK_NAME).open("a") as other:
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
            later = second.manifest.created_at + timedelta(hours=25)
            assert run_due_backup(database, settings, now=later) is None
    finally:
        database.dispose()
    assert [backup.path for backup in backup_files(settings.backup_dir)] == [
        first.path,
        second.path,
    ]


def test_the_first_request_starts_the_schedule(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, f"sqlite:///{tmp_path / 't.sqlite3'}", BACKUP_INTERVAL_HOURS="1"
    )
    app = create_app(settings)
    scheduler: BackupScheduler = app.extensions["backup_scheduler"]
    try:
        assert backup_files(settings.backup_dir) == []
        app.test_client().get("/")
        deadline = time.monotonic() + 20
        while not backup_files(settings.backup_dir) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(backup_files(settings.backup_dir)) == 1
    finally:
        scheduler.stop()
        app.extensions["database"].dispose()


def test_no_schedule_unless_asked_for(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'n.sqlite3'}")
    server = flask.Flask(__name__)
    backup_schedule.init_app(server, settings, Database(settings.database_url))
    assert "backup_scheduler" not in server.extensions
    assert server.before_request_funcs == {}
