"""A registry's registrations as typed columns, kept as Parquet per data version.

The database stores each registration's values as one JSON document (entry/record_rules.py
describes it), which suits forms but not the engine. Here the documents are decoded in one
vectorised polars step into one typed column per dictionary variable, and the frame is kept
as `<registry>-v<version>.parquet`: every committed change of a finished registration bumps
the data version, so a file whose name carries the current version is the current data, and
a worker reads it instead of the JSON (DESIGN.md, "columnar snapshot").
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import polars as pl
from sqlalchemy import (
    ColumnElement,
    Connection,
    ScalarSelect,
    Select,
    String,
    Text,
    bindparam,
    cast,
    func,
    select,
)

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

CHUNK_IDS = 4_096
"""Ids per query of `registration_frame`: about 4 MB of JSON at the demo's 1 kB a
registration. At a million registrations on PostgreSQL this measured faster than 16,384 or
65,536 (smaller texts to build) and than 1,024 (fewer queries); far below the 1 GB a text
may hold in PostgreSQL and SQLite."""

ROW_STAMP = "_row_stamp"
"""A column the stored Parquet keeps beside the registrations: each row's version and the
time of its last change, which together name one state of the row (a reloaded registry
reuses ids and versions, never both with the time). A refresh reads from the database
only the rows whose stamps the previous file does not hold (`_updated`)."""

UPDATE_SHARE = 0.25
"""Above this share of changed rows a refresh reads everything again: fetching rows by id
costs more per row than reading them in order."""

UPDATE_IDS = 1_000
"""Ids per query when a refresh fetches changed rows."""

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


def stamped_finished_frame(
    database: Database, registry_key: str, dictionary: Dictionary
) -> pl.DataFrame:
    """`finished_frame` with each row's `ROW_STAMP` last, as `snapshot` stores it."""
    return registration_frame(
        database, registry_key, dictionary, statuses=PUBLISHED_STATUSES, stamped=True
    )


def registration_frame(
    database: Database,
    registry_key: str,
    dictionary: Dictionary,
    *,
    statuses: Sequence[str] = REGISTRATION_STATUSES,
    stamped: bool = False,
) -> pl.DataFrame:
    """Every registration of the registry in `statuses`, ordered by id, with one typed
    column per dictionary variable.

    No Python object is made per row, which at a million rows cost most of the time and held
    the GIL of the web worker that refreshes the results: the database hands the rows over a
    chunk of ids at a time as two texts (`_chunks`), which polars parses. While the database
    builds the next chunk (the GIL is released while the driver waits), a second thread
    decodes the last one.
    """
    types = column_types(dictionary)
    with _one_snapshot(database) as connection:
        texts = _chunks(connection, database.dialect, registry_key, statuses, stamped)
        return _decoded_chunks(texts, types, stamped)


def _decoded_chunks(
    texts: Iterable[tuple[str, str]], types: dict[str, pl.DataType], stamped: bool
) -> pl.DataFrame:
    """The chunks' typed frames, one after another; the next chunk is read while the last
    one is decoded."""
    with ThreadPoolExecutor(max_workers=1) as decoder:
        pending = [
            decoder.submit(_typed_chunk, core, documents, types, stamped)
            for core, documents in texts
        ]
        chunks = [chunk.result() for chunk in pending]
    if chunks:
        return pl.concat(chunks, rechunk=True)
    empty = _typed(pl.DataFrame(schema=CORE_SCHEMA), b"", types)
    return empty.with_columns(pl.lit(None, pl.String).alias(ROW_STAMP)) if stamped else empty


def _chunk_query(
    dialect: str, registry_key: str, statuses: Sequence[str], stamped: bool
) -> Select[str, str]:
    """The chosen registrations as two texts: CSV lines of the core columns (and the stamp)
    and the JSON documents one per line (JSON escapes a newline inside text). Both are
    aggregates of the same query, fed the same rows in the same order, so their lines pair
    up; that order is the scan's, not necessarily the ids' (`_typed_chunk` sorts). The
    caller adds which ids."""
    registry = _registry_id(registry_key)
    core = (
        cast(Registration.id, String)
        + ","
        + cast(Registration.unit_id, String)
        + ","
        + _date_text(dialect)
        + ","
        + Registration.status
    )
    if stamped:
        core = core + "," + _stamp_text(dialect)
    return select(
        func.aggregate_strings(core, "\n"),
        func.aggregate_strings(cast(Registration.values, Text), "\n"),
    ).where(
        # `+ 0` keeps the registry's index out of the plan: for each chunk, both databases
        # then walk the chunk's ids in the primary key, not every registration of the registry.
        Registration.registry_id + 0 == registry,
        Registration.status.in_(statuses),
    )


