"""The registrations as a typed, versioned Parquet snapshot, on both databases."""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path

import flask
import polars as pl
from polars.testing import assert_series_equal

from data_access.database import Database
from data_access.models import PUBLISHED_STATUSES
from data_access.reference_data import read_units
from data_access.snapshot import (
    column_types,
    data_version,
    finished_frame,
    registration_frame,
    snapshot,
    typed_values,
)
from entry.dictionary import Choice, Text, Variable
from entry.dictionary_model import Dictionary
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
    """Counts real reads of the database; the seam `snapshot(build=...)` offers."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, database: Database, key: str, dictionary: Dictionary) -> pl.DataFrame:
        self.calls += 1
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
