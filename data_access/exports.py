"""Pseudonymised registrations for export (uttrekk), in batches, inside the caller's scope.

An analyst exports the units of their analyst grants (the whole registry for a grant on the
nation); a clinician or registrar exports only the units their grants cover. The units are
put into the SQL itself, so a forged unit filter can only narrow what is read, never widen
it. Patients appear by pseudonym and birth year only: no national id, no birth date.

A million registrations must not be held at once, so `registration_batches` is a generator:
rows arrive through one cursor (server-side on PostgreSQL), `batch_rows` at a time, are
decoded into typed columns by polars, filtered by the analyst's expression, and handed on.
Every export is audited as `export` with its filters, format (the caller's `context`) and
row count. The event is written when the last batch has been handed on and before the
generator ends, so a caller that sends each batch only after asking for the next (see
portal/exports.py) never completes a file whose event could not be written. An export
abandoned half way (the browser went away) is still written down, as `completed: false`
with the rows handed on until then.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Final

import polars as pl
from sqlalchemy import ColumnElement, Integer, Select, String, Text, cast, extract, func, select

from data_access import audit
from data_access.access import AccessDenied, AccessScope
from data_access.database import Database
from data_access.models import REGISTRATION_STATUSES, Patient, Registration, Registry
from data_access.reference_data import stored_registry_id
from data_access.snapshot import column_types, typed_values
from entry.dictionary_model import Dictionary, variable_types
from entry.expressions import compile_expression, parse, variables_of

BATCH_ROWS: Final = 10_000
"""Rows per batch: memory grows with it (benchmarks/export.py: about 140 MiB above the
process's baseline at 10,000, 240 MiB at 20,000), speed hardly (some 15% more CPU than at
20,000), whatever the size of the export."""

RAW_SCHEMA: Final[dict[str, pl.DataType]] = {
    "registration_id": pl.Int64(),
    "pseudonym": pl.String(),
    "birth_year": pl.Int64(),
    "unit_id": pl.Int64(),
    "event_date": pl.Date(),
    "status": pl.String(),
    "values": pl.String(),
}
"""What is read per registration; `values` is the JSON document, decoded per batch."""
_FETCHED_SCHEMA: Final = {**RAW_SCHEMA, "event_date": pl.String()}

Progress = Callable[[int, int], None]
"""Called after each batch with (registrations read, rows handed on) so far."""


@dataclass(frozen=True)
class ExportQuery:
    """What to export. `unit_ids` narrows the caller's units (None: all of them); `first_day`
    and `last_day` bound the event date, both inclusive; `where` is an expression in the
    registry's language, already checked by the caller (it is checked again here)."""

    variables: tuple[str, ...]
    unit_ids: frozenset[int] | None = None
    statuses: frozenset[str] | None = None
    first_day: date | None = None
    last_day: date | None = None
    where: str | None = None

    def for_audit(self) -> dict[str, object]:
        """The filters as asked for (forged unit ids too: they show intent)."""
        filters: dict[str, object] = {"variables": list(self.variables)}
        if self.unit_ids is not None:
            filters["unit_ids"] = sorted(self.unit_ids)
        if self.statuses is not None:
            filters["statuses"] = sorted(self.statuses)
        if self.first_day is not None:
            filters["from"] = self.first_day.isoformat()
        if self.last_day is not None:
            filters["to"] = self.last_day.isoformat()
        if self.where:
            filters["where"] = self.where
        return filters


def exportable_units(scope: AccessScope, registry_key: str) -> frozenset[int]:
    """The units whose records the caller may export: analyst grants, or else their own units."""
    return scope.units(registry_key, "analyst") | scope.units(
        registry_key, "clinician", "registrar"
    )


def count_registrations(
    database: Database, scope: AccessScope, registry_key: str, query: ExportQuery
) -> int:
    """How many registrations the export will read (before its expression): a count only,
    so it shows no patient-level data and is not audited."""
    units = _units(scope, registry_key, query)
    with database.reading() as session:
        registry_id = stored_registry_id(session, registry_key)
        if registry_id is None or not units:
            return 0
        statement = select(func.count(Registration.id)).where(
            *_conditions(registry_id, units, query)
        )
        return int(session.scalar(statement) or 0)


def registration_batches(
    database: Database,
    scope: AccessScope,
    registry_key: str,
    dictionary: Dictionary,
    query: ExportQuery,
    *,
    context: Mapping[str, object],
    batch_rows: int = BATCH_ROWS,
    progress: Progress | None = None,
) -> Iterator[pl.DataFrame]:
    """The chosen registrations, typed, `batch_rows` at a time, in registration id order.

    Each batch has `registration_id`, `pseudonym`, `birth_year`, `unit_id`, `event_date`,
    `status` and one typed column per chosen variable (as the snapshot types them). At least
    one batch comes, empty if nothing matches, so a writer always learns the columns.
    Raises `AccessDenied` (before anything is read) if the caller may export no unit of the
    registry, `ValueError` for unknown variables or statuses, `ExpressionError` for a bad
    expression.
    """
    if not exportable_units(scope, registry_key):
        raise AccessDenied("exporting records needs an analyst, clinician or registrar grant")
    _check(dictionary, query)
    units = _units(scope, registry_key, query)
    condition = (
        compile_expression(query.where, variable_types(dictionary), expect="boolean").expr
        if query.where
        else None
    )
    wanted = set(query.variables) | (
        set(variables_of(parse(query.where))) if query.where else set()
    )
    types = {name: t for name, t in column_types(dictionary).items() if name in wanted}
    chosen = [name for name in types if name in query.variables]
    return _batches(
        database,
        scope,
        registry_key,
        query,
        units,
        types,
        [*(name for name in RAW_SCHEMA if name != "values"), *chosen],
        condition,
        context=context,
        batch_rows=batch_rows,
        progress=progress,
    )


