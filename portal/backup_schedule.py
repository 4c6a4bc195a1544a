"""Backups the portal makes by itself: every BACKUP_INTERVAL_HOURS, by one process at a time.

Each serving process starts a daemon thread on its first request (after gunicorn has
forked it; never in a CLI command). Once a minute the thread takes an exclusive lock on a
file in the backup folder without waiting: of several workers only the holder goes on,
and it makes a backup only if the newest one is older than the interval, so a second
worker that gets the lock a moment later finds a fresh backup and does nothing. The lock
is the operating system's (`flock`), so it dies with its process. Several hosts share no
such lock: there, leave this off and run `flask --app app backup` from cron on one host
(docs/operations.md).
"""

from __future__ import annotations

import dataclasses
import fcntl
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

import flask

from data_access.audit import SYSTEM
from data_access.backup import BackupReport, backup_files, create_backup
from data_access.database import Database
from data_access.models import utc_now
from portal.settings import Settings

log = logging.getLogger(__name__)

CHECK_SECONDS: Final = 60.0
LOCK_NAME: Final = ".backup.lock"
SCHEDULE_ACTOR: Final = dataclasses.replace(SYSTEM, username="system:backup-schedule")


class BackupScheduler:
    """The thread of one process, started once, stopped by `stop` (tests, shutdown)."""

    def __init__(self, settings: Settings, database: Database) -> None:
        self.settings = settings
        self.database = database
        self.stopped = threading.Event()
        self._start_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start_once(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="backup-schedule", daemon=True
                )
                self._thread.start()

    def stop(self) -> None:
        self.stopped.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self.stopped.is_set():
            try:
                report = run_due_backup(self.database, self.settings)
            except Exception:  # a failed backup must not end the schedule; it is logged
                log.exception("The scheduled backup failed")
            else:
                if report is not None:
                    log.info("Scheduled backup written: %s", report.path)
            self.stopped.wait(CHECK_SECONDS)


def init_app(server: flask.Flask, settings: Settings, database: Database) -> None:
    """Start the schedule on each process's first request, if BACKUP_INTERVAL_HOURS is set."""
    if settings.backup_interval_hours <= 0:
        return
    scheduler = BackupScheduler(settings, database)
    server.extensions["backup_scheduler"] = scheduler
    server.before_request(scheduler.start_once)


def run_due_backup(
    database: Database, settings: Settings, now: datetime | None = None
) -> BackupReport | None:
    """Make a backup if none is younger than the interval and no other process is making one."""
    assert settings.backup_key is not None, "settings refuse a schedule without BACKUP_KEY"
    directory = settings.backup_dir
    directory.mkdir(parents=True, exist_ok=True)
    with _exclusive(directory / LOCK_NAME) as held:
        if not held:
            return None
        existing = backup_files(directory)
        interval = timedelta(hours=settings.backup_interval_hours)
        if existing and (now or utc_now()) - existing[-1].created_at < interval:
            return None
        return create_backup(
            database,
            directory,
            settings.backup_key,
            keep=settings.backup_keep,
            actor=SCHEDULE_ACTOR,
        )


@contextmanager
def _exclusive(path: Path) -> Iterator[bool]:
    """Yield True holding an exclusive lock on `path`, or False at once if another holds it."""
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
