"""A registry's registrations as typed columns, kept as Parquet per data version.

The database stores each registration's values as one JSON document (entry/record_rules.py
describes it), which suits forms but not the engine. Here the documents are decoded in one
vectorised polars step into one typed column per dictionary variable, and the frame is kept
as `<registry>-v<version>.parquet`: every committed change of a finished registration bumps
the data version, so a file whose name carries the current version is the current data, and
a worker reads it instead of the JSON (DESIGN.md, "columnar snapshot").
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import polars as pl
from sqlalchemy import Text, cast, select

from data_access.database import Database
from data_access.models import (
    PUBLISHED_STATUSES,
    REGISTRATION_STATUSES,
    CoverageCount,
    Registration,
    Registry,
)
from entry.dictionary_logic import has_number_codes
from entry.dictionary_model import CHOICE_TYPES, Dictionary, Variable

CORE_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.Int64(),
    "unit_id": pl.Int64(),
    "event_date": pl.Date(),
    "status": pl.String(),
}
"""The registration's own columns, ahead of the variables."""

COVERAGE_SCHEMA: dict[str, pl.DataType] = {
    "unit_id": pl.Int64(),
    "year": pl.Int32(),
    "eligible": pl.Int64(),
}

_BY_TYPE: dict[str, pl.DataType] = {
    "integer": pl.Int64(),
    "yesno": pl.Int64(),
    "single": pl.Int64(),
    "decimal": pl.Float64(),
    "date": pl.Date(),
    "datetime": pl.Datetime("us"),
    "time": pl.Time(),
    "text": pl.String(),
    "notes": pl.String(),
    "multiple": pl.List(pl.Int64()),
}
_BY_VALUE_TYPE: dict[str, pl.DataType] = {
    "number": pl.Float64(),
    "text": pl.String(),
    "boolean": pl.Boolean(),
    "date": pl.Date(),
    "datetime": pl.Datetime("us"),
    "time": pl.Time(),
    "codes": pl.List(pl.Int64()),
}
# ISO 8601 as `isoformat()` writes it, with or without seconds and fractions.
_DATETIME_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M")
_TIME_FORMATS = ("%H:%M:%S%.f", "%H:%M")

FrameBuilder = Callable[[Database, str, Dictionary], pl.DataFrame]


def column_types(dictionary: Dictionary) -> dict[str, pl.DataType]:
    """The dtype of every variable that holds a value; descriptive text has no column."""
    types: dict[str, pl.DataType] = {}
    for variable in dictionary.variables:
        dtype = _dtype(variable)
        if dtype is not None:
            types[variable.name] = dtype
    return types


def _dtype(variable: Variable) -> pl.DataType | None:
    if variable.type == "descriptive":
        return None
    if variable.type in CHOICE_TYPES and not has_number_codes(variable):
        return pl.List(pl.String()) if variable.type == "multiple" else pl.String()
    if variable.type == "calculated":
        return _BY_VALUE_TYPE.get(variable.value_type or "number", pl.Float64())
    return _BY_TYPE[variable.type]


def data_version(database: Database, registry_key: str) -> int:
    """The registry's data version; 0 for a registry the database has not seen yet."""
    with database.reading() as session:
        version = session.scalar(select(Registry.data_version).where(Registry.key == registry_key))
    return int(version or 0)


def finished_frame(database: Database, registry_key: str, dictionary: Dictionary) -> pl.DataFrame:
    """The finished (complete or locked) registrations only, as the snapshot keeps them:
    drafts never count in results, and their saves do not move the data version."""
    return registration_frame(database, registry_key, dictionary, statuses=PUBLISHED_STATUSES)


def registration_frame(
    database: Database,
    registry_key: str,
    dictionary: Dictionary,
    *,
    statuses: Sequence[str] = REGISTRATION_STATUSES,
) -> pl.DataFrame:
    """Every registration of the registry in `statuses`, with one typed column per
    dictionary variable.

    The JSON arrives as text (no per-row parsing in Python) and is decoded by polars against
    an explicit struct type; the `_skipped` and `_acknowledged` keys are simply not asked for.
    """
    query = (
        select(
            Registration.id,
            Registration.unit_id,
            Registration.event_date,
            Registration.status,
            cast(Registration.values, Text).label("values"),
        )
        .join(Registry, Registry.id == Registration.registry_id)
        .where(Registry.key == registry_key, Registration.status.in_(statuses))
        .order_by(Registration.id)
    )
    with database.reading() as session:
        rows = session.execute(query).all()
    raw = pl.DataFrame(
        [tuple(row) for row in rows],
        schema={**CORE_SCHEMA, "values": pl.String()},
        orient="row",
    )
    return typed_values(raw, column_types(dictionary))


