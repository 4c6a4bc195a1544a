"""Reading patient-level records: the only door, and it always asks who is knocking.

DESIGN.md: "every query for patient-level data takes the caller's access scope, so a
forgotten check cannot leak records". Every function here takes an `AccessScope` and puts
the units it covers into the SQL itself, so a record outside the scope is never read, let
alone returned. What comes back is shaped for the role:

- `list_registrations` and `get_registration` (clinician, registrar) show the national id
  masked ("150380 *****"), decrypted only to be masked;
- `pseudonymised_registrations` (analyst) shows the pseudonym and the birth year instead,
  no direct identifier at all.

Every read of patient-level data is written to the audit log in the same transaction as the
read, with the registration ids shown (never their values): if the event cannot be
written, nothing is shown. `pseudonymised_registrations` records the `export` event itself
(filters and row count), so an export feature need not and should not record another; it
passes its own particulars (format, file name) as `context`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from types import MappingProxyType
from typing import Any, Final

import polars as pl
from sqlalchemy import ColumnElement, Text, and_, cast, extract, or_, select

from data_access import audit
from data_access.access import AccessDenied, AccessScope
from data_access.database import Database
from data_access.models import REGISTRATION_STATUSES, Patient, Registration, Registry
from data_access.patient_identity import NationalIdCipher
from data_access.reference_data import stored_registry_id
from entry.national_id import mask_national_id

MAX_LIST_ROWS: Final = 5_000
"""The most rows one list may show: identified records in bulk go through no list."""

_LARGEST_ID: Final = 2**63 - 1

LIST_SCHEMA: Final[dict[str, pl.DataType]] = {
    "id": pl.Int64(),
    "unit_id": pl.Int64(),
    "event_date": pl.Date(),
    "status": pl.String(),
    "version": pl.Int64(),
    "national_id_masked": pl.String(),
    "values": pl.String(),
}
"""Columns of `list_registrations`; `values` is the registration's values as JSON text."""

PSEUDONYMISED_SCHEMA: Final[dict[str, pl.DataType]] = {
    "id": pl.Int64(),
    "unit_id": pl.Int64(),
    "event_date": pl.Date(),
    "status": pl.String(),
    "pseudonym": pl.String(),
    "birth_year": pl.Int64(),
    "sex": pl.String(),
    "values": pl.String(),
}
"""Columns of `pseudonymised_registrations`: no national id, no birth date."""


@dataclass(frozen=True)
class RegistrationRecord:
    """One registration as a clinician or registrar may see it; `editable` says if they may edit.

    `values` is a read-only mapping of the registration's values by dictionary variable.
    """

    id: int
    registry_key: str
    unit_id: int
    event_date: date
    status: str
    version: int
    national_id_masked: str
    birth_date: date
    sex: str
    values: Mapping[str, Any]
    created_at: datetime
    updated_at: datetime
    editable: bool


