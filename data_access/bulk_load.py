"""Loading many registrations at once (the demo registry, later large imports) quickly.

The ORM handles single records; a million rows go through Core `executemany` in batches,
with each registration's values serialised to JSON by polars in one vectorised step. The
whole load is one transaction: it is all there or none of it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl
from sqlalchemy import Connection, TextClause, delete, func, insert, select, text, update

from data_access.database import Database
from data_access.models import CoverageCount, Patient, Registration, Registry

BATCH_ROWS = 20_000
CORE_COLUMNS = ("patient_index", "unit_id", "event_date", "status")


@dataclass(frozen=True)
class LoadedCounts:
    patients: int
    registrations: int
    coverage_rows: int


def values_as_json(registrations: pl.DataFrame) -> pl.Series:
    """One compact JSON object per row of the variable columns; blanks are left out.

    Dates are written as ISO 8601 text, the form the entry module reads back.
    """
    variables = [c for c in registrations.columns if c not in CORE_COLUMNS]
    as_text = [
        pl.col(c).dt.strftime("%Y-%m-%dT%H:%M:%S")
        if registrations.schema[c] == pl.Datetime
        else pl.col(c).dt.strftime("%Y-%m-%d")
        if registrations.schema[c] == pl.Date
        else pl.col(c)
        for c in variables
    ]
    return (
        registrations.select(pl.struct(as_text).struct.json_encode().alias("values"))
        .to_series()
        .str.replace_all(r',"[^"]+":null', "")
        .str.replace_all(r'\{"[^"]+":null,?', "{")
    )


def replace_registry_data(
    database: Database,
    registry_id: int,
    patients: pl.DataFrame,
    registrations: pl.DataFrame,
    coverage: pl.DataFrame,
) -> LoadedCounts:
    """Replace a registry's registrations, coverage counts and their patients in one transaction.

    `patients` has `patient_index`, `pseudonym`, `national_id_encrypted`, `birth_date`, `sex`;
    `registrations` has `patient_index`, `unit_id`, `event_date`, `status` and one column per
    variable; `coverage` has `unit_id`, `year`, `eligible`.
    """
    now = datetime.now(UTC)
    with database.engine.begin() as connection:
        _delete_registry_data(connection, registry_id)
        ids = _patient_ids(connection, patients)
        patient_rows = ids.filter(pl.col("new")).select(
            "id",
            "pseudonym",
            "national_id_encrypted",
            "birth_date",
            "sex",
            pl.lit(now).alias("created_at"),
        )
        for batch in _batches(patient_rows):
            connection.execute(insert(Patient), batch)
        values = values_as_json(registrations)
        registrations = registrations.join(
            ids.select("patient_index", pl.col("id").alias("patient_id")),
            on="patient_index",
            how="left",
            maintain_order="left",
        )
        registration_rows = registrations.select(
            pl.lit(registry_id).alias("registry_id"),
            "unit_id",
            "patient_id",
            "event_date",
            "status",
            values.alias("values"),
            pl.lit(1).alias("version"),
            pl.lit(now).alias("created_at"),
            pl.lit(now).alias("updated_at"),
        )
        insert_registration = _registration_insert(connection.dialect.name)
        for batch in _batches(registration_rows):
            connection.execute(insert_registration, batch)
        coverage_rows = coverage.select(
            pl.lit(registry_id).alias("registry_id"), "unit_id", "year", "eligible"
        )
        for batch in _batches(coverage_rows):
            connection.execute(insert(CoverageCount), batch)
        connection.execute(
            update(Registry)
            .where(Registry.id == registry_id)
            .values(data_version=Registry.data_version + 1)
        )
        _advance_sequence(connection, "patients")
    _refresh_statistics(database)
    return LoadedCounts(patients.height, registrations.height, coverage.height)


def _refresh_statistics(database: Database) -> None:
    """The planner's statistics for tables a load has just replaced. Left to autovacuum they
    lag behind a load of a million rows (or never come, where it is off, as on the server
    the load benchmark runs on), and until then the planner plans from guesses."""
    with database.engine.begin() as connection:
        for model in (Patient, Registration, CoverageCount):
            connection.exec_driver_sql(f"ANALYZE {model.__tablename__}")


def _delete_registry_data(connection: Connection, registry_id: int) -> None:
    patient_ids = select(Registration.patient_id).where(Registration.registry_id == registry_id)
    orphaned = (
        select(Patient.id)
        .where(Patient.id.in_(patient_ids))
        .where(
            ~Patient.id.in_(
                select(Registration.patient_id).where(Registration.registry_id != registry_id)
            )
        )
    )
    doomed = [row[0] for row in connection.execute(orphaned)]
    connection.execute(delete(Registration).where(Registration.registry_id == registry_id))
    connection.execute(delete(CoverageCount).where(CoverageCount.registry_id == registry_id))
    for start in range(0, len(doomed), BATCH_ROWS):
        connection.execute(
            delete(Patient).where(Patient.id.in_(doomed[start : start + BATCH_ROWS]))
        )


def _patient_ids(connection: Connection, patients: pl.DataFrame) -> pl.DataFrame:
    """`patients` with the id each one has, and whether it is `new`: a person another registry
    holds already (the same pseudonym) keeps that row, as the form's `_patient_in` does."""
    stored: list[tuple[int, str]] = []
    pseudonyms = patients["pseudonym"].to_list()
    for start in range(0, len(pseudonyms), BATCH_ROWS):
        batch = pseudonyms[start : start + BATCH_ROWS]
        stored += connection.execute(
            select(Patient.id, Patient.pseudonym).where(Patient.pseudonym.in_(batch))
        ).all()
    first_id = (connection.scalar(select(func.max(Patient.id))) or 0) + 1
    known = pl.DataFrame(stored, schema={"id": pl.Int64(), "pseudonym": pl.String()}, orient="row")
    found = patients.join(known, on="pseudonym", how="left", maintain_order="left")
    is_new = pl.col("id").is_null()
    return found.with_columns(
        pl.when(is_new)
        .then(first_id + is_new.cast(pl.Int64).cum_sum() - 1)
        .otherwise(pl.col("id"))
        .alias("id"),
        is_new.alias("new"),
    )


def _registration_insert(dialect: str) -> TextClause:
    """The values arrive as JSON text: SQLite stores it as is, PostgreSQL must cast it to JSONB."""
    values = "CAST(:values AS JSONB)" if dialect == "postgresql" else ":values"
    return text(
        "INSERT INTO registrations (registry_id, unit_id, patient_id, event_date, status, "
        '"values", version, created_at, updated_at) VALUES (:registry_id, :unit_id, :patient_id, '
        f":event_date, :status, {values}, :version, :created_at, :updated_at)"
    )


def _advance_sequence(connection: Connection, table: str) -> None:
    """Explicit ids bypass PostgreSQL's sequence: move it past them so later inserts fit."""
    if connection.dialect.name == "postgresql":
        connection.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"COALESCE((SELECT MAX(id) FROM {table}), 1))"
            )
        )


def _batches(frame: pl.DataFrame) -> Iterator[list[dict[str, object]]]:
    for start in range(0, frame.height, BATCH_ROWS):
        yield frame.slice(start, BATCH_ROWS).to_dicts()