def typed_values(raw: pl.DataFrame, types: dict[str, pl.DataType]) -> pl.DataFrame:
    """Replace the `values` JSON column by typed columns; dates are parsed from ISO text."""
    if not types:
        return raw.drop("values")
    as_json = {name: _json_dtype(dtype) for name, dtype in types.items()}
    decoded = pl.concat([raw.drop("values"), _decoded(raw["values"], as_json)], how="horizontal")
    return decoded.with_columns(
        _parsed(name, dtype) for name, dtype in types.items() if _json_dtype(dtype) != dtype
    ).select(*CORE_SCHEMA, *types)


def _decoded(documents: pl.Series, as_json: dict[str, pl.DataType]) -> pl.DataFrame:
    """The JSON documents as columns. Read as newline-delimited JSON: the same frame as
    `str.json_decode` for about half the CPU (a stored document is one line: JSON escapes a
    newline inside text); a value that reader refuses (2.0 stored for an integer) falls
    back to the lenient `json_decode`."""
    if documents.is_empty():
        return pl.DataFrame(schema=as_json)
    text = documents.str.join("\n").item().encode("utf-8")
    try:
        return pl.read_ndjson(io.BytesIO(text), schema=as_json)
    except pl.exceptions.ComputeError:
        return documents.str.json_decode(pl.Struct(as_json)).struct.unnest()


def _json_dtype(dtype: pl.DataType) -> pl.DataType:
    """Temporal values are ISO text inside the JSON; everything else decodes as itself."""
    return pl.String() if dtype.is_temporal() else dtype


def _parsed(name: str, dtype: pl.DataType) -> pl.Expr:
    text = pl.col(name)
    if dtype == pl.Date():
        return text.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False).alias(name)
    if dtype == pl.Time():
        return pl.coalesce(text.str.to_time(f, strict=False) for f in _TIME_FORMATS).alias(name)
    return pl.coalesce(
        text.str.to_datetime(f, time_unit="us", strict=False) for f in _DATETIME_FORMATS
    ).alias(name)


def read_coverage(database: Database, registry_key: str) -> pl.DataFrame:
    """Eligible patients per unit and year (dekningsgrad's denominator) for the engine."""
    query = (
        select(CoverageCount.unit_id, CoverageCount.year, CoverageCount.eligible)
        .join(Registry, Registry.id == CoverageCount.registry_id)
        .where(Registry.key == registry_key)
        .order_by(CoverageCount.unit_id, CoverageCount.year)
    )
    with database.reading() as session:
        rows = session.execute(query).all()
    return pl.DataFrame([tuple(row) for row in rows], schema=COVERAGE_SCHEMA, orient="row")


def versioned_path(folder: Path, name: str, version: int) -> Path:
    return folder / f"{name}-v{version}.parquet"


def store_version(frame: pl.DataFrame, folder: Path, name: str, version: int) -> Path:
    """Write `<name>-v<version>.parquet` atomically and delete the other versions of `name`.

    Readers in other workers see either the old file or the whole new one, never a part:
    the frame goes to a temporary file in the same folder and is renamed into place.
    """
    folder.mkdir(parents=True, exist_ok=True)
    target = versioned_path(folder, name, version)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{name}-", suffix=".tmp")
    os.close(handle)
    try:
        frame.write_parquet(temporary)
        Path(temporary).replace(target)  # os.replace: atomic within one folder
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    for older in folder.glob(f"{name}-v*.parquet"):
        if older != target and older.stem.removeprefix(f"{name}-v").isdigit():
            older.unlink(missing_ok=True)  # another worker may have removed it first
    return target


def stored_versions(folder: Path, names: Iterable[str]) -> dict[str, int]:
    """The newest version kept in `folder` of each name that has one."""
    found: dict[str, int] = {}
    for name in names:
        versions = [
            int(digits)
            for path in folder.glob(f"{name}-v*.parquet")
            if (digits := path.stem.removeprefix(f"{name}-v")).isdigit()
        ]
        if versions:
            found[name] = max(versions)
    return found


def snapshot(
    database: Database,
    registry_key: str,
    dictionary: Dictionary,
    folder: Path,
    *,
    build: FrameBuilder = finished_frame,
) -> pl.DataFrame:
    """The registry's typed registrations, read from Parquet while the data version holds.

    The version is read before the rows, so a file is never labelled newer than its data
    (at worst a little older, and then rebuilt on the next call). `build` is the seam tests
    use to count how often the database is actually read.
    """
    version = data_version(database, registry_key)
    path = versioned_path(folder, registry_key, version)
    if path.exists():
        return pl.read_parquet(path)
    frame = build(database, registry_key, dictionary)
    store_version(frame, folder, registry_key, version)
    return frame


def data_versions(database: Database) -> dict[str, int]:
    """Every registry's data version in one query (keys of caches that span registries)."""
    with database.reading() as session:
        rows = session.execute(select(Registry.key, Registry.data_version)).all()
    return {str(key): int(version or 0) for key, version in rows}