def _chunks(
    connection: Connection,
    dialect: str,
    registry_key: str,
    statuses: Sequence[str],
    stamped: bool,
) -> Iterator[tuple[str, str]]:
    """The chosen registrations, `CHUNK_IDS` consecutive ids at a time (`_chunk_query`), all
    read on `connection`, so from one snapshot of the data."""
    registry = _registry_id(registry_key)
    bounds = select(func.min(Registration.id), func.max(Registration.id)).where(
        Registration.registry_id == registry
    )
    chunk = _chunk_query(dialect, registry_key, statuses, stamped).where(
        Registration.id >= bindparam("first"), Registration.id < bindparam("end")
    )
    first, last = connection.execute(bounds).one()
    if first is None:
        return
    for start in range(first, last + 1, CHUNK_IDS):
        lines, documents = connection.execute(
            chunk, {"first": start, "end": start + CHUNK_IDS}
        ).one()
        if lines is not None:  # no registration of the registry in this stretch of ids
            yield lines, documents


def _registry_id(registry_key: str) -> ScalarSelect[int]:
    """The registry's id as a subquery, so every query here names the registry by its key."""
    return select(Registry.id).where(Registry.key == registry_key).scalar_subquery()


def _stamp_text(dialect: str) -> ColumnElement[str]:
    """`ROW_STAMP`: the row's version and its last change's time, as text the database
    writes the same way every time (PostgreSQL's own text form of a time depends on the
    session's settings, its epoch does not)."""
    if dialect == "postgresql":
        changed = cast(func.extract("epoch", Registration.updated_at), String)
    else:
        changed = cast(Registration.updated_at, String)
    return cast(Registration.version, String) + "/" + changed


def _date_text(dialect: str) -> ColumnElement[str]:
    """The event date as ISO text: SQLite stores it so; PostgreSQL's own text form depends
    on the server's DateStyle."""
    if dialect == "postgresql":
        return func.to_char(Registration.event_date, "YYYY-MM-DD")
    return cast(Registration.event_date, String)


@contextmanager
def _one_snapshot(database: Database) -> Iterator[Connection]:
    """A connection whose statements all see the same data: SQLite's read transaction does
    by itself (WAL); PostgreSQL's default gives each statement a snapshot of its own."""
    with database.engine.connect() as connection:
        if database.dialect == "postgresql":
            connection.execution_options(isolation_level="REPEATABLE READ")
        yield connection


def _typed_chunk(
    lines: str, documents: str, types: dict[str, pl.DataType], stamped: bool
) -> pl.DataFrame:
    """One chunk's typed frame, in id order whatever order the database scanned it in."""
    schema = {**CORE_SCHEMA, ROW_STAMP: pl.String()} if stamped else CORE_SCHEMA
    core = pl.read_csv(lines.encode(), has_header=False, schema=schema)
    frame = _typed(core.select(*CORE_SCHEMA), documents.encode(), types)
    if stamped:  # `_typed` keeps the rows in order, so the stamps line up with them
        frame = frame.with_columns(core[ROW_STAMP])
    return frame if frame["id"].is_sorted() else frame.sort("id")


def typed_values(raw: pl.DataFrame, types: dict[str, pl.DataType]) -> pl.DataFrame:
    """Replace the `values` JSON column by typed columns; dates are parsed from ISO text."""
    # A stored document is one line: JSON escapes a newline inside text.
    documents = raw["values"].str.join("\n").cast(pl.Binary).item()
    return _typed(raw.drop("values"), documents, types)


def _typed(core: pl.DataFrame, documents: bytes, types: dict[str, pl.DataType]) -> pl.DataFrame:
    """The core columns beside the typed values of `documents` (one JSON object a line)."""
    if not types:
        return core
    as_json = {name: _json_dtype(dtype) for name, dtype in types.items()}
    decoded = pl.concat([core, _decoded(documents, as_json)], how="horizontal")
    return decoded.with_columns(
        _parsed(name, dtype) for name, dtype in types.items() if _json_dtype(dtype) != dtype
    ).select(*CORE_SCHEMA, *types)


