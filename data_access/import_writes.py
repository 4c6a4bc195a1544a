"""Writing an import's checked rows in bulk: a few statements per batch, not several per row.

`imports.import_rows` checks every row first; this module writes a batch of the good ones
inside its transaction, doing for each what `record_commands` does for one record: the
patient (found by pseudonym, or created with the encrypted id), the registration or its
update (only where something changed, and only if it is still the version that was read),
the import key, and a `registration.create` or `registration.update` event with the same
details (`creation_details`, `change_details`). Rows go as Core executemany statements and
the batch's events as one append to the audit chain (`audit.record_many`), so ten thousand
rows take seconds instead of minutes. The caller bumps the data version once per import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal, NamedTuple

import polars as pl
from sqlalchemy import Insert, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from data_access import audit
from data_access.access import AccessScope
from data_access.models import Patient, Registration, utc_now
from data_access.models_import import ImportKey
from data_access.patient_identity import NationalIdCipher, pseudonyms
from data_access.record_commands import (
    IdentityKeys,
    StaleRecord,
    Status,
    change_details,
    creation_details,
)
from entry.national_id import NationalId
from entry.record_rules import RecordCheck

WriteAction = Literal["create", "update", "unchanged"]


@dataclass(frozen=True)
class StoredRecord:
    """The registration a source key already points to, as read before the checks."""

    registration_id: int
    version: int
    status: str
    unit_id: int
    pseudonym: str
    document: dict[str, object] = field(default_factory=dict)


def stored_records(
    session: Session, registry_id: int, source: str, source_keys: Sequence[str] | None = None
) -> dict[str, StoredRecord]:
    """The registrations this source's keys already point to, by source key: every key of
    the source (a file import), or only `source_keys` (one record sent by a system)."""
    query = (
        select(
            ImportKey.source_key,
            Registration.id,
            Registration.version,
            Registration.status,
            Registration.unit_id,
            Patient.pseudonym,
            Registration.values,
        )
        .join(Registration, Registration.id == ImportKey.registration_id)
        .join(Patient, Patient.id == Registration.patient_id)
        .where(ImportKey.registry_id == registry_id, ImportKey.source == source)
    )
    if source_keys is not None:
        query = query.where(ImportKey.source_key.in_(source_keys))
    return {
        key: StoredRecord(rid, version, status, unit, patient, dict(values))
        for key, rid, version, status, unit, patient, values in session.execute(query).all()
    }


@dataclass(frozen=True)
class PlannedRow:
    """A good row, checked: create a registration when `existing` is None, else update it."""

    row: int
    source_key: str
    unit_id: int
    national_id: NationalId
    check: RecordCheck
    event_date: date
    existing: StoredRecord | None = None


@dataclass(frozen=True)
class ImportTarget:
    """Who writes, into which registry, from which source, and how new and changed records
    are stored (`status` of new records, `reason` of changes to complete ones)."""

    scope: AccessScope
    registry_key: str
    registry_id: int
    source: str
    keys: IdentityKeys
    status: Status
    reason: str


class Written(NamedTuple):
    row: int
    action: WriteAction
    registration_id: int


_Event = tuple[str, audit.Subject]


def write_batch(
    session: Session, target: ImportTarget, plans: Sequence[PlannedRow]
) -> list[Written]:
    """Write `plans` and audit each created or changed record, in row order."""
    events: dict[int, _Event] = {}
    written = _create(session, target, [p for p in plans if p.existing is None], events)
    written += _change(session, target, [p for p in plans if p.existing is not None], events)
    audit.record_many(session, target.scope.actor, [events[row] for row in sorted(events)])
    return sorted(written)


def _create(
    session: Session, target: ImportTarget, plans: Sequence[PlannedRow], events: dict[int, _Event]
) -> list[Written]:
    if not plans:
        return []
    patients = _patients(session, target.keys, [plan.national_id for plan in plans])
    user_id = target.scope.actor.user_id
    connection = session.connection()
    registration_ids = connection.scalars(
        insert(Registration).returning(Registration.id, sort_by_parameter_order=True),
        [
            {
                "registry_id": target.registry_id,
                "unit_id": plan.unit_id,
                "patient_id": patients[plan.national_id.digits][0],
                "event_date": plan.event_date,
                "status": target.status,
                "values": plan.check.document(),
                "created_by": user_id,
                "updated_by": user_id,
            }
            for plan in plans
        ],
    ).all()
    connection.execute(
        insert(ImportKey),
        [
            {
                "registry_id": target.registry_id,
                "source": target.source,
                "source_key": plan.source_key,
                "registration_id": registration_id,
            }
            for plan, registration_id in zip(plans, registration_ids, strict=True)
        ],
    )
    new_patients = {digits for digits, (_, created) in patients.items() if created}
    for plan, registration_id in zip(plans, registration_ids, strict=True):
        digits = plan.national_id.digits
        patient_id = patients[digits][0]
        created = digits in new_patients  # only the first episode of a new patient says so
        new_patients.discard(digits)
        details = creation_details(
            target.registry_key,
            plan.unit_id,
            patient_id,
            created,
            target.status,
            plan.check,
            _about(target, plan),
        )
        events[plan.row] = ("registration.create", _subject(target, registration_id, details))
    return [
        Written(plan.row, "create", registration_id)
        for plan, registration_id in zip(plans, registration_ids, strict=True)
    ]


def _change(
    session: Session, target: ImportTarget, plans: Sequence[PlannedRow], events: dict[int, _Event]
) -> list[Written]:
    """Update the records whose document or status differs; the rest stay as they are."""
    written: list[Written] = []
    updates: list[dict[str, Any]] = []
    now = utc_now()
    for plan in plans:
        before = plan.existing
        assert before is not None
        new_status = "complete" if "complete" in (target.status, before.status) else "draft"
        document = plan.check.document()
        changes = audit.field_changes(before.document, document)
        if not changes and new_status == before.status:
            written.append(Written(plan.row, "unchanged", before.registration_id))
            continue
        updates.append(
            {
                "target_id": before.registration_id,
                "expected": before.version,
                "new_values": document,
                "new_status": new_status,
                "new_event_date": plan.event_date,
                "new_version": before.version + 1,
                "now": now,
            }
        )
        details = change_details(
            target.registry_key,
            before.unit_id,
            before.version + 1,
            changes,
            target.reason,
            (before.status, new_status),
            _about(target, plan),
        )
        events[plan.row] = (
            "registration.update",
            _subject(target, before.registration_id, details),
        )
        written.append(Written(plan.row, "update", before.registration_id))
    if updates:
        _update(session, target, updates)
    return written


def _update(session: Session, target: ImportTarget, updates: list[dict[str, Any]]) -> None:
    """Each UPDATE carries `WHERE version = expected`: a record changed since it was read
    stops the whole import (`StaleRecord`), as a form's save would stop."""
    statement = (
        update(Registration)
        .where(
            Registration.id == bindparam("target_id"),
            Registration.version == bindparam("expected"),
        )
        .values(
            values=bindparam("new_values"),
            status=bindparam("new_status"),
            event_date=bindparam("new_event_date"),
            version=bindparam("new_version"),
            updated_at=bindparam("now"),
            updated_by=target.scope.actor.user_id,
        )
    )
    result = session.connection().execute(statement, updates)
    if result.rowcount != len(updates):
        expected = {u["target_id"]: u["expected"] for u in updates}
        current = session.execute(
            select(Registration.id, Registration.version).where(Registration.id.in_(expected))
        )
        found = {rid: version for rid, version in current}
        stale = next(rid for rid in expected if found.get(rid) != expected[rid] + 1)
        raise StaleRecord(found.get(stale))


