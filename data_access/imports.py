"""Importing many registrations from a file in one transaction: all checked, then all written.

`import_rows` first checks every row by the form rules (`entry.record_rules.check_values`),
the caller's grants and the import keys, and only then writes, in ONE transaction, each good
row with its own audit event (`registration.create` or `registration.update` with old and
new values) and a closing `import.run` event with the counts and the bad rows' numbers. A
crash or kill anywhere leaves the database as it was; a preview writes nothing at all.

A row of a source is known by its key there: `import_keys` maps (registry, source, source
key) to the registration it became, so importing the row again updates that registration
(only if something changed) instead of adding a second one.

What makes a row bad is stricter than what a draft form may save: a draft may hold values
that break the rules, but an import stores no value that breaks one. Only missing required
fields are allowed in drafts (the registrar completes them); with status complete, every
error and every warning counts (a warning cannot be acknowledged in a file).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Final, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from data_access import audit
from data_access.access import AccessScope
from data_access.database import Database
from data_access.models import Patient, Registration, Registry
from data_access.models_import import ImportKey
from data_access.patient_identity import pseudonym
from data_access.record_commands import (
    IdentityKeys,
    RecordRejected,
    Status,
    change_registration,
    insert_registration,
)
from entry.dictionary_model import Dictionary, Text
from entry.import_mapping import SourceRow
from entry.national_id import InvalidNationalId, parse_national_id
from entry.record_rules import RecordCheck, TargetStatus, check_values, read_document

ImportMode = Literal["preview", "valid_only", "all_or_nothing"]
Action = Literal["create", "update", "unchanged", "skipped"]
MODES: Final = ("preview", "valid_only", "all_or_nothing")

_MESSAGES: Final = {
    "source_key": Text("Kildenøkkelen mangler.", "The source key is missing."),
    "duplicate": Text(
        "Kildenøkkelen finnes også i rad {first}.", "The source key is also in row {first}."
    ),
    "national_id": Text("Ugyldig fødselsnummer: {reason}.", "Invalid national id: {reason}."),
    "patient": Text(
        "Kildenøkkelen hører til en registrering for en annen pasient.",
        "The source key belongs to a registration of another patient.",
    ),
    "unit": Text("Enheten må være et enhetsnummer.", "The unit must be a unit id."),
    "access": Text(
        "Du har ikke registratortilgang til enhet {unit}.",
        "You have no registrar grant covering unit {unit}.",
    ),
    "moved": Text(
        "Registreringen hører til enhet {unit}; en import kan ikke flytte den.",
        "The registration belongs to unit {unit}; an import cannot move it.",
    ),
    "locked": Text(
        "Registreringen er låst og kan ikke endres ved import.",
        "The registration is locked and cannot be changed by an import.",
    ),
    "event_date": Text(
        "Hendelsesdatoen ({variable}) må fylles ut.",
        "The event date ({variable}) is needed.",
    ),
}


@dataclass(frozen=True)
class RowProblem:
    """Why one field of one row cannot be imported; `field` is a variable or a key column."""

    row: int
    field: str
    rule: str
    message: Text


@dataclass(frozen=True)
class RowOutcome:
    row: int
    source_key: str
    action: Action
    registration_id: int | None = None


@dataclass(frozen=True)
class ImportReport:
    """What an import found and (unless `written` is false) did."""

    source: str
    mode: ImportMode
    rows: int
    problems: tuple[RowProblem, ...]
    outcomes: tuple[RowOutcome, ...]
    written: bool

    @property
    def bad_rows(self) -> tuple[int, ...]:
        return tuple(sorted({problem.row for problem in self.problems}))

    def count(self, action: Action) -> int:
        return sum(1 for outcome in self.outcomes if outcome.action == action)


@dataclass
class _Plan:
    """A good row, checked: create when `existing` is None, otherwise update it."""

    row: SourceRow
    unit_id: int
    digits: str
    check: RecordCheck
    event_date: date
    existing: _Existing | None = None


@dataclass(frozen=True)
class _Existing:
    registration_id: int
    version: int
    status: str
    unit_id: int
    pseudonym: str
    document: dict[str, object] = field(default_factory=dict)


def import_rows(
    database: Database,
    scope: AccessScope,
    registry_key: str,
    source: str,
    rows: Sequence[SourceRow],
    dictionary: Dictionary,
    keys: IdentityKeys,
    *,
    event_date_variable: str,
    mode: ImportMode = "preview",
    status: TargetStatus = "draft",
    reason: str | None = None,
    today: date | None = None,
    after_write: Callable[[int], None] | None = None,
) -> ImportReport:
    """Check every row, then (unless previewing) write the good ones, all in one transaction.

    `mode`: "preview" writes nothing; "valid_only" writes the good rows and skips the bad;
    "all_or_nothing" writes nothing if any row is bad. New rows get `status`; existing ones
    keep theirs (a draft becomes complete if `status` is complete). Changes to complete
    records are audited with `reason` (by default "import from <source>").
    `after_write(row)` runs after each written row, inside the transaction (tests use it to
    fail mid-way).
    """
    if mode not in MODES:
        raise ValueError(f"unknown import mode {mode!r}")
    today = today or date.today()
    with database.transaction() as session:
        registry_id = session.scalar(select(Registry.id).where(Registry.key == registry_key))
        if registry_id is None:
            raise RecordRejected(f"unknown registry {registry_key!r}")
        existing = _existing(session, registry_id, source)
        problems: list[RowProblem] = []
        plans: list[_Plan] = []
        first_row: dict[str, int] = {}
        for row in rows:
            found, plan = _checked_row(
                row,
                scope,
                registry_key,
                dictionary,
                keys,
                existing,
                first_row,
                event_date_variable=event_date_variable,
                status=status,
                today=today,
            )
            problems.extend(found)
            if plan is not None:
                plans.append(plan)
        bad = {problem.row for problem in problems}
        skipped = [RowOutcome(r.row, r.source_key, "skipped") for r in rows if r.row in bad]
        if mode == "preview" or (mode == "all_or_nothing" and problems):
            planned = [
                RowOutcome(
                    p.row.row, p.row.source_key, "create" if p.existing is None else "update"
                )
                for p in plans
            ]
            return ImportReport(
                source, mode, len(rows), tuple(problems), (*planned, *skipped), False
            )

        outcomes = [
            _write(
                session,
                scope,
                registry_key,
                registry_id,
                source,
                plan,
                dictionary,
                keys,
                event_date_variable=event_date_variable,
                status=status,
                reason=reason or f"import from {source}",
                today=today,
                after_write=after_write,
            )
            for plan in plans
        ]
        report = ImportReport(source, mode, len(rows), tuple(problems), (*outcomes, *skipped), True)
        audit.record(
            session,
            "import.run",
            scope.actor,
            object_type="import",
            object_id=source,
            registry_id=registry_id,
            details={
                "registry": registry_key,
                "source": source,
                "mode": mode,
                "rows": len(rows),
                "created": report.count("create"),
                "updated": report.count("update"),
                "unchanged": report.count("unchanged"),
                "bad_rows": list(report.bad_rows),
            },
        )
        return report


def _existing(session: Session, registry_id: int, source: str) -> dict[str, _Existing]:
    """The registrations this source's keys already point to, by source key."""
    found = session.execute(
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
    ).all()
    return {
        key: _Existing(rid, version, status, unit, patient, dict(values))
        for key, rid, version, status, unit, patient, values in found
    }