def _decoded(documents: bytes, as_json: dict[str, pl.DataType]) -> pl.DataFrame:
    """The JSON documents as columns. Read as newline-delimited JSON: the same frame as
    `str.json_decode` for about half the CPU; a value that reader refuses (2.0 stored for
    an integer) falls back to the lenient `json_decode`."""
    if not documents:
        return pl.DataFrame(schema=as_json)
    try:
        return pl.read_ndjson(documents, schema=as_json)
    except pl.exceptions.ComputeError:
        lines = pl.Series([documents]).cast(pl.String).str.split("\n").explode()
        return lines.str.json_decode(pl.Struct(as_json)).struct.unnest()


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


def replace_atomically(target: Path, write: Callable[[Path], object]) -> None:
    """Have `write` fill a temporary file beside `target`, then rename it into place:
    readers in other workers see either the old file or the whole new one, never a part
    (a rename is atomic within one folder)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}-")
    os.close(handle)
    try:
        write(Path(temporary))
        Path(temporary).replace(target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def store_version(frame: pl.DataFrame, folder: Path, name: str, version: int) -> Path:
    """Write `<name>-v<version>.parquet` atomically and delete the other versions of `name`."""
    target = versioned_path(folder, name, version)
    replace_atomically(target, frame.write_parquet)
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
    build: FrameBuilder = stamped_finished_frame,
) -> pl.DataFrame:
    """The registry's typed registrations, read from Parquet while the data version holds.

    The version is read before the rows, so a file is never labelled newer than its data
    (at worst a little older, and then rebuilt on the next call). A new version starts from
    the previous file where it holds row stamps (`_updated`): at a million registrations a
    full read took 6 s of the database and 5 CPU-s of decoding, for a change of one record.
    `build` is the seam tests use to count how often the database is read in full.
    """
    version = data_version(database, registry_key)
    path = versioned_path(folder, registry_key, version)
    if path.exists():
        return pl.read_parquet(path).drop(ROW_STAMP, strict=False)
    previous = stored_versions(folder, [registry_key]).get(registry_key)
    frame = None
    if previous is not None and previous < version:
        frame = _updated(
            database, registry_key, dictionary, versioned_path(folder, registry_key, previous)
        )
    if frame is None:
        frame = build(database, registry_key, dictionary)
    store_version(frame, folder, registry_key, version)
    return frame.drop(ROW_STAMP, strict=False)


def _updated(
    database: Database, registry_key: str, dictionary: Dictionary, previous: Path
) -> pl.DataFrame | None:
    """The finished registrations now, from the `previous` file and only the rows whose
    stamp it does not hold; None where that file cannot serve (no stamps, another
    dictionary, gone) or too much has changed (`UPDATE_SHARE`)."""
    types = column_types(dictionary)
    expected = {**CORE_SCHEMA, **types, ROW_STAMP: pl.String()}
    try:
        if dict(pl.read_parquet_schema(previous)) != expected:
            return None
        old = pl.read_parquet(previous)
    except (OSError, pl.exceptions.PolarsError):  # another worker replaced it meanwhile
        return None
    registry = _registry_id(registry_key)
    stamps = select(
        func.aggregate_strings(
            cast(Registration.id, String) + "," + _stamp_text(database.dialect), "\n"
        )
    ).where(Registration.registry_id == registry, Registration.status.in_(PUBLISHED_STATUSES))
    with _one_snapshot(database) as connection:
        listed = connection.execute(stamps).scalar()
        current = pl.read_csv(
            (listed or "").encode(),  # no rows: an empty frame of the schema
            has_header=False,
            schema={"id": pl.Int64(), ROW_STAMP: pl.String()},
        )
        changed = current.join(old.select("id", ROW_STAMP), on=["id", ROW_STAMP], how="anti")
        if changed.height > UPDATE_SHARE * max(current.height, 1):
            return None
        ids = changed["id"].to_list()
        query = _chunk_query(database.dialect, registry_key, PUBLISHED_STATUSES, True).where(
            Registration.id.in_(bindparam("ids", expanding=True))
        )
        texts = (
            connection.execute(query, {"ids": ids[start : start + UPDATE_IDS]}).one()
            for start in range(0, len(ids), UPDATE_IDS)
        )
        fetched = _decoded_chunks(
            ((lines, documents) for lines, documents in texts if lines is not None), types, True
        )
    kept = old.join(current, on=["id", ROW_STAMP], how="semi", maintain_order="left")
    return pl.concat([kept, fetched.select(*expected)]).sort("id")


def data_versions(database: Database) -> dict[str, int]:
    """Every registry's data version in one query (keys of caches that span registries)."""
    with database.reading() as session:
        rows = session.execute(select(Registry.key, Registry.data_version)).all()
    return {str(key): int(version or 0) for key, version in rows}
