"""Importing many registrations from a file in one transaction: all checked, then all written.

`import_rows` first checks every row by the form rules (`entry.record_rules.check_values`),
the caller's grants and the import keys, and only then writes, in ONE transaction, each good
row with its own audit event (`registration.create` or `registration.update` with old and
new values) and a closing `import.run` event with the counts and the bad rows' numbers. A
crash or kill anywhere leaves the database as it was; a preview writes nothing at all. The
writing goes in batches of bulk statements (`import_writes`), and the data version moves
once per import, so 10,000 rows are stored in seconds.

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
from dataclasses import dataclass
from datetime import date
from typing import Final, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from data_access import audit
from data_access.access import AccessScope
from data_access.database import Database
from data_access.import_writes import (
    ImportTarget,
    PlannedRow,
    StoredRecord,
    stored_records,
    write_batch,
)
from data_access.models import Registry
from data_access.patient_identity import pseudonym
from data_access.record_commands import IdentityKeys, RecordRejected, bump_data_version
from entry.dictionary_model import Dictionary, Text
from entry.import_mapping import SourceRow
from entry.national_id import InvalidNationalId, NationalId, parse_national_id
from entry.record_rules import RecordRules, TargetStatus, read_document

ImportMode = Literal["preview", "valid_only", "all_or_nothing"]
Action = Literal["create", "update", "unchanged", "skipped"]
MODES: Final = ("preview", "valid_only", "all_or_nothing")
WRITE_BATCH: Final = 1000
"""Rows written per round of bulk statements; progress is reported after each round."""

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
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Check every row, then (unless previewing) write the good ones, all in one transaction.

    `mode`: "preview" writes nothing; "valid_only" writes the good rows and skips the bad;
    "all_or_nothing" writes nothing if any row is bad. New rows get `status`; existing ones
    keep theirs (a draft becomes complete if `status` is complete). Changes to complete
    records are audited with `reason` (by default "import from <source>").
    `progress(written, total)` runs after each batch of rows is written, inside the
    transaction: the command line shows it, and tests use it to fail mid-way.
    """
    if mode not in MODES:
        raise ValueError(f"unknown import mode {mode!r}")
    today = today or date.today()
    with database.transaction() as session:
        registry_id = session.scalar(select(Registry.id).where(Registry.key == registry_key))
        if registry_id is None:
            raise RecordRejected(f"unknown registry {registry_key!r}")
        existing = stored_records(session, registry_id, source)
        problems: list[RowProblem] = []
        plans: list[PlannedRow] = []
        rules = RecordRules(dictionary)  # prepared once for all the rows
        first_row: dict[str, int] = {}
        for row in rows:
            found, plan = _checked_row(
                row,
                scope,
                registry_key,
                rules,
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
                RowOutcome(p.row, p.source_key, "create" if p.existing is None else "update")
                for p in plans
            ]
            return ImportReport(
                source, mode, len(rows), tuple(problems), (*planned, *skipped), False
            )

        target = ImportTarget(
            scope,
            registry_key,
            registry_id,
            source,
            keys,
            status,
            (reason or "").strip() or f"import from {source}",
        )
        outcomes = _write(session, target, plans, progress)
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


def _checked_row(
    row: SourceRow,
    scope: AccessScope,
    registry_key: str,
    rules: RecordRules,
    keys: IdentityKeys,
    existing: dict[str, StoredRecord],
    first_row: dict[str, int],
    *,
    event_date_variable: str,
    status: TargetStatus,
    today: date,
) -> tuple[list[RowProblem], PlannedRow | None]:
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

    national_id: NationalId | None = None
    try:
        national_id = parse_national_id(row.national_id)
    except InvalidNationalId as error:
        problem("national_id", "national_id", reason=error.reason)
    if (
        national_id is not None
        and before is not None
        and pseudonym(national_id.digits, keys.pseudonym_key) != before.pseudonym
    ):
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
    check = rules.check(values, target_status=target, acknowledged=acknowledged, today=today)
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

    if problems or unit_id is None or national_id is None or not isinstance(event_date, date):
        return problems, None
    plan = PlannedRow(row.row, row.source_key, unit_id, national_id, check, event_date, before)
    return problems, plan


def _write(
    session: Session,
    target: ImportTarget,
    plans: Sequence[PlannedRow],
    progress: Callable[[int, int], None] | None,
) -> list[RowOutcome]:
    """Write the plans batch by batch, then move the data version once if anything changed."""
    outcomes: list[RowOutcome] = []
    for start in range(0, len(plans), WRITE_BATCH):
        batch = plans[start : start + WRITE_BATCH]
        source_keys = {plan.row: plan.source_key for plan in batch}
        outcomes += [
            RowOutcome(row, source_keys[row], action, registration_id)
            for row, action, registration_id in write_batch(session, target, batch)
        ]
        if progress is not None:
            progress(len(outcomes), len(plans))
    if any(outcome.action != "unchanged" for outcome in outcomes):
        bump_data_version(session, target.registry_id)
    return outcomes