def list_registrations(
    database: Database,
    scope: AccessScope,
    registry_key: str,
    *,
    national_id_key: bytes,
    unit_ids: Iterable[int] | None = None,
    statuses: Iterable[str] | None = None,
    period: tuple[date, date] | None = None,
    limit: int = 500,
) -> pl.DataFrame:
    """The registrations the caller may read, newest event first, at most `limit` rows.

    Only units covered by the caller's clinician or registrar grants are read. `unit_ids`
    narrows that further: ids outside the scope are dropped without a word, so naming
    another unit's id yields nothing from it and tells nothing about it. `period` is
    inclusive at both ends. Always audited as `registration.list` with the filters as asked
    and the ids shown, an empty result included.
    """
    wanted_statuses = _checked_statuses(statuses)
    _check_period(period)
    if not 1 <= limit <= MAX_LIST_ROWS:
        raise ValueError(f"limit must be from 1 to {MAX_LIST_ROWS}, not {limit}")
    requested = None if unit_ids is None else frozenset(unit_ids)
    readable = scope.units(registry_key, "clinician", "registrar")
    units = readable if requested is None else readable & requested
    cipher = NationalIdCipher(national_id_key)

    with database.transaction() as session:
        registry_id = stored_registry_id(session, registry_key)
        rows: list[tuple[Any, ...]] = []
        if registry_id is not None and units:
            query = (
                select(
                    Registration.id,
                    Registration.unit_id,
                    Registration.event_date,
                    Registration.status,
                    Registration.version,
                    Patient.national_id_encrypted,
                    cast(Registration.values, Text),
                )
                .join(Patient, Patient.id == Registration.patient_id)
                .where(*_conditions(registry_id, units, wanted_statuses, period))
                .order_by(Registration.event_date.desc(), Registration.id.desc())
                .limit(limit)
            )
            rows = [tuple(row) for row in session.execute(query)]
        shown = [(*row[:5], mask_national_id(cipher.decrypt(row[5])), row[6]) for row in rows]
        audit.record(
            session,
            "registration.list",
            scope.actor,
            object_type="registration",
            registry_id=registry_id,
            details={
                "registry": registry_key,
                "filters": _filters_for_audit(requested, wanted_statuses, period, limit),
                "registration_ids": [row[0] for row in shown],
            },
        )
    return pl.DataFrame(shown, schema=LIST_SCHEMA, orient="row")


def get_registration(
    database: Database, scope: AccessScope, registration_id: int, national_id_key: bytes
) -> RegistrationRecord | None:
    """One registration, or None when it does not exist or lies outside the caller's scope.

    The two cases are deliberately the same answer (same query, no event), so ids cannot be
    probed. A registration that is returned is audited as `registration.view`.
    """
    readable = readable_records(scope, registration_id)
    if readable is None:
        return None
    cipher = NationalIdCipher(national_id_key)
    with database.transaction() as session:
        found = session.execute(
            select(Registration, Registry.key, Patient)
            .join(Registry, Registry.id == Registration.registry_id)
            .join(Patient, Patient.id == Registration.patient_id)
            .where(readable)
        ).one_or_none()
        if found is None:
            return None
        registration, registry_key, patient = found
        record = RegistrationRecord(
            id=registration.id,
            registry_key=registry_key,
            unit_id=registration.unit_id,
            event_date=registration.event_date,
            status=registration.status,
            version=registration.version,
            national_id_masked=mask_national_id(cipher.decrypt(patient.national_id_encrypted)),
            birth_date=patient.birth_date,
            sex=patient.sex,
            values=MappingProxyType(json.loads(json.dumps(registration.values))),
            created_at=registration.created_at,
            updated_at=registration.updated_at,
            editable=scope.may_edit_records(registry_key, registration.unit_id),
        )
        audit.record(
            session,
            "registration.view",
            scope.actor,
            object_type="registration",
            object_id=registration.id,
            registry_id=registration.registry_id,
            details={"registry": registry_key, "unit_id": registration.unit_id},
        )
    return record


def readable_records(scope: AccessScope, registration_id: object) -> ColumnElement[bool] | None:
    """The WHERE condition "this registration, if the caller may read its records" (joined
    with `Registry`), or None when nothing can match: a caller without a clinician or
    registrar grant, or an id that is no registration id (as a forged request may send)."""
    readable = [
        and_(Registry.key == registry_key, Registration.unit_id.in_(sorted(units)))
        for registry_key in scope.roles
        if (units := scope.units(registry_key, "clinician", "registrar"))
    ]
    valid_id = (
        isinstance(registration_id, int)
        and not isinstance(registration_id, bool)
        and 0 < registration_id <= _LARGEST_ID
    )
    if not readable or not valid_id:
        return None
    return and_(Registration.id == registration_id, or_(*readable))