def _checked_row(
    row: SourceRow,
    scope: AccessScope,
    registry_key: str,
    dictionary: Dictionary,
    keys: IdentityKeys,
    existing: dict[str, _Existing],
    first_row: dict[str, int],
    *,
    event_date_variable: str,
    status: TargetStatus,
    today: date,
) -> tuple[list[RowProblem], _Plan | None]:
    """Every problem of one row (all of them, not just the first), or its plan."""
    problems: list[RowProblem] = []

    def problem(name: str, kind: str, **values: object) -> None:
        template = _MESSAGES[kind]
        message = Text(template.nb.format(**values), template.en.format(**values))
        problems.append(RowProblem(row.row, name, f"{name}:{kind}", message))

    if not row.source_key:
        problem("source_key", "source_key")
    elif row.source_key in first_row:
        problem("source_key", "duplicate", first=first_row[row.source_key])
    else:
        first_row[row.source_key] = row.row
    before = existing.get(row.source_key) if row.source_key else None

    digits = ""
    try:
        digits = parse_national_id(row.national_id).digits
    except InvalidNationalId as error:
        problem("national_id", "national_id", reason=error.reason)
    if digits and before is not None and pseudonym(digits, keys.pseudonym_key) != before.pseudonym:
        problem("national_id", "patient")

    unit_id = int(row.unit) if row.unit.isdigit() else None
    if unit_id is None:
        problem("unit", "unit")
    elif before is not None and before.unit_id != unit_id:
        problem("unit", "moved", unit=before.unit_id)
    elif not scope.may_edit_records(registry_key, unit_id):
        problem("unit", "access", unit=unit_id)
    if before is not None and before.status == "locked":
        problem("status", "locked")

    values: dict[str, object] = dict(row.values)
    acknowledged: frozenset[str] = frozenset()
    target = status
    if before is not None:
        old_values, acknowledged = read_document(before.document)
        values = {**old_values, **values}
        target = "complete" if status == "complete" or before.status != "draft" else "draft"
    check = check_values(
        dictionary, values, target_status=target, acknowledged=acknowledged, today=today
    )
    blocking = [
        issue
        for issue in check.errors
        if target == "complete" or not issue.rule.endswith(":required")
    ]
    if target == "complete":
        blocking += check.unacknowledged
    for issue in blocking:
        problems.append(RowProblem(row.row, issue.variable, issue.rule, issue.message))
    event_date = check.values.get(event_date_variable)
    if not isinstance(event_date, date) and event_date_variable not in {
        issue.variable for issue in blocking
    }:
        problem(event_date_variable, "event_date", variable=event_date_variable)

    if problems or unit_id is None or not isinstance(event_date, date):
        return problems, None
    return problems, _Plan(row, unit_id, digits, check, event_date, before)


