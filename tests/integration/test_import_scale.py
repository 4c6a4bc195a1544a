"""The file import at scale (issue 8): 10,000 rows with 5% bad ones, a killed import, a re-import.

Each database gets one world per module: a registrar of Helse Nord, records that are not
the file's (a form's, another unit's, another source's with the same keys), and a first
import of a 10,000-row file in which every twentieth row is bad in one of seven ways. The
state before and after that import is captured once, so the tests below only read it; the
kill and re-import tests start from whatever the database holds and compare with that.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import flask
import polars as pl
import pytest
from sqlalchemy import select

from app import create_app
from data_access import accounts
from data_access.access import scope_for_user
from data_access.audit import SYSTEM, verify_chain
from data_access.database import Database
from data_access.imports import ImportMode, ImportReport, import_rows
from data_access.models import AuditChainHead, AuditEvent, Patient, Registration
from data_access.models_import import ImportKey
from data_access.patient_identity import pseudonym
from data_access.record_commands import IdentityKeys, create_registration
from entry.import_mapping import mapped_rows, read_mapping, read_table
from entry.national_id import synthetic_national_ids
from entry.registry_folder import RegistryFolder
from tests.conftest import BACKENDS, PROJECT_ROOT, fresh_database_url, make_settings
from tests.integration.test_import import MAPPING, PASSWORD

pytestmark = pytest.mark.slow

ROWS, PATIENTS, BAD_EVERY = 10_000, 8_000, 20
KILLED_ROWS = 4_000
HELSE_NORD, LEVANGER = 883658752, 100012  # the registrar's region; a department outside it
UNITS = (100001, 100003, 100005, 100006)  # departments in Helse Nord
SOURCE = "dips-nord"  # the source of test_import's MAPPING, whose columns are used here too
# Each bad row breaks exactly one rule: (what is spoilt, the field reported, its rule).
BAD_KINDS = (
    ("Alder", "age", "age:type"),
    ("Kjonn", "sex", "sex:choice"),
    ("Fnr", "national_id", "national_id:national_id"),
    ("Utskrevet", "discharge_date", "discharge_date:rule1"),
    ("Innlagt", "admission_date", "admission_date:event_date"),
    ("ReshId", "unit", "unit:access"),
    ("Episode", "source_key", "source_key:duplicate"),
)

Snapshot = dict[str, Any]


def _national_ids() -> list[str]:
    """PATIENTS + 10 valid synthetic ids; the last ten are for records outside the file."""
    count = PATIENTS + 10
    births = pl.Series([date(1930, 1, 1) + timedelta(days=(i * 37) % 25_000) for i in range(count)])
    sexes = pl.Series(["female" if i % 2 else "male" for i in range(count)])
    return synthetic_national_ids(births, sexes, seed=8).to_list()


def _episodes(ids: list[str]) -> tuple[list[dict[str, str]], set[tuple[int, str, str]]]:
    """The file's rows (a fifth of the patients come twice) and the problems it must yield."""
    rows: list[dict[str, str]] = []
    expected: set[tuple[int, str, str]] = set()
    for index in range(ROWS):
        admitted = date(2024, 1, 1) + timedelta(days=index % 600)
        discharged = "" if index % 7 == 0 else (admitted + timedelta(days=index % 15)).isoformat()
        row = {
            "Episode": f"E{index:05d}",
            "Fnr": ids[index % PATIENTS],
            "ReshId": str(UNITS[index % len(UNITS)]),
            "Innlagt": admitted.strftime("%d.%m.%Y") if index % 3 == 0 else admitted.isoformat(),
            "Alder": str(18 + index % 80),
            "Kjonn": str(1 + index % 2),
            "Utskrevet": discharged,
        }
        if index % BAD_EVERY == BAD_EVERY - 1:
            column, field, rule = BAD_KINDS[(index // BAD_EVERY) % len(BAD_KINDS)]
            row[column] = {
                "Alder": "abc",
                "Kjonn": "9",
                "Fnr": row["Fnr"][:10] + str((int(row["Fnr"][10]) + 1) % 10),
                "Utskrevet": (admitted - timedelta(days=2)).isoformat(),
                "Innlagt": "",
                "ReshId": str(LEVANGER),
                "Episode": rows[-1]["Episode"],
            }[column]
            expected.add((index + 2, field, rule))
        rows.append(row)
    return rows, expected


def _mapping(source: str) -> str:
    return MAPPING.replace(f"source: {SOURCE}", f"source: {source}")


def _write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _snapshot(database: Database) -> Snapshot:
    """Every registration, patient, import key and audit event, and the chain head."""
    with database.reading() as session:
        registrations = {
            rid: (unit, patient, event_date, status, version, updated_at,
                  json.dumps(values, sort_keys=True))
            for rid, unit, patient, event_date, status, version, updated_at, values
            in session.execute(select(
                Registration.id, Registration.unit_id, Registration.patient_id,
                Registration.event_date, Registration.status, Registration.version,
                Registration.updated_at, Registration.values,
            ))
        }  # fmt: skip
        patients = {
            pid: (key, bytes(token), birth_date, sex)
            for pid, key, token, birth_date, sex in session.execute(
                select(
                    Patient.id,
                    Patient.pseudonym,
                    Patient.national_id_encrypted,
                    Patient.birth_date,
                    Patient.sex,
                )
            )
        }
        keys = {
            (source, key): rid
            for source, key, rid in session.execute(
                select(ImportKey.source, ImportKey.source_key, ImportKey.registration_id)
            )
        }
        events = dict(session.execute(select(AuditEvent.id, AuditEvent.hash)).all())
        head = session.execute(
            select(AuditChainHead.last_event_id, AuditChainHead.event_count)
        ).one()
    return {
        "registrations": registrations,
        "patients": patients,
        "keys": keys,
        "events": events,
        "head": tuple(head),
    }


@dataclass(frozen=True)
class Importer:
    """What `flask --app app import` does with a file, called in-process as the registrar."""

    app: flask.Flask
    database: Database
    identity: IdentityKeys

    @property
    def stroke(self) -> RegistryFolder:
        registries: tuple[RegistryFolder, ...] = self.app.extensions["registries"]
        return next(r for r in registries if r.key == "stroke")

    def run(self, path: Path, source: str, mode: ImportMode) -> ImportReport:
        dictionary = self.stroke.dictionary
        mapping = read_mapping(_mapping(source), dictionary)
        rows = mapped_rows(read_table(path.read_bytes(), path.name), mapping, dictionary)
        user_id = accounts.find_user_id(self.database, "registrar")
        return import_rows(
            self.database,
            scope_for_user(self.database, user_id),
            "stroke",
            source,
            rows,
            dictionary,
            self.identity,
            event_date_variable=self.stroke.event_date_variable,
            mode=mode,
        )


@dataclass(frozen=True)
class World:
    """One database after the first import, with what it held just before and just after."""

    importer: Importer
    folder: Path
    rows: list[dict[str, str]]
    expected_problems: set[tuple[int, str, str]]
    before: Snapshot
    report: ImportReport
    after: Snapshot

    @property
    def database(self) -> Database:
        return self.importer.database


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_available: bool,
) -> Iterator[World]:
    folder = tmp_path_factory.mktemp(f"import-scale-{request.param}")
    with fresh_database_url(request.param, folder, postgres_available) as url:
        app = create_app(make_settings(folder, url))
        database: Database = app.extensions["database"]
        settings = app.config["PORTAL_SETTINGS"]
        importer = Importer(
            app, database, IdentityKeys(settings.national_id_key, settings.pseudonym_key)
        )
        ids = _national_ids()
        rows, expected = _episodes(ids)
        try:
            _records_outside_the_file(importer, folder, rows, ids[PATIENTS:])
            before = _snapshot(database)
            report = importer.run(_write_csv(folder / "episodes.csv", rows), SOURCE, "valid_only")
            yield World(importer, folder, rows, expected, before, report, _snapshot(database))
        finally:
            database.dispose()


def _records_outside_the_file(
    importer: Importer, folder: Path, rows: list[dict[str, str]], spare_ids: list[str]
) -> None:
    """A form's records in the region and at Levanger, and 30 rows of another source whose
    keys are the file's own: none of them may change, and the keys must not be confused."""
    database = importer.database
    accounts.create_user(database, SYSTEM, "registrar", "Registrar", PASSWORD)
    accounts.grant(database, SYSTEM, "registrar", "stroke", HELSE_NORD, "registrar")
    accounts.create_user(database, SYSTEM, "levanger", "Levanger", PASSWORD)
    accounts.grant(database, SYSTEM, "levanger", "stroke", LEVANGER, "registrar")
    for number, (user, unit) in enumerate([("registrar", UNITS[0]), ("levanger", LEVANGER)] * 2):
        create_registration(
            database,
            scope_for_user(database, accounts.find_user_id(database, user)),
            "stroke",
            unit,
            spare_ids[number],
            {"admission_date": date(2023, 5, 1 + number), "age": 70 + number, "sex": 1},
            importer.stroke.dictionary,
            importer.identity,
            event_date_variable=importer.stroke.event_date_variable,
        )
    other = _write_csv(folder / "other.csv", rows[:30])
    assert importer.run(other, "other-system", "valid_only").count("create") == 29


def test_the_report_names_every_bad_row_and_field(world: World) -> None:
    report = world.report
    assert report.rows == ROWS
    assert {(p.row, p.field, p.rule) for p in report.problems} == world.expected_problems
    assert len(report.bad_rows) == ROWS // BAD_EVERY == len(world.expected_problems)
    good = ROWS - ROWS // BAD_EVERY
    assert (report.count("create"), report.count("update"), report.count("skipped")) == (
        good,
        0,
        ROWS // BAD_EVERY,
    )


def test_exactly_the_good_rows_are_stored_and_nothing_else_changes(world: World) -> None:
    before, after = world.before, world.after
    new_keys = {key: rid for key, rid in after["keys"].items() if key[0] == SOURCE}
    good = [
        (index, row) for index, row in enumerate(world.rows) if index % BAD_EVERY != BAD_EVERY - 1
    ]
    assert {key for _, key in new_keys} == {row["Episode"] for _, row in good}
    # Whatever was there before is still there, unchanged, and only the new records are new.
    assert {rid: after["registrations"][rid] for rid in before["registrations"]} == before[
        "registrations"
    ]
    assert set(after["registrations"]) - set(before["registrations"]) == set(new_keys.values())
    assert {pid: after["patients"][pid] for pid in before["patients"]} == before["patients"]
    assert {k: v for k, v in after["keys"].items() if k[0] != SOURCE} == before["keys"]
    assert {eid: after["events"][eid] for eid in before["events"]} == before["events"]
    # One patient per national id, whether it came once, twice, or was there already.
    patients_by_pseudonym = {p[0]: pid for pid, p in after["patients"].items()}
    assert len(patients_by_pseudonym) == len(after["patients"])
    # A sample of stored values, read back against the file.
    for index, row in good[::97]:
        unit, patient, event_date, status, version, _, values = after["registrations"][
            new_keys[(SOURCE, row["Episode"])]
        ]
        stored = json.loads(values)
        admitted = date(2024, 1, 1) + timedelta(days=index % 600)
        assert (unit, event_date, status, version) == (int(row["ReshId"]), admitted, "draft", 1)
        assert stored["admission_date"] == admitted.isoformat()
        assert (stored["age"], stored["sex"]) == (int(row["Alder"]), int(row["Kjonn"]))
        assert stored.get("discharge_date", "") == row["Utskrevet"]
        key = pseudonym(row["Fnr"], world.importer.identity.pseudonym_key)
        assert patients_by_pseudonym[key] == patient
    with world.database.reading() as session:
        creates = session.scalars(
            select(AuditEvent.details).where(
                AuditEvent.action == "registration.create",
                AuditEvent.id > max(before["events"]),
            )
        ).all()
    assert sorted(d["import"]["source_key"] for d in creates) == sorted(k for _, k in new_keys)
    assert verify_chain(world.database).ok


def test_a_killed_import_leaves_no_trace(world: World) -> None:
    before = _snapshot(world.database)
    # Four batches to write (`imports.WRITE_BATCH`): the kill comes after the first one.
    path = _write_csv(world.folder / "killed.csv", world.rows[:KILLED_ROWS])
    mapping = world.folder / "killed.yaml"
    mapping.write_text(_mapping("killed-system"), encoding="utf-8")
    settings = world.importer.app.config["PORTAL_SETTINGS"]
    environ = {
        **os.environ,
        "PORTAL_ENV": "test",
        "PORTAL_INSTANCE_PATH": str(settings.instance_path),  # the same keys as this app's
        "DATABASE_URL": world.database.url,
        "AUTO_MIGRATE": "false",
        "SEED_DEMO": "false",
        "LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "flask", "--app", "app", "import", str(path)]
    command += ["--registry", "stroke", "--user", "registrar", "--mapping", str(mapping)]
    with subprocess.Popen(
        [*command, "--valid-only"],
        cwd=PROJECT_ROOT,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as importer:
        assert importer.stderr is not None
        seen = []
        for line in importer.stderr:  # blocks until the first batch is written, uncommitted
            seen.append(line)
            if line.startswith("Writing:"):
                importer.send_signal(signal.SIGKILL)
                break
        else:
            pytest.fail("the import never started writing:\n" + "".join(seen[-30:]))
        output, _ = importer.communicate(timeout=60)
    assert importer.returncode == -signal.SIGKILL
    assert "Imported from" not in output
    assert _snapshot(world.database) == before
    assert verify_chain(world.database).ok


def test_a_reimport_updates_instead_of_duplicating(world: World) -> None:
    before = _snapshot(world.database)
    changed = [
        {**row, "Alder": str(int(row["Alder"]) + 1)} if index % 10 == 0 else row
        for index, row in enumerate(world.rows)
    ]
    path = _write_csv(world.folder / "changed.csv", changed)
    report = world.importer.run(path, SOURCE, "valid_only")
    updated = sum(1 for i in range(0, ROWS, 10) if i % BAD_EVERY != BAD_EVERY - 1)
    good = ROWS - ROWS // BAD_EVERY
    assert (report.count("create"), report.count("update"), report.count("unchanged")) == (
        0,
        updated,
        good - updated,
    )
    after = _snapshot(world.database)
    assert after["keys"] == before["keys"]
    assert after["patients"] == before["patients"]
    assert set(after["registrations"]) == set(before["registrations"])
    versions = {
        rid: (before["registrations"][rid][4], stored[4])
        for rid, stored in after["registrations"].items()
    }
    moved = [new - old for old, new in versions.values() if new != old]
    assert moved == [1] * updated
    assert after["head"][1] == before["head"][1] + updated + 1  # an update each, and the run
    with world.database.reading() as session:
        changes = session.scalars(
            select(AuditEvent.details).where(
                AuditEvent.action == "registration.update",
                AuditEvent.id > max(before["events"]),
            )
        ).all()
    assert len(changes) == updated
    assert all(
        list(d["changes"]) == ["age"]
        and d["changes"]["age"]["new"] == d["changes"]["age"]["old"] + 1
        for d in changes
    )
