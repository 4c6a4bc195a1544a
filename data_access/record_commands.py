"""Saving registrations: the commands every door (forms, REST API, importers) goes through.

Each command validates everything first (access, national id, values by
`entry.record_rules`, status transition, reason, version) and only then writes, in one
transaction together with its audit event and the bump of the registry's data version, so a
change is either whole and audited or absent.

Concurrent edits are caught by the version number: an update names the version it was
based on, and the UPDATE statement itself carries `WHERE version = expected`, so of two
saves of the same version exactly one changes a row and the other gets `StaleRecord` with
the version that is now current, and nothing of it is written: no update is ever lost.

Statuses: draft → complete → locked. Completion needs a record without errors and with every
warning acknowledged. Changing a complete record needs a reason; a locked record changes
only by an admin covering its unit, with a reason (an admin may also unlock it to
complete). The audit log never holds the national id: the patient is named by its row id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Final, Literal

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from data_access import audit
from data_access.access import AccessDenied, AccessScope
from data_access.database import Database
from data_access.models import PUBLISHED_STATUSES, Patient, Registration, Registry, utc_now
from data_access.patient_identity import NationalIdCipher, pseudonym
from data_access.reference_data import stored_registry_id
from entry.dictionary_model import Dictionary
from entry.national_id import parse_national_id
from entry.record_rules import RecordCheck, TargetStatus, check_values, read_document

Status = Literal["draft", "complete", "locked"]

TRANSITIONS: Final[Mapping[str, frozenset[str]]] = {
    "draft": frozenset({"draft", "complete"}),
    "complete": frozenset({"complete", "draft", "locked"}),
    "locked": frozenset({"locked", "complete"}),
}
"""The statuses a registration may move to from each status."""


@dataclass(frozen=True)
class IdentityKeys:
    """The two keys of patient identity (see `patient_identity`): encryption and pseudonym."""

    national_id_key: bytes
    pseudonym_key: bytes

    def __repr__(self) -> str:
        return "IdentityKeys(<hidden>)"


@dataclass(frozen=True)
class SaveResult:
    """What a save did: the registration's id, its new version and status, and the findings."""

    registration_id: int
    version: int
    status: str
    check: RecordCheck
    changed: bool = True


class RecordRejected(ValueError):  # noqa: N818 - a refusal, not a fault
    """The save was refused before anything was written; `check` holds the findings if any."""

    def __init__(self, message: str, check: RecordCheck | None = None) -> None:
        super().__init__(message)
        self.check = check


class StaleRecord(RecordRejected):
    """The record changed since the caller read it; `current_version` is the version now."""

    def __init__(self, current_version: int | None) -> None:
        super().__init__(
            "the registration was changed by someone else since it was opened"
            if current_version is not None
            else "the registration no longer exists"
        )
        self.current_version = current_version


def find_or_create_patient(database: Database, national_id: str, keys: IdentityKeys) -> int:
    """The patient row id for a national id, creating the patient the first time it is seen.

    Raises `InvalidNationalId` (never repeating the id) for an id that is not valid.
    """
    digits = parse_national_id(national_id).digits
    with database.transaction() as session:
        patient_id, _ = _patient_in(session, digits, keys)
    return patient_id


def create_registration(
    database: Database,
    scope: AccessScope,
    registry_key: str,
    unit_id: int,
    national_id: str,
    values: Mapping[str, object],
    dictionary: Dictionary,
    keys: IdentityKeys,
    *,
    event_date_variable: str,
    status: TargetStatus = "draft",
    acknowledged: Iterable[str] = (),
    today: date | None = None,
) -> SaveResult:
    """A new registration at `unit_id` for the patient with `national_id`.

    Needs a registrar grant covering the unit (`AccessDenied` otherwise) and a value for the
    registry's event date variable, even in a draft: the event date places the record in
    time for lists and results. Audited as `registration.create` with the stored fields.
    """
    if not scope.may_edit_records(registry_key, unit_id):
        raise AccessDenied("creating a registration needs a registrar grant covering the unit")
    digits = parse_national_id(national_id).digits
    check = _checked(dictionary, values, status, acknowledged, today)
    event_date = _event_date(check, event_date_variable)
    with database.transaction() as session:
        return insert_registration(
            session,
            scope,
            registry_key,
            unit_id,
            digits,
            check,
            keys,
            event_date=event_date,
            status=status,
        )


