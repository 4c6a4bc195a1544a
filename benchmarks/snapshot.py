"""How fast a registry's finished registrations become the typed polars frame (the snapshot).

    .venv/bin/python benchmarks/snapshot.py [--registrations 1000000] [--seed 2026]
        [--runs 2] [--postgres URL | --sqlite]

The demo stroke registry is seeded once per size, seed and database kind with the project's
own command (`benchmarks/serving.py`), into a PostgreSQL database of its own on the server
`--postgres` names (`bench_snapshot_<N>_<seed>`) or, with `--sqlite`, a SQLite file in an
instance folder under the temporary directory; later runs reuse it. Each run then times,
alternately and `--runs` times each:

- baseline: what an analyst would write, and what the portal did before: the rows fetched
  through SQLAlchemy as Python objects, a polars frame built from the tuples, and the JSON
  documents decoded by `typed_values` (today's, which no longer detours through one Python
  string of all the documents);
- `data_access.snapshot.finished_frame`, as the results refresh calls it.

PostgreSQL's planner statistics are gathered (ANALYZE) before timing, as autovacuum would
after the load (the test server runs without it). The script checks that both ways give the
same frame (`frame.equals`, and the same schema), and prints for each: the wall time; the
CPU time of this process (all its threads); the CPU time of the PostgreSQL server's
processes on this machine meanwhile (any other client's queries included); and how long a
concurrent Python thread was kept waiting (`stalled`: how late a thread that asks to wake
every millisecond woke up, in total and at worst), which is what the other requests of a
web worker feel while the refresh holds the GIL. Reported with the load average, since the
machine is shared.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from sqlalchemy import Text, cast, create_engine, select, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.serving import environment, postgres_database, prepare  # noqa: E402
from data_access.database import Database  # noqa: E402
from data_access.models import PUBLISHED_STATUSES, Registration, Registry  # noqa: E402
from data_access.snapshot import (  # noqa: E402
    CORE_SCHEMA,
    column_types,
    finished_frame,
    typed_values,
)
from entry.dictionary_model import Dictionary  # noqa: E402
from entry.registry_folder import read_registry_folder  # noqa: E402

POSTGRES = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PROBE_SECONDS = 0.001

Builder = Callable[[Database, str, Dictionary], pl.DataFrame]


def baseline_frame(database: Database, registry_key: str, dictionary: Dictionary) -> pl.DataFrame:
    """The straightforward reading: one Python tuple per row, then a frame from the tuples."""
    query = (
        select(
            Registration.id,
            Registration.unit_id,
            Registration.event_date,
            Registration.status,
            cast(Registration.values, Text).label("values"),
        )
        .join(Registry, Registry.id == Registration.registry_id)
        .where(Registry.key == registry_key, Registration.status.in_(PUBLISHED_STATUSES))
        .order_by(Registration.id)
    )
    with database.reading() as session:
        rows = session.execute(query).all()
    raw = pl.DataFrame(
        [tuple(row) for row in rows], schema={**CORE_SCHEMA, "values": pl.String()}, orient="row"
    )
    return typed_values(raw, column_types(dictionary))


@dataclass(frozen=True)
class Timing:
    wall: float
    cpu: float
    server_cpu: float
    stalled: float
    worst_stall: float


def postgres_cpu() -> float:
    """CPU seconds used so far by the processes named postgres (0 where there are none)."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)
        except OSError:  # the process ended meanwhile
            continue
        if fields[0].endswith("(postgres"):
            utime, stime = fields[1].split()[11:13]
            ticks += int(utime) + int(stime)
    return ticks / os.sysconf("SC_CLK_TCK")


class StallProbe:
    """A thread that asks to wake every millisecond and adds up how late it woke: the time
    another thread of this process kept the GIL from it (or the machine kept a core)."""

    def __init__(self) -> None:
        self.stalled = 0.0
        self.worst = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> StallProbe:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            time.sleep(PROBE_SECONDS)
            late = time.perf_counter() - started - PROBE_SECONDS
            self.stalled += late
            self.worst = max(self.worst, late)


def timed(
    build: Builder, database: Database, dictionary: Dictionary
) -> tuple[pl.DataFrame, Timing]:
    with StallProbe() as probe:
        wall, cpu, server = time.perf_counter(), time.process_time(), postgres_cpu()
        frame = build(database, "stroke", dictionary)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        server = postgres_cpu() - server
    return frame, Timing(wall, cpu, server, probe.stalled, probe.worst)


def _database(args: argparse.Namespace) -> str:
    """The seeded database's URL: made and seeded on the first run, reused by later ones."""
    kind = "sqlite" if args.sqlite else "postgres"
    name = f"bench_snapshot_{args.registrations}_{args.seed}"
    instance = Path(tempfile.gettempdir()) / f"{name.replace('_', '-')}-{kind}"
    url = None if args.sqlite else postgres_database(args.postgres, name)
    environ = environment(instance, url, None)
    prepare(environ, args.registrations, args.seed)
    if url is not None:  # planner statistics, as autovacuum would gather after the load
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text("ANALYZE"))
        engine.dispose()
    return environ["DATABASE_URL"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--registrations", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--runs", type=int, default=2, help="timed calls of each way")
    parser.add_argument("--postgres", default=POSTGRES, help="server to make the database on")
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file instead")
    args = parser.parse_args()

    database = Database(_database(args))
    dictionary = read_registry_folder(ROOT / "registries" / "stroke").dictionary
    ways: dict[str, Builder] = {"baseline": baseline_frame, "finished_frame": finished_frame}
    frames: dict[str, pl.DataFrame] = {}
    timings: dict[str, list[Timing]] = {name: [] for name in ways}
    for _ in range(args.runs):
        for name, build in ways.items():
            frames[name], timing = timed(build, database, dictionary)
            timings[name].append(timing)
    database_kind = database.dialect
    database.dispose()

    old, new = frames["baseline"], frames["finished_frame"]
    same = old.schema == new.schema and old.equals(new)
    print(
        f"{database_kind}: {args.registrations:,} registrations, {new.height:,} finished rows "
        f"x {new.width} columns; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print(
        f"{'':16} {'wall s':>8} {'CPU s':>8} {'server CPU s':>13} {'stalled s':>10} {'worst ms':>9}"
    )
    for name, runs in timings.items():
        for t in runs:
            server = "-" if args.sqlite else f"{t.server_cpu:.2f}"  # SQLite's is in CPU s
            print(
                f"{name:16} {t.wall:8.2f} {t.cpu:8.2f} {server:>13} {t.stalled:10.2f} "
                f"{t.worst_stall * 1000:9.0f}"
            )
    best = {name: min(t.wall for t in runs) for name, runs in timings.items()}
    print(f"speed-up (best wall): {best['baseline'] / best['finished_frame']:.1f}x")
    print(f"frames equal: {'yes' if same else 'NO'}")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
