"""A backup taken while 20 writers save registrations holds every acknowledged write, whole.

Twenty threads create registrations through `record_commands` (each one a patient, a
registration, its audit event and the registry's data-version bump in one transaction)
before, during and after a backup. The backup is restored into a new database, where:
every write acknowledged before the backup began is present, exactly as stored; nothing
is half-written (each registration has its audit event and each event its registration,
and the data version counts the registrations); the audit chain verifies.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import func, select

from data_access import migrate
from data_access.access import AccessScope
from data_access.audit import SYSTEM, Actor
from data_access.backup import create_backup
from data_access.database import Database
from data_access.models import AuditEvent, Patient, Registration, Registry, User
from data_access.org_tree import read_unit_tree
from data_access.patient_identity import generate_key
from data_access.record_commands import IdentityKeys, create_registration
from data_access.reference_data import ensure_registry, sync_units
from data_access.restore import restore_backup
from entry.dictionary import load_dictionary
from entry.national_id import synthetic_national_ids
from tests.conftest import fresh_database_url

pytestmark = pytest.mark.slow

WRITERS = 20
PER_WRITER = 400  # national ids set aside per writer; far more than it gets to write
BUSY_SECONDS = 120.0
"""Deadline for the writers to reach a side of the backup; on an idle machine it takes
about a second. The test waits for acknowledged writes, not for a fixed time, so that a
slow machine (CI runs other tests beside this one) still tests every side."""
DICTIONARY = load_dictionary(Path("registries/stroke/dictionary.csv"))
KEYS = IdentityKeys(generate_key(), generate_key())
BACKUP_KEY = generate_key()
HAMMERFEST = 100001
VALUES = {
    "admission_date": "2025-03-01",
    "arrival_datetime": "2025-03-01T10:00",
    "onset_known": "0",
    "sex": "2",
    "stroke_type": "1",
    "thrombolysis": "0",
    "discharge_date": "2025-03-08",
    "died_in_hospital": "0",
}


@dataclass(frozen=True)
class Acknowledged:
    registration_id: int
    at: float


def _registrar(database: Database) -> AccessScope:
    migrate.upgrade(database)
    sync_units(database, read_unit_tree())
    ensure_registry(database, "stroke", "Hjerneslag", "Stroke")
    with database.transaction() as session:
        user = User(username="registrar", display_name="Registrar")
        session.add(user)
        session.flush()
        actor = Actor(user.id, "registrar")
    return AccessScope(actor=actor, roles={"stroke": {"registrar": frozenset({HAMMERFEST})}})


def _national_ids() -> list[str]:
    count = WRITERS * PER_WRITER
    births = pl.Series([date(1930 + i % 70, 1 + i % 12, 1 + i % 28) for i in range(count)])
    sexes = pl.Series(["female" if i % 2 else "male" for i in range(count)])
    return synthetic_national_ids(births, sexes, seed=11).to_list()


def _writer(
    url: str,
    scope: AccessScope,
    national_ids: list[str],
    stop: threading.Event,
    acknowledged: list[Acknowledged],
    failures: list[BaseException],
) -> None:
    """One writer with a connection of its own, as each worker process of a portal has (20
    threads sharing one pool of 15 waited for connections, not for the database)."""
    database = Database(url)
    try:
        for number, national_id in enumerate(national_ids):
            if stop.is_set():
                return
            values = {**VALUES, "age": str(20 + number % 70)}
            try:
                saved = create_registration(
                    database, scope, "stroke", HAMMERFEST, national_id, values, DICTIONARY, KEYS,
                    event_date_variable="admission_date", status="complete",
                )  # fmt: skip
            except Exception as error:  # the test reports it; no write may fail here
                failures.append(error)
                return
            acknowledged.append(Acknowledged(saved.registration_id, time.monotonic()))
    finally:
        database.dispose()


def _wait_for(condition: Callable[[], bool], failures: list[BaseException]) -> None:
    """Until the writers have acknowledged enough; a writer's failure ends the wait."""
    deadline = time.monotonic() + BUSY_SECONDS
    while not condition() and not failures:
        assert time.monotonic() < deadline, "the writers did not get going"
        time.sleep(0.05)


def _registrations(database: Database) -> dict[int, tuple[Any, ...]]:
    """Every registration as stored, with its values document as canonical JSON."""
    with database.reading() as session:
        rows = session.execute(
            select(
                Registration.id,
                Registration.patient_id,
                Registration.unit_id,
                Registration.event_date,
                Registration.status,
                Registration.version,
                Registration.values,
            )
        ).all()
    return {row[0]: (*row[1:6], json.dumps(row[6], sort_keys=True)) for row in rows}


def _created_events(database: Database) -> list[int]:
    with database.reading() as session:
        ids = session.scalars(
            select(AuditEvent.object_id).where(AuditEvent.action == "registration.create")
        ).all()
    return sorted(int(value or 0) for value in ids)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_backup_under_load_holds_every_acknowledged_write_whole(
    backend: str, tmp_path: Path, postgres_available: bool
) -> None:
    national_ids = _national_ids()
    with (
        fresh_database_url(backend, tmp_path / "source", postgres_available) as source_url,
        fresh_database_url(backend, tmp_path / "restored", postgres_available) as restored_url,
    ):
        (tmp_path / "source").mkdir(exist_ok=True)
        (tmp_path / "restored").mkdir(exist_ok=True)
        source, restored = Database(source_url), Database(restored_url)
        try:
            scope = _registrar(source)
            stop = threading.Event()
            acknowledged: list[Acknowledged] = []
            failures: list[BaseException] = []
            threads = [
                threading.Thread(
                    target=_writer,
                    args=(
                        source_url,
                        scope,
                        national_ids[i * PER_WRITER : (i + 1) * PER_WRITER],
                        stop,
                        acknowledged,
                        failures,
                    ),
                )
                for i in range(WRITERS)
            ]
            for thread in threads:
                thread.start()
            _wait_for(lambda: len(acknowledged) >= 2 * WRITERS, failures)
            began = time.monotonic()
            report = create_backup(source, tmp_path / "backups", BACKUP_KEY, keep=1, actor=SYSTEM)
            ended = time.monotonic()
            _wait_for(lambda: sum(ack.at > ended for ack in acknowledged) >= WRITERS, failures)
            stop.set()
            for thread in threads:
                thread.join()
            assert failures == []

            restore_backup(
                restored, report.path, BACKUP_KEY, actor=SYSTEM, scratch_dir=tmp_path / "backups"
            )
            written = _registrations(source)
            present = _registrations(restored)
            events = _created_events(restored)
            with restored.reading() as session:
                data_version = session.scalar(select(Registry.data_version))
                patients = session.scalar(select(func.count(Patient.id)))
        finally:
            source.dispose()
            restored.dispose()

    before = {ack.registration_id for ack in acknowledged if ack.at < began}
    during = [ack for ack in acknowledged if began <= ack.at <= ended]
    after = [ack for ack in acknowledged if ack.at > ended]
    # The writers were busy on every side of the backup.
    assert len(before) >= WRITERS and during and after, (len(before), len(during), len(after))
    # Every write acknowledged before the backup began is there, exactly as stored.
    assert before <= set(present)
    assert all(present[i] == written[i] for i in present)
    # Nothing half-written: registration, audit event, patient and version bump together
    # (complete records: a draft does not move the data version).
    assert events == sorted(present)
    assert data_version == len(present) == patients
    assert report.manifest.contents.tables["registrations"].rows == len(present)
    # Writes acknowledged after the backup ended cannot be in it.
    assert not {ack.registration_id for ack in after} & set(present)