def insert_registration(
    session: Session,
    scope: AccessScope,
    registry_key: str,
    unit_id: int,
    digits: str,
    check: RecordCheck,
    keys: IdentityKeys,
    *,
    event_date: date,
    status: TargetStatus,
    audit_details: Mapping[str, object] | None = None,
) -> SaveResult:
    """Write a checked new registration, its audit event and the data-version bump in the
    caller's transaction (a keyed draft writes its key in the same one). The file importer
    writes thousands at once through `import_writes` instead, with the same event details.

    The caller has checked access and values (`create_registration` shows how); this only
    writes. `audit_details` are added to the event's details (e.g. the import source).
    """
    if not scope.may_edit_records(registry_key, unit_id):
        raise AccessDenied("creating a registration needs a registrar grant covering the unit")
    registry_id = _registry_id(session, registry_key)
    patient_id, patient_created = _patient_in(session, digits, keys)
    registration = Registration(
        registry_id=registry_id,
        unit_id=unit_id,
        patient_id=patient_id,
        event_date=event_date,
        status=status,
        values=check.document(),
        created_by=scope.actor.user_id,
        updated_by=scope.actor.user_id,
    )
    session.add(registration)
    session.flush()
    bump_if_published(session, registry_id, status)
    audit.record(
        session,
        "registration.create",
        scope.actor,
        object_type="registration",
        object_id=registration.id,
        registry_id=registry_id,
        details=creation_details(
            registry_key, unit_id, patient_id, patient_created, status, check, audit_details
        ),
    )
    return SaveResult(registration.id, registration.version, status, check)


