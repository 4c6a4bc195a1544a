"""Saving registrations through the commands, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import select

from data_access.access import AccessDenied, AccessScope, Role
from data_access.audit import Actor, verify_chain
from data_access.database import Database
from data_access.models import AuditEvent, Patient, Registration, Registry, User
from data_access.org_tree import read_unit_tree
from data_access.patient_identity import generate_key
from data_access.record_commands import (
    IdentityKeys,
    RecordRejected,
    SaveResult,
    StaleRecord,
    create_registration,
    delete_registration,
    find_or_create_patient,
    update_registration,
)
from data_access.reference_data import ensure_registry, sync_units
from entry.dictionary import load_dictionary
from entry.national_id import synthetic_national_ids

DICTIONARY = load_dictionary(Path("registries/stroke/dictionary.csv"))
KEYS = IdentityKeys(generate_key(), generate_key())
HAMMERFEST, KIRKENES = 100001, 100002
NATIONAL_ID = synthetic_national_ids(pl.Series([date(1950, 5, 17)]), pl.Series(["female"]), 1)[0]
EVENT = "admission_date"
COMPLETE = {
    "admission_date": "2025-03-01",
    "arrival_datetime": "2025-03-01T10:00",
    "onset_known": "0",
    "age": "74",
    "sex": "2",
    "stroke_type": "1",
    "thrombolysis": "1",
    "thrombolysis_datetime": "2025-03-01 10:35",
    "discharge_date": "2025-03-08",
    "died_in_hospital": "0",
}
GRANTS: dict[str, tuple[Role, int]] = {
    "registrar": ("registrar", HAMMERFEST),
    "registrar_kirkenes": ("registrar", KIRKENES),
    "clinician": ("clinician", HAMMERFEST),
    "admin": ("admin", HAMMERFEST),
}


@pytest.fixture
def scopes(database: Database) -> dict[str, AccessScope]:
    sync_units(database, read_unit_tree())
    ensure_registry(database, "stroke", "Hjerneslag", "Stroke")
    found = {}
    with database.transaction() as session:
        for name, (role, unit) in GRANTS.items():
            user = User(username=name, display_name=name)
            session.add(user)
            session.flush()
            found[name] = AccessScope(
                actor=Actor(user.id, name), roles={"stroke": {role: frozenset({unit})}}
            )
    return found


def _create(
    database: Database, scope: AccessScope, values: Mapping[str, object] = COMPLETE, **kw
) -> SaveResult:
    return create_registration(
        database, scope, "stroke", HAMMERFEST, NATIONAL_ID, values, DICTIONARY, KEYS,
        event_date_variable=EVENT, **kw,
    )  # fmt: skip


def _update(
    database: Database,
    scope: AccessScope,
    registration_id: int,
    version: int,
    values: Mapping[str, object],
    **kw: Any,
) -> SaveResult:
    return update_registration(
        database, scope, registration_id, version, values, DICTIONARY, event_date_variable=EVENT,
        **kw,
    )  # fmt: skip


def _events(database: Database, action: str) -> list[AuditEvent]:
    with database.reading() as session:
        query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        return list(session.scalars(query))


def _stored(database: Database, registration_id: int) -> Registration:
    with database.reading() as session:
        registration = session.get(Registration, registration_id)
        assert registration is not None
        return registration


def _data_version(database: Database) -> int:
    with database.reading() as session:
        return int(session.scalar(select(Registry.data_version)) or 0)


def test_find_or_create_patient_once(database: Database) -> None:
    first = find_or_create_patient(database, NATIONAL_ID, KEYS)
    assert find_or_create_patient(database, f" {NATIONAL_ID[:6]} {NATIONAL_ID[6:]}", KEYS) == first
    with database.reading() as session:
        patient = session.get(Patient, first)
        assert patient is not None
        assert (patient.birth_date, patient.sex) == (date(1950, 5, 17), "female")
        assert NATIONAL_ID.encode() not in patient.national_id_encrypted


def test_create_as_registrar(database: Database, scopes: dict[str, AccessScope]) -> None:
    saved = _create(database, scopes["registrar"], {**COMPLETE, "stroke_type": "2"})
    stored = _stored(database, saved.registration_id)
    assert (stored.status, stored.version, stored.event_date) == ("draft", 1, date(2025, 3, 1))
    assert "thrombolysis" in stored.values["_skipped"]
    assert stored.values["age"] == 74
    [event] = _events(database, "registration.create")
    assert event.object_id == str(saved.registration_id)
    assert "age" in event.details["fields"]
    assert NATIONAL_ID not in str(event.details)
    assert _data_version(database) == 0  # a draft counts in no result
    assert verify_chain(database).ok


@pytest.mark.parametrize("who", ["clinician", "registrar_kirkenes", "admin"])
def test_create_refused_outside_registrar_scope(
    database: Database, scopes: dict[str, AccessScope], who: str
) -> None:
    with pytest.raises(AccessDenied):
        _create(database, scopes[who])
    with database.reading() as session:
        assert session.scalar(select(Registration.id)) is None
        assert session.scalar(select(Patient.id)) is None


def test_create_complete_needs_no_errors(
    database: Database, scopes: dict[str, AccessScope]
) -> None:
    bad = {**COMPLETE, "discharge_date": "2025-02-01"}
    with pytest.raises(RecordRejected) as refused:
        _create(database, scopes["registrar"], bad, status="complete")
    assert refused.value.check is not None
    assert "discharge_date:rule1" in str(refused.value)
    assert _create(database, scopes["registrar"], bad).status == "draft"  # a draft saves
    assert _create(database, scopes["registrar"], status="complete").status == "complete"


def test_stale_version_is_refused_and_nothing_written(
    database: Database, scopes: dict[str, AccessScope]
) -> None:
    registrar = scopes["registrar"]
    saved = _create(database, registrar, status="complete")  # its changes move the version
    second = _update(database, registrar, saved.registration_id, 1, {"age": "75"}, reason="x")
    assert second.version == 2
    before = _data_version(database)
    with pytest.raises(StaleRecord) as stale:
        _update(database, registrar, saved.registration_id, 1, {"age": "76"}, reason="x")
    assert stale.value.current_version == 2
    assert _stored(database, saved.registration_id).values["age"] == 75
    assert _data_version(database) == before
    assert len(_events(database, "registration.update")) == 1


def test_concurrent_updates_exactly_one_wins(
    database: Database, scopes: dict[str, AccessScope]
) -> None:
    registrar = scopes["registrar"]
    saved = _create(database, registrar)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def save(age: str) -> None:
        barrier.wait()
        try:
            _update(database, registrar, saved.registration_id, 1, {"age": age})
            outcomes.append("saved " + age)
        except StaleRecord:
            outcomes.append("stale")

    threads = [threading.Thread(target=save, args=(age,)) for age in ("80", "81")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes)[-1].startswith("stale") and outcomes.count("stale") == 1
    winner = next(o for o in outcomes if o != "stale").split()[1]
    stored = _stored(database, saved.registration_id)
    assert (stored.version, stored.values["age"]) == (2, int(winner))
    assert len(_events(database, "registration.update")) == 1


def test_editing_complete_needs_reason_and_audits_changes(
    database: Database, scopes: dict[str, AccessScope]
) -> None:
    registrar = scopes["registrar"]
    saved = _create(database, registrar, status="complete")
    with pytest.raises(RecordRejected, match="reason"):
        _update(database, registrar, saved.registration_id, 1, {"age": "75"})
    updated = _update(database, registrar, saved.registration_id, 1, {"age": "75"}, reason="typo")
    assert (updated.version, updated.status) == (2, "complete")
    [event] = _events(database, "registration.update")
    assert event.details["changes"] == {"age": {"old": 74, "new": 75}}
    assert event.details["reason"] == "typo"
    assert NATIONAL_ID not in str(event.details)
    assert _data_version(database) == 2


def test_draft_to_complete_needs_acknowledged_warnings(
    database: Database, scopes: dict[str, AccessScope]
) -> None:
    registrar = scopes["registrar"]
    saved = _create(database, registrar, {**COMPLETE, "age": "104"})
    with pytest.raises(RecordRejected, match="age:rule1"):
        _update(database, registrar, saved.registration_id, 1, {}, status="complete")
    done = _update(
        database, registrar, saved.registration_id, 1, {}, status="complete",
        acknowledged={"age:rule1"},
    )  # fmt: skip
    assert done.status == "complete"
    [event] = _events(database, "registration.update")
    assert event.details["status"] == {"old": "draft", "new": "complete"}


def test_locked_changes_only_by_admin_with_reason(
    database: Database, scopes: dict[str, AccessScope]
) -> None:
    registrar, admin = scopes["registrar"], scopes["admin"]
    saved = _create(database, registrar, status="complete")
    with pytest.raises(AccessDenied):
        _update(database, registrar, saved.registration_id, 1, {}, status="locked")
    locked = _update(database, admin, saved.registration_id, 1, {}, status="locked")
    assert locked.status == "locked"
    with pytest.raises(AccessDenied):
        _update(database, registrar, saved.registration_id, 2, {"age": "75"}, reason="x")
    with pytest.raises(RecordRejected, match="reason"):
        _update(database, admin, saved.registration_id, 2, {"age": "75"})
    changed = _update(database, admin, saved.registration_id, 2, {"age": "75"}, reason="audit")
    assert (changed.status, changed.version) == ("locked", 3)


def test_update_refused_for_clinician(database: Database, scopes: dict[str, AccessScope]) -> None:
    saved = _create(database, scopes["registrar"])
    with pytest.raises(AccessDenied):
        _update(database, scopes["clinician"], saved.registration_id, 1, {"age": "75"})


def test_delete(database: Database, scopes: dict[str, AccessScope]) -> None:
    registrar, admin = scopes["registrar"], scopes["admin"]
    draft = _create(database, registrar)
    complete = _create(database, registrar, status="complete")
    with pytest.raises(AccessDenied):
        delete_registration(database, registrar, complete.registration_id, 1)
    with pytest.raises(RecordRejected, match="reason"):
        delete_registration(database, admin, complete.registration_id, 1)
    delete_registration(database, registrar, draft.registration_id, 1)
    delete_registration(database, admin, complete.registration_id, 1, reason="duplicate")
    events = _events(database, "registration.delete")
    assert [e.details["status"] for e in events] == ["draft", "complete"]
    assert "age" in events[0].details["fields"]
    with database.reading() as session:
        assert session.scalar(select(Registration.id)) is None
    assert _data_version(database) == 2  # the complete record's creation and deletion
