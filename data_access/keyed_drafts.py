"""A draft registration known by its key in an outside system: made once, updated after.

A hospital system that sends the same stay again (a FHIR bundle with the same Encounter
identifier) must update the draft it made, never add a second one. The import keys
(`models_import.ImportKey`, shared with the file importer in `imports.py`) remember which
registration a (registry, source, source key) became.

Unlike a file import, this is one record saved by the rules of a draft form: values that
break a record rule are stored and reported (the registrar completes the draft), and only
input that cannot be read is refused. Two refusals are this command's own: a value the form's
logic hides, which would otherwise vanish unseen (`HiddenValues`), and a key that names a
registration the sent stay cannot be (another patient, another unit, or no longer a draft:
`KeyConflict`). Everything is checked first; then the registration, its key and its audit
event (`registration.create` or `registration.update`, with the source and key) are written
in one transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from data_access.access import AccessDenied, AccessScope
from data_access.database import Database
from data_access.import_writes import stored_records
from data_access.models import Registry
from data_access.models_import import ImportKey
from data_access.patient_identity import pseudonym
from data_access.record_commands import (
    IdentityKeys,
    RecordRejected,
    SaveResult,
    change_registration,
    insert_registration,
)
from entry.dictionary_model import Dictionary
from entry.national_id import parse_national_id
from entry.record_rules import RecordCheck, check_values, read_document

ConflictReason = Literal["patient", "unit", "status", "concurrent"]


@dataclass(frozen=True)
class KeyedSave:
    saved: SaveResult
    created: bool


class HiddenValues(RecordRejected):
    """Values were given for fields the form's logic hides; `variables` names them."""

    def __init__(self, variables: Collection[str], check: RecordCheck) -> None:
        super().__init__(f"hidden by the form's logic: {', '.join(sorted(variables))}", check)
        self.variables = tuple(sorted(variables))


class KeyConflict(RecordRejected):
    """The key names a registration this save cannot change; `reason` says why."""

    def __init__(self, reason: ConflictReason) -> None:
        super().__init__(f"the source key belongs elsewhere: {reason}")
        self.reason: ConflictReason = reason


def save_keyed_draft(
    database: Database,
    scope: AccessScope,
    registry_key: str,
    source: str,
    source_key: str,
    unit_id: int,
    national_id: str,
    values: Mapping[str, object],
    dictionary: Dictionary,
    keys: IdentityKeys,
    *,
    event_date_variable: str,
    about: Mapping[str, object] | None = None,
    today: date | None = None,
) -> KeyedSave:
    """Create the draft for `source_key`, or overlay `values` on the draft it already names.

    Raises `AccessDenied` (no registrar grant on the unit, or on the keyed registration's),
    `InvalidNationalId`, `KeyConflict`, `HiddenValues` or `RecordRejected`; on any of them
    nothing is written. `about` joins the audit event's `import` details.
    """
    if not scope.may_edit_records(registry_key, unit_id):
        raise AccessDenied("saving a draft needs a registrar grant covering the unit")
    digits = parse_national_id(national_id).digits
    today = today or date.today()
    audit_details = {"import": {"source": source, "source_key": source_key, **(about or {})}}
    with database.transaction() as session:
        registry_id = session.scalar(select(Registry.id).where(Registry.key == registry_key))
        if registry_id is None:
            raise RecordRejected(f"unknown registry {registry_key!r}")
        keyed = stored_records(session, registry_id, source, [source_key]).get(source_key)
        if keyed is None:
            check = _draft_check(dictionary, values, frozenset(), values, today)
            event_date = check.values.get(event_date_variable)
            if not isinstance(event_date, date):
                raise RecordRejected(f"the event date ({event_date_variable}) is needed", check)
            saved = insert_registration(
                session, scope, registry_key, unit_id, digits, check, keys,
                event_date=event_date, status="draft", audit_details=audit_details,
            )  # fmt: skip
            session.add(
                ImportKey(
                    registry_id=registry_id,
                    source=source,
                    source_key=source_key,
                    registration_id=saved.registration_id,
                )
            )
            try:
                session.flush()
            except IntegrityError:  # the same key saved at this moment by another request
                raise KeyConflict("concurrent") from None
            return KeyedSave(saved, created=True)

        if not scope.may_edit_records(registry_key, keyed.unit_id):
            raise AccessDenied("the keyed registration is outside the caller's units")
        if keyed.pseudonym != pseudonym(digits, keys.pseudonym_key):
            raise KeyConflict("patient")
        if keyed.unit_id != unit_id:
            raise KeyConflict("unit")
        if keyed.status != "draft":
            raise KeyConflict("status")
        old_values, acknowledged = read_document(keyed.document)
        _draft_check(dictionary, {**old_values, **values}, acknowledged, values, today)
        saved = change_registration(
            session, scope, keyed.registration_id, keyed.version, values, dictionary,
            event_date_variable=event_date_variable, today=today, audit_details=audit_details,
        )  # fmt: skip
        return KeyedSave(saved, created=False)


def _draft_check(
    dictionary: Dictionary,
    values: Mapping[str, object],
    acknowledged: frozenset[str],
    given: Mapping[str, object],
    today: date,
) -> RecordCheck:
    """The record checked as a draft; refused if unreadable or if logic hides a given value."""
    check = check_values(
        dictionary, values, target_status="draft", acknowledged=acknowledged, today=today
    )
    if not check.storable:
        names = ", ".join(sorted({i.rule for i in check.errors if i.blocks_draft}))
        raise RecordRejected(f"the record cannot be saved as draft: {names}", check)
    hidden = {name for name, value in given.items() if value is not None} & check.skipped
    if hidden:
        raise HiddenValues(hidden, check)
    return check
