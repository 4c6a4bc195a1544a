"""How fast an import of 10,000 registrations from a file is read, checked and written.

    .venv/bin/python benchmarks/import_file.py [--rows 10000] [--postgresql] [--profile]

Builds an import file from the stroke demo generator (every input variable of the
dictionary as a column, synthetic national ids, the departments' unit ids, one row in
twenty spoilt by an unreadable age), then does what `flask --app app import` does (read
the file, map its rows, `data_access.imports.import_rows`) on a fresh migrated database,
as a registrar with a grant on the nation:

1. a preview (`--dry-run`): read, map and check every row, write nothing;
2. the first import (`--valid-only`): every good row created, with its patient, import key
   and audit event, in one transaction;
3. a re-import of the same file: every row compared, nothing changed;
4. a re-import with a tenth of the rows changed: those updated and audited with old and new
   values.

The goal of issue 8 is under 5 seconds for the first import of 10,000 rows on SQLite and on
PostgreSQL. The database is a SQLite file in a temporary folder, or with `--postgresql` a
throwaway database on the server of `TEST_POSTGRES_URL` (the tests' server by default).
`--profile` prints the functions that dominate the first import (cProfile, cumulative).
The machine is shared: the load average before and after is printed too. Not part of the
test suite.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data_access import migrate
from data_access.access import AccessScope, scope_for_user
from data_access.accounts import create_user, grant
from data_access.audit import SYSTEM, verify_chain
from data_access.database import Database
from data_access.imports import ImportMode, ImportReport, import_rows
from data_access.models import AuditEvent, Registration
from data_access.org_tree import read_unit_tree
from data_access.patient_identity import generate_key
from data_access.record_commands import IdentityKeys
from data_access.reference_data import ensure_registry, read_units, sync_units
from entry.import_mapping import ImportMapping, mapped_rows, read_mapping, read_table
from entry.national_id import synthetic_national_ids
from entry.registry_folder import RegistryFolder, read_registry_folder
from registries.stroke.synthetic import generate
from tests.conftest import fresh_database_url  # the tests' recipe for a throwaway database

GOAL_ROWS, GOAL_SECONDS = 10_000, 5.0
STROKE = Path(__file__).resolve().parents[1] / "registries" / "stroke"
PASSWORD = "benchmark-passord-som-er-langt"
BAD_EVERY = 20  # one row in twenty has an unreadable age


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=GOAL_ROWS)
    parser.add_argument("--postgresql", action="store_true", help="a throwaway PostgreSQL db")
    parser.add_argument("--profile", action="store_true", help="profile the first import")
    args = parser.parse_args()
    registry = read_registry_folder(STROKE)
    backend = "postgresql" if args.postgresql else "sqlite"
    with (
        tempfile.TemporaryDirectory() as folder,
        fresh_database_url(backend, Path(folder), postgres_available=True) as url,
    ):
        database = Database(url)
        migrate.upgrade(database)
        sync_units(database, read_unit_tree())
        ensure_registry(database, registry.key, registry.name.nb, registry.name.en)
        user_id = create_user(database, SYSTEM, "registrar", "Benchmark Registrar", PASSWORD)
        grant(database, SYSTEM, "registrar", registry.key, 1, "registrar")
        run = _Run(database, scope_for_user(database, user_id), registry)
        path, mapping = _import_file(database, registry, Path(folder), args.rows)
        changed = _changed_copy(path)

        load_before = os.getloadavg()
        timings = {
            "preview": run.timed(path, mapping, "preview"),
            "first import": run.timed(path, mapping, "valid_only", profile=args.profile),
            "re-import, unchanged": run.timed(path, mapping, "valid_only"),
            "re-import, 10% changed": run.timed(changed, mapping, "valid_only"),
        }
        load_after = os.getloadavg()
        with database.reading() as session:
            stored = session.scalar(select(func.count()).select_from(Registration))
            events = session.scalar(select(func.count()).select_from(AuditEvent))
        chain = verify_chain(database)
        print(f"database:        {database.dialect}")
        print(
            f"file:            {args.rows:,} rows x {len(mapping.columns) + 3} columns, "
            f"1 in {BAD_EVERY} bad"
        )
        print(f"{'':24}{'total':>8}  {'read+map':>8}  {'import':>8}  {'CPU':>8}")
        for name, (read, total, cpu, report) in timings.items():
            print(
                f"{name + ':':24}{total:7.2f}s  {read:7.2f}s  {total - read:7.2f}s  {cpu:7.2f}s  "
                f"{report.count('create')} created, {report.count('update')} updated, "
                f"{report.count('unchanged')} unchanged, {len(report.bad_rows)} bad"
            )
        first = timings["first import"][1]
        if args.rows == GOAL_ROWS:
            verdict = "within" if first <= GOAL_SECONDS else "OVER"
            print(f"goal:            first import under {GOAL_SECONDS:.0f} s: {verdict}")
        print(f"stored:          {stored:,} registrations, {events:,} audit events")
        print(f"audit chain:     {'verified' if chain.ok else 'BROKEN: ' + str(chain.reason)}")
        print(
            f"load average:    {load_before[0]:.1f} before, {load_after[0]:.1f} after "
            f"({os.cpu_count()} CPUs; other processes share them)"
        )
        database.dispose()


class _Run:
    """What the CLI command does with a file, timed: read and map it, then import the rows."""

    def __init__(self, database: Database, scope: AccessScope, registry: RegistryFolder) -> None:
        self.database, self.scope, self.registry = database, scope, registry
        self.keys = IdentityKeys(generate_key(), generate_key())

    def timed(
        self, path: Path, mapping: ImportMapping, mode: ImportMode, *, profile: bool = False
    ) -> tuple[float, float, float, ImportReport]:
        """(seconds reading and mapping, seconds in all, CPU seconds of this process, the
        report); on a busy machine the CPU time is the steadier figure (SQLite works inside
        this process, PostgreSQL's server does not count)."""
        profiler = cProfile.Profile() if profile else None
        cpu_started, started = time.process_time(), time.perf_counter()
        if profiler is not None:
            profiler.enable()
        rows = mapped_rows(
            read_table(path.read_bytes(), path.name), mapping, self.registry.dictionary
        )
        read = time.perf_counter() - started
        report = import_rows(
            self.database,
            self.scope,
            self.registry.key,
            mapping.source,
            rows,
            self.registry.dictionary,
            self.keys,
            event_date_variable=self.registry.event_date_variable,
            mode=mode,
        )
        if profiler is not None:
            profiler.disable()
        total, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        if profiler is not None:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
        return read, total, cpu, report


def _import_file(
    database: Database, registry: RegistryFolder, folder: Path, rows: int
) -> tuple[Path, ImportMapping]:
    """A CSV of demo registrations as another system would export them, and its mapping."""
    demo = generate(read_units(database), registrations=rows, seed=8)
    ids = synthetic_national_ids(demo.patients["birth_date"], demo.patients["sex"], seed=8)
    variables = [
        v.name
        for v in registry.dictionary.variables
        if v.name in demo.registrations.columns and v.type not in ("calculated", "descriptive")
    ]
    frame = demo.registrations.select(
        pl.format("B{}", pl.int_range(pl.len()).cast(pl.String).str.zfill(6)).alias("Episode"),
        pl.col("patient_index").replace_strict(range(ids.len()), ids).alias("Fnr"),
        pl.col("unit_id").alias("ReshId"),
        *(_as_text(name, demo.registrations.schema[name]) for name in variables),
    ).with_columns(
        pl.when(pl.int_range(pl.len()) % BAD_EVERY == BAD_EVERY - 1)
        .then(pl.lit("unknown"))
        .otherwise(pl.col("age"))
        .alias("age")
    )
    path = folder / "episodes.csv"
    frame.write_csv(path)
    lines = ["source: benchmark", "national_id: Fnr", "unit: ReshId", "source_key: Episode"]
    mapping = "\n".join([*lines, "columns:", *(f"  {name}: {name}" for name in variables)])
    return path, read_mapping(mapping, registry.dictionary)


def _as_text(name: str, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.Datetime:
        return pl.col(name).dt.strftime("%Y-%m-%dT%H:%M")
    if dtype == pl.Date:
        return pl.col(name).dt.strftime("%Y-%m-%d")
    return pl.col(name).cast(pl.String)


def _changed_copy(path: Path) -> Path:
    """The same file with the glucose of every tenth row changed."""
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for index, row in enumerate(rows):
        if index % 10 == 0 and row["glucose_admission"]:
            row["glucose_admission"] = f"{float(row['glucose_admission']) + 0.1:.1f}"
    changed = path.with_name("episodes-changed.csv")
    with changed.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return changed


if __name__ == "__main__":
    main()