def _patients(
    session: Session, keys: IdentityKeys, national_ids: Sequence[NationalId]
) -> dict[str, tuple[int, bool]]:
    """(patient id, created here?) by national id digits: found by pseudonym, else created.

    A patient inserted meanwhile by another transaction is not an error: the insert skips
    it (ON CONFLICT DO NOTHING) and it is read back like any other existing patient.
    """
    unique = {national_id.digits: national_id for national_id in national_ids}
    digits = pl.Series(list(unique), dtype=pl.String)
    keyed = dict(zip(pseudonyms(digits, keys.pseudonym_key), unique, strict=True))
    found = _patient_ids(session, list(keyed))
    missing = [key for key in keyed if key not in found]
    created: set[str] = set()
    if missing:
        cipher = NationalIdCipher(keys.national_id_key)
        rows = [
            {
                "pseudonym": key,
                "national_id_encrypted": cipher.encrypt(keyed[key]),
                "birth_date": unique[keyed[key]].birth_date,
                "sex": unique[keyed[key]].sex,
            }
            for key in missing
        ]
        statement = _insert_or_skip(session, "pseudonym").returning(Patient.id, Patient.pseudonym)
        result = session.connection().execute(statement, rows)
        inserted = {key: patient_id for patient_id, key in result}
        created = set(inserted)
        found |= inserted
        if len(created) < len(missing):
            found |= _patient_ids(session, [key for key in missing if key not in inserted])
    return {digits: (found[key], key in created) for key, digits in keyed.items()}


def _patient_ids(session: Session, pseudonyms_: Sequence[str]) -> dict[str, int]:
    if not pseudonyms_:
        return {}
    rows = session.execute(
        select(Patient.pseudonym, Patient.id).where(Patient.pseudonym.in_(pseudonyms_))
    )
    return {key: patient_id for key, patient_id in rows}


def _insert_or_skip(session: Session, unique_column: str) -> Insert:
    """INSERT … ON CONFLICT DO NOTHING, which both databases speak (each its own construct)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(Patient).on_conflict_do_nothing(index_elements=[unique_column])
    return sqlite.insert(Patient).on_conflict_do_nothing(index_elements=[unique_column])


def _about(target: ImportTarget, plan: PlannedRow) -> Mapping[str, object]:
    return {"import": {"source": target.source, "source_key": plan.source_key, "row": plan.row}}


def _subject(
    target: ImportTarget, registration_id: int, details: Mapping[str, object]
) -> audit.Subject:
    return {
        "object_type": "registration",
        "object_id": registration_id,
        "registry_id": target.registry_id,
        "details": details,
    }