def _write(
    session: Session,
    scope: AccessScope,
    registry_key: str,
    registry_id: int,
    source: str,
    plan: _Plan,
    dictionary: Dictionary,
    keys: IdentityKeys,
    *,
    event_date_variable: str,
    status: TargetStatus,
    reason: str,
    today: date,
    after_write: Callable[[int], None] | None,
) -> RowOutcome:
    row = plan.row
    about = {"import": {"source": source, "source_key": row.source_key, "row": row.row}}
    if plan.existing is None:
        saved = insert_registration(
            session,
            scope,
            registry_key,
            plan.unit_id,
            plan.digits,
            plan.check,
            keys,
            event_date=plan.event_date,
            status=status,
            audit_details=about,
        )
        session.add(
            ImportKey(
                registry_id=registry_id,
                source=source,
                source_key=row.source_key,
                registration_id=saved.registration_id,
            )
        )
        session.flush()
        action: Action = "create"
    else:
        complete = "complete" in (status, plan.existing.status)
        new_status: Status = "complete" if complete else "draft"
        saved = change_registration(
            session,
            scope,
            plan.existing.registration_id,
            plan.existing.version,
            row.values,
            dictionary,
            event_date_variable=event_date_variable,
            status=new_status,
            reason=reason,
            today=today,
            audit_details=about,
        )
        action = "update" if saved.changed else "unchanged"
    if after_write is not None:
        after_write(row.row)
    return RowOutcome(row.row, row.source_key, action, saved.registration_id)
