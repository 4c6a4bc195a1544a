"""The registrations as a typed, versioned Parquet snapshot, on both databases."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import flask
import polars as pl
import pytest
from polars.testing import assert_series_equal
from sqlalchemy import select, text

from data_access import snapshot as snapshot_module
from data_access.database import Database
from data_access.models import (
    PUBLISHED_STATUSES,
    REGISTRATION_STATUSES,
    Patient,
    Registration,
    Registry,
)
from data_access.org_tree import read_unit_tree
from data_access.reference_data import ensure_registry, read_units, sync_units
from data_access.snapshot import (
    CORE_SCHEMA,
    column_types,
    data_version,
    finished_frame,
    registration_frame,
    snapshot,
    stamped_finished_frame,
    typed_values,
)
from entry.dictionary import Choice, Text, Variable
from entry.dictionary_model import Dictionary, VariableType
from entry.registry_folder import read_registry_folder
from portal.settings import PROJECT_ROOT
from registries.stroke.synthetic import generate

REGISTRATIONS = 2_000
STROKE = read_registry_folder(PROJECT_ROOT / "registries" / "stroke")
EXPECTED_DTYPES = {
    "age": pl.Int64(),
    "sex": pl.Int64(),
    "thrombolysis": pl.Int64(),
    "glucose_admission": pl.Float64(),
    "admission_date": pl.Date(),
    "arrival_datetime": pl.Datetime("us"),
    "door_to_needle_minutes": pl.Float64(),
    "alive_30_days": pl.Float64(),
}


def seed(app: flask.Flask, registrations: int = REGISTRATIONS, seed: int = 1) -> None:
    result = app.test_cli_runner().invoke(
        args=[
            "seed-demo",
            "--registrations",
            str(registrations),
            "--seed",
            str(seed),
            "--without-users",
        ]
    )
    assert result.exit_code == 0, result.output


class CountingBuilder:
    """Counts full reads of the database; the seam `snapshot(build=...)` offers. `stamped`
    builds as `snapshot` does by default (row stamps kept for the next version)."""

    def __init__(self, *, stamped: bool = False) -> None:
        self.calls = 0
        self.stamped = stamped

    def __call__(self, database: Database, key: str, dictionary: Dictionary) -> pl.DataFrame:
        self.calls += 1
        if self.stamped:
            return stamped_finished_frame(database, key, dictionary)
        return finished_frame(database, key, dictionary)


def test_snapshot_has_one_typed_column_per_variable(app: flask.Flask) -> None:
    seed(app)
    database: Database = app.extensions["database"]
    frame = registration_frame(database, "stroke", STROKE.dictionary)
    variables = [v.name for v in STROKE.dictionary.variables if v.type != "descriptive"]
    assert frame.columns == ["id", "unit_id", "event_date", "status", *variables]
    for name, dtype in EXPECTED_DTYPES.items():
        assert frame.schema[name] == dtype, name
    assert frame.height == REGISTRATIONS
    generated = generate(read_units(database), registrations=REGISTRATIONS, seed=1).registrations
    for name in ["unit_id", "event_date", "status", *EXPECTED_DTYPES]:
        assert_series_equal(frame[name], generated[name], check_dtypes=False)
    finished = finished_frame(database, "stroke", STROKE.dictionary)
    assert finished.equals(frame.filter(pl.col("status").is_in(PUBLISHED_STATUSES)))
    assert 0 < finished.height < frame.height  # the snapshot's frame leaves drafts out


def test_snapshot_is_reused_while_the_version_holds(app: flask.Flask, tmp_path: Path) -> None:
    seed(app)
    database: Database = app.extensions["database"]
    folder, build = tmp_path / "snapshots", CountingBuilder()
    first = snapshot(database, "stroke", STROKE.dictionary, folder, build=build)
    version = data_version(database, "stroke")
    path = folder / f"stroke-v{version}.parquet"
    before = path.stat()
    second = snapshot(database, "stroke", STROKE.dictionary, folder, build=build)
    assert build.calls == 1
    assert (path.stat().st_mtime_ns, path.stat().st_ino) == (before.st_mtime_ns, before.st_ino)
    assert first.equals(second) and second.schema == first.schema


def test_new_data_writes_a_new_version_and_removes_the_old(
    app: flask.Flask, tmp_path: Path
) -> None:
    seed(app)
    database: Database = app.extensions["database"]
    folder, build = tmp_path / "snapshots", CountingBuilder()
    snapshot(database, "stroke", STROKE.dictionary, folder, build=build)
    old = data_version(database, "stroke")
    seed(app, registrations=500, seed=2)
    new = data_version(database, "stroke")
    assert new > old
    frame = snapshot(database, "stroke", STROKE.dictionary, folder, build=build)
    assert build.calls == 2 and 0 < frame.height < 500  # the second seed's finished ones
    assert set(frame["status"]) <= set(PUBLISHED_STATUSES)
    assert sorted(p.name for p in folder.iterdir()) == [f"stroke-v{new}.parquet"]


def _change_some(database: Database, *, edits: int) -> None:
    """Every kind of change a finished record meets, and a new data version: `edits`
    records edited, one taken back to draft, one draft completed, one deleted, one new."""
    with database.transaction() as session:
        stroke = session.scalar(select(Registry).where(Registry.key == "stroke"))
        assert stroke is not None
        finished = list(
            session.scalars(
                select(Registration)
                .where(
                    Registration.registry_id == stroke.id,
                    Registration.status.in_(PUBLISHED_STATUSES),
                )
                .order_by(Registration.id)
                .limit(edits + 3)
            )
        )
        for registration in finished[:edits]:
            registration.values = {**registration.values, "age": 18}
        finished[edits].status = "draft"
        session.delete(finished[edits + 1])
        template = finished[edits + 2]
        session.add(
            Registration(
                registry_id=stroke.id,
                unit_id=template.unit_id,
                patient_id=template.patient_id,
                event_date=template.event_date,
                status="complete",
                values={**template.values, "age": 99},
            )
        )
        draft = session.scalars(
            select(Registration)
            .where(Registration.registry_id == stroke.id, Registration.status == "draft")
            .order_by(Registration.id.desc())
            .limit(1)
        ).one()
        draft.status = "complete"
        stroke.data_version += 1


@pytest.mark.parametrize(("edits", "full_reads"), [(5, 1), (1_000, 2)])
def test_a_new_version_reads_what_changed_and_equals_a_full_read(
    app: flask.Flask, tmp_path: Path, edits: int, full_reads: int
) -> None:
    """From the previous file and the changed rows only, the same frame as reading every
    row again; when much has changed (1,000 of about 1,950 finished), everything is read."""
    seed(app)
    database: Database = app.extensions["database"]
    folder, build = tmp_path / "snapshots", CountingBuilder(stamped=True)
    snapshot(database, "stroke", STROKE.dictionary, folder, build=build)
    _change_some(database, edits=edits)
    frame = snapshot(database, "stroke", STROKE.dictionary, folder, build=build)
    expected = finished_frame(database, "stroke", STROKE.dictionary)
    assert build.calls == full_reads
    assert frame.schema == expected.schema and frame.equals(expected)
    assert frame.filter(pl.col("id") == frame["id"].max())["age"].item() == 99  # the new one
    version = data_version(database, "stroke")
    assert sorted(p.name for p in folder.iterdir()) == [f"stroke-v{version}.parquet"]
    again = snapshot(database, "stroke", STROKE.dictionary, folder, build=build)
    assert again.equals(expected) and build.calls == full_reads


def test_a_registry_whose_records_all_went_back_to_draft_is_empty(
    app: flask.Flask, tmp_path: Path
) -> None:
    seed(app, registrations=50)
    database: Database = app.extensions["database"]
    folder, build = tmp_path / "snapshots", CountingBuilder(stamped=True)
    snapshot(database, "stroke", STROKE.dictionary, folder, build=build)
    with database.transaction() as session:
        for registration in session.scalars(select(Registration)):
            registration.status = "draft"
        stroke = session.scalar(select(Registry).where(Registry.key == "stroke"))
        assert stroke is not None
        stroke.data_version += 1
    frame = snapshot(database, "stroke", STROKE.dictionary, folder, build=build)
    assert build.calls == 1 and frame.height == 0
    assert frame.schema == finished_frame(database, "stroke", STROKE.dictionary).schema


def test_a_file_without_row_stamps_is_read_again_in_full(app: flask.Flask, tmp_path: Path) -> None:
    seed(app)
    database: Database = app.extensions["database"]
    folder = tmp_path / "snapshots"
    snapshot(database, "stroke", STROKE.dictionary, folder, build=CountingBuilder())
    _change_some(database, edits=1)
    build = CountingBuilder(stamped=True)
    frame = snapshot(database, "stroke", STROKE.dictionary, folder, build=build)
    assert build.calls == 1
    assert frame.equals(finished_frame(database, "stroke", STROKE.dictionary))


def test_an_unknown_registry_is_empty_at_version_zero(database: Database, tmp_path: Path) -> None:
    frame = snapshot(database, "nothing", STROKE.dictionary, tmp_path)
    assert data_version(database, "nothing") == 0
    assert frame.height == 0 and frame.schema["age"] == pl.Int64()
    assert (tmp_path / "nothing-v0.parquet").exists()


def test_every_stored_form_decodes_and_bookkeeping_keys_are_ignored() -> None:
    raw = pl.DataFrame(
        {
            "id": [1, 2],
            "unit_id": [10, 10],
            "event_date": [None, None],
            "status": ["draft", "complete"],
            "values": [
                '{"t": "08:30:00", "m": [1, 3], "x": "fri tekst", "_skipped": ["d"],'
                ' "_acknowledged": ["x:rule1"], "d": "2024-02-29"}',
                '{"t": "23:59", "dt": "2024-01-02T03:04"}',
            ],
        },
        schema_overrides={"event_date": pl.Date()},
    )
    types = {
        "t": pl.Time(),
        "m": pl.List(pl.Int64()),
        "x": pl.String(),
        "d": pl.Date(),
        "dt": pl.Datetime("us"),
    }
    frame = typed_values(raw, types)
    assert dict(frame.schema) == {**dict(raw.drop("values").schema), **types}
    assert frame.row(0)[4:] == (time(8, 30), [1, 3], "fri tekst", date(2024, 2, 29), None)
    assert frame.row(1)[4:] == (time(23, 59), None, None, None, datetime(2024, 1, 2, 3, 4))


def test_choices_with_text_codes_keep_their_codes() -> None:
    coded = (Choice("a", Text("A", "A")), Choice("b", Text("B", "B")))
    dictionary = Dictionary(
        variables=(
            Variable("s", "f", 1, "single", Text("S", "S"), choices=coded, value_type="text"),
            Variable("m", "f", 2, "multiple", Text("M", "M"), choices=coded, value_type="codes"),
        ),
        forms=("f",),
    )
    types = column_types(dictionary)
    assert types == {"s": pl.String(), "m": pl.List(pl.String())}
    raw = pl.DataFrame(
        {
            "id": [1],
            "unit_id": [10],
            "event_date": [None],
            "status": ["complete"],
            "values": ['{"s": "b", "m": ["a", "b"]}'],
        },
        schema_overrides={"event_date": pl.Date()},
    )
    assert typed_values(raw, types).row(0)[4:] == ("b", ["a", "b"])


def _variable(name: str, kind: VariableType, **extra: Any) -> Variable:
    return Variable(name, "f", 1, kind, Text(name, name), **extra)


ULLEVAL_DEPARTMENT = 100032
NUMBERED = (Choice("1", Text("A", "A")), Choice("3", Text("C", "C")))
AWKWARD = Dictionary(
    variables=(
        _variable("note", "text"),
        _variable("notes", "notes"),
        _variable("count", "integer"),
        _variable("weight", "decimal"),
        _variable("day", "date"),
        _variable("moment", "datetime"),
        _variable("clock", "time"),
        _variable("picked", "multiple", choices=NUMBERED),
        _variable("one", "single", choices=NUMBERED),
        _variable("flag", "calculated", value_type="boolean"),
    ),
    forms=("f",),
)
TEXTS = (
    'He said "hi", then left',
    "line one\nline two\r\nline three\n",
    "tab\there\tand there",
    "back\\slash, \\n is not a newline, \\",
    "Ærlig øl på Å – 日本語 🚑",
    "",
    ",,,",
    '""',
    '{"not": "a document"}',
    "\x01\x1f control",
    "  007  ",
)
DOCUMENTS: tuple[dict[str, Any], ...] = (
    *(
        {
            "note": text,
            "notes": text[::-1],
            "count": index,
            "weight": index + 0.25,
            "day": f"2024-02-{index + 10:02d}",
            "moment": f"2024-01-02T03:{index:02d}",
            "clock": f"08:{index:02d}:30",
            "picked": [1, 3][: index % 3],
            "one": 1 + 2 * (index % 2),
            "flag": index % 2 == 0,
            "_skipped": ["day"],
        }
        for index, text in enumerate(TEXTS)
    ),
    {},
    {"note": None, "count": None, "day": None, "picked": None, "clock": "23:59"},
    {"moment": "2024-03-01T12:00:00.123456", "weight": 5, "day": "2024-03-01T00:00:00"},
)
EDITED = 1
"""The registration (a complete one) edited after all are stored: PostgreSQL keeps the new
version of a row at the end of the table, out of id order for a scan of the table."""


def _store(database: Database, documents: Sequence[dict[str, Any]]) -> None:
    """The documents as registrations of "awkward", statuses in turn, with drafts of another
    registry between them (and a run of them, so some stretches of ids hold none)."""
    sync_units(database, read_unit_tree())
    awkward = ensure_registry(database, "awkward", "Vanskelig", "Awkward")
    other = ensure_registry(database, "other", "Annet", "Other")
    with database.transaction() as session:
        patient = Patient(
            pseudonym="p", national_id_encrypted=b"x", birth_date=date(1950, 1, 1), sex="male"
        )
        session.add(patient)
        session.flush()

        def add(registry_id: int, day: int, status: str, values: dict[str, Any]) -> None:
            session.add(
                Registration(
                    registry_id=registry_id,
                    unit_id=ULLEVAL_DEPARTMENT,
                    patient_id=patient.id,
                    event_date=date(2023, 1, 28 - day % 28),  # not in the ids' order
                    status=status,
                    values=values,
                )
            )
            session.flush()  # one id after the other, in this order

        for index, values in enumerate(documents):
            add(awkward, index, REGISTRATION_STATUSES[index % 3], values)
            for extra in range(9 if index == len(documents) // 2 else 1):
                add(other, extra, "draft", {"note": "not this registry"})
    with database.transaction() as session:
        edited = session.scalars(
            select(Registration)
            .where(Registration.registry_id == awkward)
            .order_by(Registration.id)
            .offset(EDITED)
            .limit(1)
        ).one()
        edited.values = {**edited.values, "note": "edited"}
    if database.dialect == "postgresql":  # statistics, as autovacuum keeps them: with them
        with database.engine.connect() as connection:  # a small table is scanned, not indexed
            connection.execute(text("ANALYZE registrations"))
            connection.commit()


def _straightforward(
    database: Database, dictionary: Dictionary, statuses: Sequence[str]
) -> pl.DataFrame:
    """The frame built the plain way: every registration as an ORM object, its values
    converted one by one in Python (integers stored as 2.0 read leniently, as polars does)."""
    types = column_types(dictionary)
    with database.reading() as session:
        registrations = session.scalars(
            select(Registration)
            .join(Registry)
            .where(Registry.key == "awkward", Registration.status.in_(statuses))
            .order_by(Registration.id)
        ).all()
        rows = [
            (
                r.id,
                r.unit_id,
                r.event_date,
                r.status,
                *(_converted(r.values.get(name), dtype) for name, dtype in types.items()),
            )
            for r in registrations
        ]
    return pl.DataFrame(rows, schema={**CORE_SCHEMA, **types}, orient="row")


def _converted(value: Any, dtype: pl.DataType) -> Any:
    if value is None:
        return None
    if dtype == pl.Date():
        return date.fromisoformat(value[:10])
    if dtype == pl.Datetime("us"):
        return datetime.fromisoformat(value)
    if dtype == pl.Time():
        return time.fromisoformat(value)
    if dtype == pl.Int64():
        return int(value)
    if dtype == pl.Float64():
        return float(value)
    return value


@pytest.mark.parametrize("chunk_ids", [3, snapshot_module.CHUNK_IDS])
@pytest.mark.parametrize(
    "documents",
    [DOCUMENTS, (*DOCUMENTS, {"count": 2.0})],
    ids=["strict", "an integer stored as 2.0"],
)
@pytest.mark.parametrize("statuses", [REGISTRATION_STATUSES, PUBLISHED_STATUSES, ("draft",)])
def test_the_frame_is_what_a_plain_reading_gives(
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
    chunk_ids: int,
    documents: Sequence[dict[str, Any]],
    statuses: Sequence[str],
) -> None:
    """Awkward text (quotes, commas, newlines, tabs, backslashes, unicode, empty), nulls,
    missing keys, dates, times, lists and every status: read in one chunk and in many
    (some of them without a registration of the registry), and in id order although the
    database does not keep it."""
    _store(database, documents)
    monkeypatch.setattr(snapshot_module, "CHUNK_IDS", chunk_ids)
    frame = registration_frame(database, "awkward", AWKWARD, statuses=statuses)
    expected = _straightforward(database, AWKWARD, statuses)
    assert frame.schema == expected.schema
    assert frame.equals(expected)
    assert set(frame["status"]) == set(statuses)
    if statuses == REGISTRATION_STATUSES:
        edited = [*TEXTS[:EDITED], "edited", *TEXTS[EDITED + 1 :]]
        assert frame["note"].head(len(TEXTS)).to_list() == edited


def test_finished_frame_leaves_drafts_out(database: Database) -> None:
    _store(database, DOCUMENTS)
    every = registration_frame(database, "awkward", AWKWARD)
    finished = finished_frame(database, "awkward", AWKWARD)
    assert finished.equals(every.filter(pl.col("status").is_in(PUBLISHED_STATUSES)))
    assert 0 < finished.height < every.height


def test_a_registry_without_registrations_in_the_statuses_is_empty(database: Database) -> None:
    _store(database, DOCUMENTS)
    frame = finished_frame(database, "other", AWKWARD)  # it has drafts only
    assert frame.height == 0
    assert frame.schema == {**CORE_SCHEMA, **column_types(AWKWARD)}