def creation_details(
    registry_key: str,
    unit_id: int,
    patient_id: int,
    patient_created: bool,
    status: str,
    check: RecordCheck,
    extra: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """The details of a `registration.create` event: where, whose, and which fields (never
    their values: the event names the record, the record holds them)."""
    return {
        "registry": registry_key,
        "unit_id": unit_id,
        "patient_id": patient_id,
        "patient_created": patient_created,
        "status": status,
        "fields": sorted(check.values),
        "skipped": sorted(check.skipped),
        "acknowledged": sorted(check.acknowledged),
        **(extra or {}),
    }


def update_registration(
    database: Database,
    scope: AccessScope,
    registration_id: int,
    expected_version: int,
    values: Mapping[str, object],
    dictionary: Dictionary,
    *,
    event_date_variable: str,
    status: Status | None = None,
    reason: str | None = None,
    acknowledged: Iterable[str] = (),
    today: date | None = None,
) -> SaveResult:
    """Change a registration's values and/or status, based on `expected_version`.

    `values` overlays the stored values: a variable given replaces the stored one (a blank
    clears it), a variable not given keeps its value. Warnings acknowledged before stay
    acknowledged while they still fire. Raises `AccessDenied`, `StaleRecord` or
    `RecordRejected`; on any of them nothing is written.
    """
    with database.transaction() as session:
        return change_registration(
            session,
            scope,
            registration_id,
            expected_version,
            values,
            dictionary,
            event_date_variable=event_date_variable,
            status=status,
            reason=reason,
            acknowledged=acknowledged,
            today=today,
        )


def change_registration(
    session: Session,
    scope: AccessScope,
    registration_id: int,
    expected_version: int,
    values: Mapping[str, object],
    dictionary: Dictionary,
    *,
    event_date_variable: str,
    status: Status | None = None,
    reason: str | None = None,
    acknowledged: Iterable[str] = (),
    today: date | None = None,
    audit_details: Mapping[str, object] | None = None,
) -> SaveResult:
    """`update_registration` inside the caller's transaction (a keyed draft or a PROM answer
    writes more in the same one); raises the same refusals, and the caller's transaction
    decides what commits. The file importer updates in bulk through `import_writes`.
    """
    reason = (reason or "").strip() or None
    registration, registry_key = _registration_with_registry(session, registration_id)
    old_status, old_document = registration.status, dict(registration.values)
    new_status = status or old_status
    _authorise(scope, registry_key, registration.unit_id, old_status, new_status)
    if registration.version != expected_version:
        raise StaleRecord(registration.version)
    if new_status not in TRANSITIONS[old_status]:
        raise RecordRejected(f"a {old_status} registration cannot become {new_status}")

    old_values, old_acknowledged = read_document(old_document)
    target: TargetStatus = "draft" if new_status == "draft" else "complete"
    check = _checked(
        dictionary,
        {**old_values, **values},
        target,
        old_acknowledged | frozenset(acknowledged),
        today,
    )
    document = check.document()
    changes = audit.field_changes(old_document, document)
    changed = bool(changes) or new_status != old_status
    only_locking = old_status == "complete" and new_status == "locked" and not changes
    if changed and old_status != "draft" and reason is None and not only_locking:
        raise RecordRejected(f"changing a {old_status} registration needs a reason", check)
    if not changed:
        return SaveResult(registration_id, expected_version, old_status, check, changed=False)
    event_date = _event_date(check, event_date_variable)

    written = session.execute(
        update(Registration)
        .where(Registration.id == registration_id, Registration.version == expected_version)
        .values(
            values=document,
            status=new_status,
            event_date=event_date,
            version=expected_version + 1,
            updated_at=utc_now(),
            updated_by=scope.actor.user_id,
        )
        .execution_options(synchronize_session=False)
    )
    if written.rowcount != 1:  # type: ignore[attr-defined]
        raise StaleRecord(_current_version(session, registration_id))
    bump_if_published(session, registration.registry_id, old_status, new_status)
    audit.record(
        session,
        "registration.update",
        scope.actor,
        object_type="registration",
        object_id=registration_id,
        registry_id=registration.registry_id,
        details=change_details(
            registry_key,
            registration.unit_id,
            expected_version + 1,
            changes,
            reason,
            (old_status, new_status),
            audit_details,
        ),
    )
    return SaveResult(registration_id, expected_version + 1, new_status, check)


def change_details(
    registry_key: str,
    unit_id: int,
    version: int,
    changes: Mapping[str, object],
    reason: str | None,
    statuses: tuple[str, str],
    extra: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """The details of a `registration.update` event: the new version, the old and new value
    of every changed field, the reason, and the status (old, new) when it moved."""
    details: dict[str, object] = {
        "registry": registry_key,
        "unit_id": unit_id,
        "version": version,
        "changes": changes,
        "reason": reason,
    }
    old_status, new_status = statuses
    if new_status != old_status:
        details["status"] = {"old": old_status, "new": new_status}
    return details | dict(extra or {})


def delete_registration(
    database: Database,
    scope: AccessScope,
    registration_id: int,
    expected_version: int,
    *,
    reason: str | None = None,
) -> None:
    """Delete a registration: a registrar may delete a draft; an admin any, with a reason.

    Audited as `registration.delete` with the names of the fields it held.
    """
    reason = (reason or "").strip() or None
    with database.transaction() as session:
        registration, registry_key = _registration_with_registry(session, registration_id)
        unit_id, old_status = registration.unit_id, registration.status
        admin = scope.may_administer(registry_key, unit_id)
        registrar = scope.may_edit_records(registry_key, unit_id) and old_status == "draft"
        if not (admin or registrar):
            raise AccessDenied(
                "deleting needs an admin covering the unit, or a registrar for a draft"
            )
        if registration.version != expected_version:
            raise StaleRecord(registration.version)
        if old_status != "draft" and reason is None:
            raise RecordRejected(f"deleting a {old_status} registration needs a reason")
        removed = session.execute(
            delete(Registration)
            .where(Registration.id == registration_id, Registration.version == expected_version)
            .execution_options(synchronize_session=False)
        )
        if removed.rowcount != 1:  # type: ignore[attr-defined]
            raise StaleRecord(_current_version(session, registration_id))
        bump_if_published(session, registration.registry_id, old_status)
        old_values, _ = read_document(registration.values)
        audit.record(
            session,
            "registration.delete",
            scope.actor,
            object_type="registration",
            object_id=registration_id,
            registry_id=registration.registry_id,
            details={
                "registry": registry_key,
                "unit_id": unit_id,
                "patient_id": registration.patient_id,
                "status": old_status,
                "fields": sorted(old_values),
                "reason": reason,
            },
        )


def _authorise(
    scope: AccessScope, registry_key: str, unit_id: int, old_status: str, new_status: str
) -> None:
    """Registrars edit drafts and complete records; locking and anything locked is for admins."""
    if "locked" in (old_status, new_status):
        if not scope.may_administer(registry_key, unit_id):
            raise AccessDenied("a locked registration is changed only by an admin of its unit")
    elif not scope.may_edit_records(registry_key, unit_id):
        raise AccessDenied("changing a registration needs a registrar grant covering the unit")


def _checked(
    dictionary: Dictionary,
    values: Mapping[str, object],
    target: TargetStatus,
    acknowledged: Iterable[str],
    today: date | None,
) -> RecordCheck:
    check = check_values(
        dictionary,
        values,
        target_status=target,
        acknowledged=frozenset(acknowledged),
        today=today or date.today(),
    )
    if not check.may_save:
        problems = (
            [*check.errors]
            if target == "complete"
            else [issue for issue in check.errors if issue.blocks_draft]
        )
        problems += [] if target == "draft" else list(check.unacknowledged)
        names = ", ".join(sorted({issue.rule for issue in problems}))
        raise RecordRejected(f"the record cannot be saved as {target}: {names}", check)
    return check


def _event_date(check: RecordCheck, variable: str) -> date:
    value = check.values.get(variable)
    if not isinstance(value, date):
        raise RecordRejected(f"the event date ({variable}) is needed to save a registration", check)
    return value


def _registry_id(session: Session, registry_key: str) -> int:
    found = stored_registry_id(session, registry_key)
    if found is None:
        raise RecordRejected(f"unknown registry {registry_key!r}")
    return found


def _patient_in(session: Session, digits: str, keys: IdentityKeys) -> tuple[int, bool]:
    """(patient id, created?) inside the caller's transaction; a racing insert is tolerated."""
    key = pseudonym(digits, keys.pseudonym_key)
    existing = session.scalar(select(Patient.id).where(Patient.pseudonym == key))
    if existing is not None:
        return existing, False
    parsed = parse_national_id(digits)
    try:
        with session.begin_nested():
            patient = Patient(
                pseudonym=key,
                national_id_encrypted=NationalIdCipher(keys.national_id_key).encrypt(digits),
                birth_date=parsed.birth_date,
                sex=parsed.sex,
            )
            session.add(patient)
            session.flush()
            return patient.id, True
    except IntegrityError:  # created meanwhile by another transaction: use that row
        found = session.scalar(select(Patient.id).where(Patient.pseudonym == key))
        if found is None:
            raise
        return found, False


def bump_if_published(session: Session, registry_id: int, *statuses: str) -> None:
    """Move the data version on when the change touches a record results count (one that is,
    or was, complete or locked). A draft's saves leave it: when every save moved it, each
    one made every worker's results and cached pages stale while registrars typed."""
    if any(status in PUBLISHED_STATUSES for status in statuses):
        bump_data_version(session, registry_id)


def bump_data_version(session: Session, registry_id: int) -> None:
    """Move the registry's data version on: cached results and snapshots of it are stale."""
    session.execute(
        update(Registry)
        .where(Registry.id == registry_id)
        .values(data_version=Registry.data_version + 1)
        .execution_options(synchronize_session=False)
    )


def _current_version(session: Session, registration_id: int) -> int | None:
    version: Any = session.scalar(
        select(Registration.version)
        .where(Registration.id == registration_id)
        .execution_options(populate_existing=True)
    )
    return None if version is None else int(version)


def _registration_with_registry(session: Session, registration_id: int) -> tuple[Registration, str]:
    """The record and its registry's key; a vanished record is as stale as a changed one."""
    found = session.execute(
        select(Registration, Registry.key)
        .join(Registry, Registry.id == Registration.registry_id)
        .where(Registration.id == registration_id)
    ).one_or_none()
    if found is None:
        raise StaleRecord(None)
    return found[0], found[1]