def _batches(
    database: Database,
    scope: AccessScope,
    registry_key: str,
    query: ExportQuery,
    units: frozenset[int],
    types: dict[str, pl.DataType],
    columns: list[str],
    condition: pl.Expr | None,
    *,
    context: Mapping[str, object],
    batch_rows: int,
    progress: Progress | None,
) -> Iterator[pl.DataFrame]:
    read = rows = 0
    completed = False
    registry_id: int | None = None
    try:
        # Core, not the ORM: a million rows need no objects, and dates come as ISO text
        # that polars parses in one step.
        with database.engine.connect() as connection:
            registry_id = connection.scalar(select(Registry.id).where(Registry.key == registry_key))
            if registry_id is not None and units:
                statement = _statement(registry_id, units, query, database.dialect)
                result = connection.execution_options(yield_per=batch_rows).execute(statement)
                for partition in result.partitions():
                    raw = pl.DataFrame(partition, schema=_FETCHED_SCHEMA, orient="row")
                    batch = _typed(raw, types, columns, condition)
                    read += raw.height
                    rows += batch.height
                    if progress is not None:
                        progress(read, rows)
                    if batch.height:
                        yield batch
        if rows == 0:  # no rows at all: an empty batch still tells the writer the columns
            yield _typed(pl.DataFrame(schema=_FETCHED_SCHEMA), types, columns, condition)
        completed = True
    finally:
        audit.record_event(
            database,
            "export",
            scope.actor,
            object_type="registration",
            registry_id=registry_id,
            details={
                "registry": registry_key,
                "kind": "registrations",
                "filters": query.for_audit(),
                "rows": rows,
                "completed": completed,
                **dict(context),
            },
        )


def _typed(
    fetched: pl.DataFrame,
    types: dict[str, pl.DataType],
    columns: list[str],
    condition: pl.Expr | None,
) -> pl.DataFrame:
    """The batch with typed variables (as the snapshot types them), filtered by the
    expression, in the export's columns."""
    raw = fetched.with_columns(
        pl.col("event_date").str.slice(0, 10).str.to_date("%Y-%m-%d")
    ).rename({"registration_id": "id"})
    typed = typed_values(raw, types).rename({"id": "registration_id"})
    typed = typed.with_columns(fetched.select("pseudonym", "birth_year"))
    if condition is not None:
        typed = typed.filter(condition)
    return typed.select(columns)


def _check(dictionary: Dictionary, query: ExportQuery) -> None:
    known = set(column_types(dictionary))
    unknown = sorted(set(query.variables) - known)
    if unknown or not query.variables:
        raise ValueError(f"choose variables of the dictionary (unknown: {unknown})")
    if query.statuses is not None and not query.statuses <= set(REGISTRATION_STATUSES):
        raise ValueError(f"unknown status among {sorted(query.statuses)}")


def _units(scope: AccessScope, registry_key: str, query: ExportQuery) -> frozenset[int]:
    allowed = exportable_units(scope, registry_key)
    return allowed if query.unit_ids is None else allowed & query.unit_ids


def _statement(
    registry_id: int, units: frozenset[int], query: ExportQuery, dialect: str
) -> Select[int, str, int, int, str, str, str]:
    return (
        select(
            Registration.id,
            Patient.pseudonym,
            cast(extract("year", Patient.birth_date), Integer),
            Registration.unit_id,
            cast(Registration.event_date, String),
            Registration.status,
            cast(Registration.values, Text),
        )
        .join(Patient, Patient.id == Registration.patient_id)
        .where(*_conditions(registry_id, units, query, scan=dialect == "sqlite"))
        .order_by(Registration.id)
    )


def _conditions(
    registry_id: int, units: frozenset[int], query: ExportQuery, *, scan: bool = False
) -> list[ColumnElement[bool]]:
    """`scan` reads the table in id order instead of through the (registry, unit, date) index:
    SQLite would otherwise sort the whole result in a temporary tree before the first row
    (`+ 0` is SQLite's documented way to keep a column's index out of a plan)."""
    registry = Registration.registry_id + 0 if scan else Registration.registry_id.expression
    unit = Registration.unit_id + 0 if scan else Registration.unit_id.expression
    conditions = [registry == registry_id, unit.in_(sorted(units))]
    if query.statuses is not None:
        conditions.append(Registration.status.in_(sorted(query.statuses)))
    if query.first_day is not None:
        conditions.append(Registration.event_date >= query.first_day)
    if query.last_day is not None:
        conditions.append(Registration.event_date <= query.last_day)
    return conditions
