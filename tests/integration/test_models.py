"""Every model survives a round trip through SQLite and PostgreSQL, constraints included."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError

from data_access.database import Database
from data_access.models import AuditEvent, Grant, Patient, Registration, Registry, Unit, User
from data_access.org_tree import read_unit_tree
from data_access.patient_identity import NationalIdCipher, generate_key, pseudonym
from data_access.reference_data import ensure_registry, read_units, sync_units

ULLEVAL_DEPARTMENT = 100032
NATIONAL_ID = "15880012345"  # shape only; the cipher does not validate


@pytest.fixture
def loaded(database: Database) -> Database:
    sync_units(database, read_unit_tree())
    ensure_registry(database, "stroke", "Hjerneslag", "Stroke")
    return database


def _registration(session, unit_id: int = ULLEVAL_DEPARTMENT) -> Registration:
    registry = session.scalar(select(Registry).where(Registry.key == "stroke"))
    patient = Patient(
        pseudonym=f"p{unit_id}",
        national_id_encrypted=b"x",
        birth_date=date(1950, 1, 1),
        sex="female",
    )
    session.add(patient)
    session.flush()
    registration = Registration(
        registry_id=registry.id,
        unit_id=unit_id,
        patient_id=patient.id,
        event_date=date(2025, 3, 1),
        status="complete",
        values={"nihss_admission": 7, "stroke_type": 1, "arrival_datetime": "2025-03-01T10:15:00"},
    )
    session.add(registration)
    session.flush()
    return registration


def test_unit_tree_round_trip(loaded: Database) -> None:
    shipped = read_unit_tree()
    stored = read_units(loaded)
    assert stored.height == shipped.height
    assert set(stored["unit_id"]) == set(shipped["unit_id"])
    with loaded.reading() as session:
        nation = session.scalar(select(Unit).where(Unit.level == "nation"))
        merged = session.scalar(select(Unit).where(Unit.merged_org_numbers != []).limit(1))
    assert nation is not None and nation.parent_id is None
    assert merged is not None and all(isinstance(n, int) for n in merged.merged_org_numbers)


def test_syncing_units_twice_changes_nothing(loaded: Database) -> None:
    before = read_units(loaded)
    sync_units(loaded, read_unit_tree())
    assert read_units(loaded).equals(before)


def test_patient_keeps_only_ciphertext_and_pseudonym(loaded: Database) -> None:
    cipher, link_key = NationalIdCipher(generate_key()), generate_key()
    with loaded.transaction() as session:
        session.add(
            Patient(
                pseudonym=pseudonym(NATIONAL_ID, link_key),
                national_id_encrypted=cipher.encrypt(NATIONAL_ID),
                birth_date=date(1900, 8, 15),
                sex="male",
            )
        )
    with loaded.reading() as session:
        stored = session.scalar(select(Patient))
    assert stored is not None
    assert NATIONAL_ID.encode() not in stored.national_id_encrypted
    assert cipher.decrypt(stored.national_id_encrypted) == NATIONAL_ID
    assert stored.pseudonym == pseudonym(NATIONAL_ID, link_key)


def test_registration_values_round_trip(loaded: Database) -> None:
    with loaded.transaction() as session:
        registration_id = _registration(session).id
    with loaded.reading() as session:
        stored = session.get(Registration, registration_id)
    assert stored is not None
    assert stored.values["nihss_admission"] == 7
    assert stored.values["arrival_datetime"] == "2025-03-01T10:15:00"
    assert stored.version == 1 and stored.status == "complete"
    assert stored.created_at.tzinfo is not None


def test_concurrent_edit_of_a_registration_fails_loudly(loaded: Database) -> None:
    """Two sessions read version 1; the second to write must fail, never overwrite.

    PostgreSQL lets the stale write run and the version column catches it (StaleDataError).
    SQLite, whose transactions now begin at the first read (`database._begin_sqlite`), refuses
    the stale writer's snapshot itself before the version check is reached (SQLITE_BUSY_SNAPSHOT,
    "database is locked"). Either way the first edit stands, as the end of the test checks.
    """
    stale: type[Exception] = (
        OperationalError if loaded.engine.dialect.name == "sqlite" else StaleDataError
    )
    with loaded.transaction() as session:
        registration_id = _registration(session).id
    with loaded.reading() as first, loaded.reading() as second:
        mine = first.get(Registration, registration_id)
        theirs = second.get(Registration, registration_id)
        assert mine is not None and theirs is not None
        mine.values = {**mine.values, "nihss_admission": 8}
        first.commit()
        theirs.values = {**theirs.values, "nihss_admission": 9}
        with pytest.raises(stale):
            second.commit()
    with loaded.reading() as session:
        final = session.get(Registration, registration_id)
    assert final is not None and final.values["nihss_admission"] == 8 and final.version == 2


@pytest.mark.parametrize(
    ("field", "value"),
    [("status", "finished"), ("unit_id", 999_999_999)],
    ids=["unknown-status", "unknown-unit"],
)
def test_registration_constraints_hold(loaded: Database, field: str, value: object) -> None:
    with pytest.raises(IntegrityError), loaded.transaction() as session:
        registration = _registration(session)
        setattr(registration, field, value)
        session.flush()


def test_grant_round_trip_and_uniqueness(loaded: Database) -> None:
    with loaded.transaction() as session:
        user = User(username="kari", display_name="Kari Nordmann")
        registry = session.scalar(select(Registry).where(Registry.key == "stroke"))
        session.add(user)
        session.flush()
        session.add(
            Grant(
                user_id=user.id,
                registry_id=registry.id,
                unit_id=ULLEVAL_DEPARTMENT,
                role="clinician",
            )
        )
    with loaded.reading() as session:
        stored = session.scalar(select(User).where(User.username == "kari"))
        assert stored is not None and [g.role for g in stored.grants] == ["clinician"]
        user_id, registry_id = stored.id, stored.grants[0].registry_id
    for role in ("clinician", "superuser"):  # a duplicate grant, then an unknown role
        with pytest.raises(IntegrityError), loaded.transaction() as session:
            session.add(
                Grant(
                    user_id=user_id, registry_id=registry_id, unit_id=ULLEVAL_DEPARTMENT, role=role
                )
            )


def test_audit_event_round_trip(loaded: Database) -> None:
    with loaded.transaction() as session:
        session.add(
            AuditEvent(
                action="login.success",
                username="kari",
                remote_addr="127.0.0.1",
                details={"method": "password"},
                previous_hash="0" * 64,
                hash="a" * 64,
            )
        )
    with loaded.reading() as session:
        event = session.scalar(select(AuditEvent))
    assert event is not None and event.details == {"method": "password"}
    assert event.occurred_at.tzinfo is not None
