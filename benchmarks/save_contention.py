"""Form saves beside pages being drawn in the same worker, by the interpreter's switch interval.

    .venv/bin/python benchmarks/save_contention.py [--registrations 1000000] [--saves 80]
        [--drawing 1] [--intervals 5,1,0.5] [--rounds 2] [--seed 2026]

A gunicorn worker serves its requests in threads (`gunicorn.conf.py`), which share one
interpreter. A form save spends most of its time waiting on the database and Redis, and
gives the interpreter up at every round trip; to take it back from a thread that is
drawing a page, it waits until that thread is made to let go, which Python does after the
switch interval (`sys.setswitchinterval`, 5 ms unless set). This benchmark shows what that
costs a save and what a shorter interval (`SWITCH_INTERVAL_MS`) gains.

One worker runs on the load benchmark's registry (`benchmarks/load.py`: PostgreSQL and
Redis, seeded on first use). `--drawing` clinicians keep asking for their My unit page
(a page of 0.1-1 s of Python), one after the other, while a registrar makes `--saves` form
saves through the form's Save callback, one at a time, each timed. Each interval of
`--intervals` (milliseconds; the first is the baseline, Python's default) gets a fresh
worker, and the whole series runs `--rounds` times in turn, so that a drift of the machine
falls on every interval alike. Printed per interval: save p50, p95 and slowest, the ratio
of p95 to the baseline's, and the My unit pages drawn per second meanwhile (the drawing
thread's own pace, which a shorter interval must not cut).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.dash_client import Visitor, page_router_body
from benchmarks.load import CACHE_URL, CLINICIANS, POSTGRES, REGISTRARS, benchmark_users, seeded
from benchmarks.load_traffic import PASSWORD, ROOT
from benchmarks.registrars import Registrar, form_shapes, save_callback
from benchmarks.serving import free_port, gunicorn
from data_access.database import Database
from data_access.reference_data import read_units
from entry.registry_folder import read_registry_folder

WARM_SAVES = 8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--registrations", type=int, default=1_000_000)
    parser.add_argument("--saves", type=int, default=80, help="timed saves per interval and round")
    parser.add_argument("--drawing", type=int, default=1, help="clinicians drawing My unit")
    parser.add_argument("--intervals", default="5,1,0.5", help="ms; the first is the baseline")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--postgres", default=POSTGRES)
    parser.add_argument("--cache-url", default=CACHE_URL)
    args = parser.parse_args()
    if not 0 <= args.drawing <= CLINICIANS:
        raise SystemExit(f"--drawing: 0 to {CLINICIANS} (the load benchmark's clinicians)")
    intervals = [float(text) for text in args.intervals.split(",")]

    environ = seeded(args.registrations, args.seed, args.postgres, None, args.cache_url)
    database = Database(environ["DATABASE_URL"])
    # The load benchmark's users, so that neither benchmark changes the other's grants.
    registrar_units, clinician_units = benchmark_users(
        database, read_units(database), REGISTRARS, CLINICIANS
    )
    database.dispose()
    saves: dict[float, list[float]] = {interval: [] for interval in intervals}
    pages: dict[float, list[float]] = {interval: [] for interval in intervals}
    for round_number in range(1, args.rounds + 1):
        for interval in intervals:
            environ["SWITCH_INTERVAL_MS"] = f"{interval:g}"
            with gunicorn(environ, free_port(), 1) as base:
                timed, drawn = _beside_drawing(
                    base, registrar_units[0], clinician_units[: args.drawing], args.saves
                )
            saves[interval] += timed
            pages[interval].append(drawn)
            print(
                f"round {round_number}, {interval:g} ms: save p50 {_cut(timed, 50):.1f} ms, "
                f"p95 {_cut(timed, 95):.1f} ms; {drawn:.1f} My unit pages/s",
                flush=True,
            )
    _report(args, intervals, saves, pages)


def _beside_drawing(
    base: str, registrar_unit: int, clinician_units: list[int], count: int
) -> tuple[list[float], float]:
    """`count` timed saves while the clinicians draw My unit; and the pages drawn per second."""
    visitor = Visitor(base, address="127.0.1.1")
    visitor.log_in("load-registrar-01", PASSWORD)
    dictionary = read_registry_folder(ROOT / "registries" / "stroke").dictionary
    shapes = form_shapes(visitor, registrar_unit)
    registrar = Registrar(visitor, registrar_unit, 1, dictionary, shapes, save_callback(visitor))
    for _ in range(WARM_SAVES):
        registrar.saved(visitor.post(registrar.next_save()))
    stop = threading.Event()
    drawn = [0] * len(clinician_units)  # one count per clinician's thread
    clinicians = []
    for number, unit_id in enumerate(clinician_units, start=1):
        clinician = Visitor(base, address=f"127.0.2.{number}")
        clinician.log_in(f"load-clinician-{number:02d}", PASSWORD)
        body = page_router_body("/my-unit", f"?registry=stroke&unit={unit_id}")
        clinician.post(body)  # its first drawing, untimed
        clinicians.append(
            threading.Thread(target=_draw, args=(clinician, body, stop, drawn, number - 1))
        )
    for thread in clinicians:
        thread.start()
    started = time.perf_counter()
    timed = []
    for _ in range(count):
        began = time.perf_counter()
        answer = visitor.post(registrar.next_save())
        timed.append((time.perf_counter() - began) * 1000)
        registrar.saved(answer)
    elapsed = time.perf_counter() - started
    stop.set()
    for thread in clinicians:
        thread.join()
    return timed, sum(drawn) / elapsed


def _draw(
    visitor: Visitor, body: dict[str, Any], stop: threading.Event, drawn: list[int], mine: int
) -> None:
    while not stop.is_set():
        visitor.post(body)
        drawn[mine] += 1


def _cut(values: list[float], percent: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


def _report(
    args: argparse.Namespace,
    intervals: list[float],
    saves: dict[float, list[float]],
    pages: dict[float, list[float]],
) -> None:
    print(
        f"\nregistrations={args.registrations:,}, one worker, {args.drawing} clinician(s) "
        f"drawing My unit, {args.saves} saves x {args.rounds} rounds per interval"
    )
    heads = ("p50 ms", "p95 ms", "max ms", "p95/base", "pages/s")
    print(f"{'interval':>9} " + " ".join(f"{head:>8}" for head in heads))
    baseline = _cut(saves[intervals[0]], 95)
    for interval in intervals:
        times = saves[interval]
        print(
            f"{interval:>6g} ms {_cut(times, 50):8.1f} {_cut(times, 95):8.1f} {max(times):8.1f} "
            f"{_cut(times, 95) / baseline:9.2f} {statistics.fmean(pages[interval]):8.1f}"
        )


if __name__ == "__main__":
    main()
