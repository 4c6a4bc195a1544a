"""How fast and how lean the CSV export of 1,000,000 registrations is (goal: 30 seconds,
never the whole file in memory).

    .venv/bin/python benchmarks/export.py [--registrations 1000000] [--database URL]

Seeds the demo registry into a SQLite file under `benchmarks/.cache/` (reused on later runs,
keyed by the size) unless `--database` names one that already holds it, logs in an analyst
with a grant on the nation, and downloads `/export/stroke.csv` with every variable through
the real route (Flask's test client, unbuffered), counting the bytes and lines as they
stream. It prints the wall time, the CPU time of this process, the peak resident memory
during the export (Linux: the high-water mark is reset just before) and the file's size,
so "not holding the whole file" shows as a peak far below the file's size. With
`--python-heap` it also traces the Python heap's peak (tracemalloc slows every allocation,
so the times of such a run are not the export's). The machine is shared: the load average
before and after is printed too; rerun at a quiet moment if it is high. Not part of the
test suite.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import create_app
from data_access.accounts import AccountError, create_user, find_user_id, grant
from data_access.audit import SYSTEM
from data_access.database import Database
from data_access.snapshot import data_version
from portal.demo import seed_demo
from portal.settings import Settings

GOAL_SECONDS = 30.0
PASSWORD = "benchmark-passord-som-er-langt"
CACHE = Path(__file__).resolve().parent / ".cache"


def memory_kib(field: str) -> int:
    """A field of /proc/self/status in KiB (VmRSS now, VmHWM the peak); 0 off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def reset_peak() -> bool:
    """Start the resident high-water mark afresh (Linux `clear_refs` 5)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--registrations", type=int, default=1_000_000)
    parser.add_argument("--database", default=None, help="default: a cached SQLite file")
    parser.add_argument(
        "--python-heap",
        action="store_true",
        help="also trace the Python heap's peak (tracemalloc; slows the export down)",
    )
    args = parser.parse_args()
    CACHE.mkdir(exist_ok=True)
    url = args.database or f"sqlite:///{CACHE / f'export-{args.registrations}.sqlite3'}"
    with tempfile.TemporaryDirectory() as folder:
        environ = {
            "DATABASE_URL": url,
            "AUTO_MIGRATE": "true",
            "SEED_DEMO": "false",
            "REQUIRE_TWO_FACTOR": "false",
            "LOG_LEVEL": "WARNING",
        }
        settings = Settings.from_environ(environ, instance_path=Path(folder) / "instance")
        server = create_app(settings)
        database: Database = server.extensions["database"]
        _ensure_registry(server, database, settings, args.registrations)
        _ensure_analyst(database)

        client = server.test_client()
        page = client.get("/login").get_data(as_text=True)
        token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        form = {"username": "benchmark-analyst", "password": PASSWORD, "csrf_token": token}
        assert client.post("/login", data=form).status_code == 302, "login failed"
        with server.app_context():
            from portal.catalogue import installed_registries

            (stroke,) = [r for r in installed_registries() if r.key == "stroke"]
        variables = [v.name for v in stroke.dictionary.variables if v.type != "descriptive"]
        address = "/export/stroke.csv?variables=" + ",".join(variables)

        load_before = os.getloadavg()
        baseline_kib = memory_kib("VmRSS")
        peak_reset = reset_peak()
        if args.python_heap:
            tracemalloc.start()
        cpu_started, started = time.process_time(), time.perf_counter()
        first_byte = None
        size = lines = 0
        response = client.get(address, buffered=False)
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        for chunk in response.response:
            if first_byte is None:
                first_byte = time.perf_counter() - started
            size += len(chunk)
            lines += chunk.count(b"\n")
        response.close()
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        heap_peak = tracemalloc.get_traced_memory()[1] if args.python_heap else None
        tracemalloc.stop()
        peak_kib = (
            memory_kib("VmHWM")
            if peak_reset
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        )
        load_after = os.getloadavg()

        rows = lines - 1
        print(f"database:            {database.dialect} ({url.split('///')[-1]})")
        print(f"registrations:       {rows:,} rows x {len(variables) + 6} columns exported")
        print(f"file:                {size / 1e6:,.1f} MB of CSV")
        print(f"first bytes after:   {first_byte or 0:8.2f} s")
        print(
            f"wall time:           {seconds:8.2f} s  (goal {GOAL_SECONDS:.0f} s: "
            f"{'within' if seconds <= GOAL_SECONDS else 'OVER'}), {rows / seconds:,.0f} rows/s"
        )
        print(f"CPU time (process):  {cpu:8.2f} s  (all threads)")
        print(f"resident memory:     {baseline_kib / 1024:8.0f} MiB before the export")
        print(
            f"peak during export:  {peak_kib / 1024:8.0f} MiB resident "
            f"({(peak_kib - baseline_kib) / 1024:+.0f} MiB over the baseline"
            f"{'' if peak_reset else '; high-water mark of the whole process'})"
        )
        if heap_peak is not None:
            print(f"Python heap peak:    {heap_peak / 2**20:8.0f} MiB (tracemalloc; slows the run)")
        print(
            "load average:        "
            f"{load_before[0]:.1f} before, {load_after[0]:.1f} after "
            f"({os.cpu_count()} CPUs; other processes share them)"
        )
        database.dispose()


def _ensure_registry(server: object, database: Database, settings: Settings, size: int) -> None:
    """Seed the demo registry unless the database already holds it (data version > 0)."""
    if data_version(database, "stroke") > 0:
        return
    from flask import Flask

    assert isinstance(server, Flask)
    with server.app_context():
        from portal.catalogue import installed_registries

        (stroke,) = [r for r in installed_registries() if r.key == "stroke"]
    print(f"seeding {size:,} registrations (once; cached for later runs) ...", flush=True)
    seed_demo(database, settings, stroke, size, seed=2026)


def _ensure_analyst(database: Database) -> None:
    try:
        find_user_id(database, "benchmark-analyst")
    except AccountError:
        create_user(database, SYSTEM, "benchmark-analyst", "Benchmark Analyst", PASSWORD)
        grant(database, SYSTEM, "benchmark-analyst", "stroke", 1, "analyst")


if __name__ == "__main__":
    main()