def pseudonymised_registrations(
    database: Database,
    scope: AccessScope,
    registry_key: str,
    *,
    statuses: Iterable[str] | None = None,
    period: tuple[date, date] | None = None,
    context: Mapping[str, object] | None = None,
) -> pl.DataFrame:
    """Pseudonymised records for an analyst: pseudonym and birth year instead of identity.

    Covers the units of the caller's analyst grants (the whole registry for a grant on the
    nation). Raises `AccessDenied` without an analyst grant in the registry. Audited as
    `export` with the filters, the row count and the caller's `context` (format, file name).
    """
    if not scope.may_export(registry_key):
        raise AccessDenied("exporting records needs an analyst grant in the registry")
    wanted_statuses = _checked_statuses(statuses)
    _check_period(period)
    units = scope.units(registry_key, "analyst")

    with database.transaction() as session:
        registry_id = stored_registry_id(session, registry_key)
        rows: list[tuple[Any, ...]] = []
        if registry_id is not None:
            query = (
                select(
                    Registration.id,
                    Registration.unit_id,
                    Registration.event_date,
                    Registration.status,
                    Patient.pseudonym,
                    extract("year", Patient.birth_date),
                    Patient.sex,
                    cast(Registration.values, Text),
                )
                .join(Patient, Patient.id == Registration.patient_id)
                .where(*_conditions(registry_id, units, wanted_statuses, period))
                .order_by(Registration.id)
            )
            rows = [tuple(row) for row in session.execute(query)]
        audit.record(
            session,
            "export",
            scope.actor,
            object_type="registration",
            registry_id=registry_id,
            details={
                "registry": registry_key,
                "kind": "pseudonymised_registrations",
                "filters": _filters_for_audit(None, wanted_statuses, period, None),
                "rows": len(rows),
                "context": dict(context or {}),
            },
        )
    return pl.DataFrame(rows, schema=PSEUDONYMISED_SCHEMA, orient="row")


def _checked_statuses(statuses: Iterable[str] | None) -> frozenset[str] | None:
    if statuses is None:
        return None
    wanted = frozenset(statuses)
    unknown = wanted - set(REGISTRATION_STATUSES)
    if unknown:
        raise ValueError(
            f"unknown status(es) {', '.join(sorted(map(str, unknown)))}; "
            f"expected some of {', '.join(REGISTRATION_STATUSES)}"
        )
    return wanted


def _check_period(period: tuple[date, date] | None) -> None:
    if period is not None and period[0] > period[1]:
        raise ValueError(f"the period starts ({period[0]}) after it ends ({period[1]})")


def _conditions(
    registry_id: int,
    units: frozenset[int],
    statuses: frozenset[str] | None,
    period: tuple[date, date] | None,
) -> list[ColumnElement[bool]]:
    """WHERE conditions: the registry, the units in scope, and the optional filters."""
    conditions = [
        Registration.registry_id == registry_id,
        Registration.unit_id.in_(sorted(units)),
    ]
    if statuses is not None:
        conditions.append(Registration.status.in_(sorted(statuses)))
    if period is not None:
        conditions.append(Registration.event_date.between(period[0], period[1]))
    return conditions


def _filters_for_audit(
    unit_ids: frozenset[int] | None,
    statuses: frozenset[str] | None,
    period: tuple[date, date] | None,
    limit: int | None,
) -> dict[str, object]:
    """The filters as the caller asked for them (forged unit ids too: they show intent)."""
    filters: dict[str, object] = {}
    if unit_ids is not None:
        numbers = sorted(unit_id for unit_id in unit_ids if isinstance(unit_id, int))
        others = sorted(str(unit_id) for unit_id in unit_ids if not isinstance(unit_id, int))
        filters["unit_ids"] = [*numbers, *others]
    if statuses is not None:
        filters["statuses"] = sorted(statuses)
    if period is not None:
        filters["period"] = [period[0].isoformat(), period[1].isoformat()]
    if limit is not None:
        filters["limit"] = limit
    return filters
