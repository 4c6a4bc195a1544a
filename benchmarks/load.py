"""Mixed load on the portal: public readers, clinicians and registrars at once (issue 10).

    .venv/bin/python benchmarks/load.py [--registrations 1000000] [--requests 3000]
        [--workers 4] [--clients 32] [--registrars 20] [--clinicians 8]
        [--save-share 0.15] [--logged-in-share 0.15] [--baseline-requests 750]
        [--seed 2026] [--postgres URL | --database URL] [--cache-url redis://127.0.0.1:6379/9]

The portal runs as in production: gunicorn (`gunicorn.conf.py`) with 4 workers on
PostgreSQL and Redis, on the demo registry with N registrations. The registry is seeded
once per size and seed, into a PostgreSQL database of its own (`portal_load_<N>_<seed>`,
created on the server `--postgres` names) and an instance folder beside it under the
temporary directory (`benchmarks/serving.py`), and later runs reuse both: only the first
run at 1,000,000 pays for seeding (its time is printed). Each run adds the registrations
its registrars create (one per four saves), which later runs keep. The Redis database
(`--cache-url`) is the benchmark's own and is emptied when the registry is seeded anew.

A fixed number of requests is shuffled into one stream and posted by `--clients` threads
at once, so the mix is the same from the first request to the last. An untimed warm-up
opens every public page once (so they are all in the page cache, as in `web.py`; the pages
an earlier run kept are forgotten first, being of older results); then a
baseline of reads only (`--baseline-requests`, a quarter of `--requests` unless given: the
same public and logged-in pages in the same proportions, no saves) is timed, and then the
mixed stream, in which every save that completes a record moves the data version and so
renews results and pages (draft saves count in no result and move nothing):

- public pages (anonymous): the results overview, the indicator page and the unit pages,
  each through Dash's page router with every filter value the page itself offers
  (year, level, sort, unit; both languages on the overview);
- logged-in unit pages (`--logged-in-share`), by clinicians, each with their own session
  and a grant on one department: My unit (year x indicator) and the drill-down, i.e. its
  page and then its list callback, which reads and audits patient-level records;
- form saves (`--save-share`) by the registrars, each logged in with their own session and
  saving one record at a time through the form page's own Save callback, as the page posts
  it (`benchmarks/registrars.py`): create a draft, update it, complete it.

Every user comes from a loopback address of their own (127.0.1.x, 127.0.2.x), as people
come from their own machines: the login form's per-address limit would refuse 28 logins
from one address within a minute. The benchmark users are made directly in the database
(`data_access.accounts`), and the portal runs with REQUIRE_TWO_FACTOR=false (development
only), so they log in with a password alone: the second factor is one more form post at
login and changes nothing the timed requests do.

Last, the same mix is offered at a fixed rate (`--rate` requests a second, `--paced-requests`
of them, half of `--requests` unless given): each request starts on its time whether or not
earlier ones have been answered, as people arrive at a portal. The mixed phase above asks
how much the portal can do (32 clients always waiting for an answer, so every request
queues behind others and latency is clients / throughput); this one asks how quickly it
answers at a stated load. The default, 20 requests a second, is 3 form saves a second: each
of the 20 registrars saving every 7 s, about ten times as often as a registrar typing a
form does, beside 17 page views a second.

After the run every acknowledged save is read back from the database
(`registrars.lost_writes`). Printed: latency p50, p95, p99 per traffic class and per kind
of request, throughput, errors, lost writes, and the goals: no errors, no lost writes,
public p95 <= 100 ms, form save p95 <= 50 ms. The clients run on the same machine as the
server and compete with it for the cores, so the figures are a lower bound of what the
server alone can do.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from functools import partial
from math import inf
from pathlib import Path

import polars as pl
import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.load_traffic import LATE_SECONDS, PASSWORD, Outcome, Task, Traffic, run, run_paced
from benchmarks.registrars import ReadBack, lost_writes
from benchmarks.serving import environment, free_port, gunicorn, postgres_database, prepare
from data_access import accounts
from data_access.accounts import AccountError
from data_access.audit import SYSTEM
from data_access.database import Database
from data_access.reference_data import read_units
from data_access.snapshot import data_version
from portal import page_cache
from portal.results_cache import stored_version
from portal.settings import Settings

POSTGRES = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
CACHE_URL = "redis://127.0.0.1:6379/9"
GOAL_PUBLIC_P95_MS = 100.0
GOAL_SAVE_P95_MS = 50.0
CLASSES = ("public", "logged-in", "form save")
RESULTS_DEADLINE_SECONDS = 600
REGISTRARS = 20
CLINICIANS = 8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--registrations", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=3_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--registrars", type=int, default=REGISTRARS)
    parser.add_argument("--clinicians", type=int, default=CLINICIANS)
    parser.add_argument("--save-share", type=float, default=0.15)
    parser.add_argument("--logged-in-share", type=float, default=0.15)
    parser.add_argument(
        "--baseline-requests", type=int, default=None, help="reads only (default: requests / 4)"
    )
    parser.add_argument("--rate", type=float, default=20.0, help="requests/s of the paced phase")
    parser.add_argument("--paced-requests", type=int, default=None, help="default: requests / 2")
    parser.add_argument("--seed", type=int, default=2026, help="of the demo data and the mix")
    parser.add_argument("--postgres", default=POSTGRES, help="server to make the database on")
    parser.add_argument("--database", default=None, help="DATABASE_URL to use instead")
    parser.add_argument("--cache-url", default=CACHE_URL, help="a Redis database of its own")
    args = parser.parse_args()

    environ = seeded(args.registrations, args.seed, args.postgres, args.database, args.cache_url)
    url = environ["DATABASE_URL"]
    database = Database(url)
    units = read_units(database)
    registrar_units, clinician_units = benchmark_users(
        database, units, args.registrars, args.clinicians
    )
    public_units = units.filter(units["level"] != "nation")["unit_id"].to_list()
    first_version = data_version(database, "stroke")
    with gunicorn(environ, free_port(), args.workers) as base:
        traffic = Traffic.ready(base, public_units, registrar_units, clinician_units)
        print(traffic.describe(), flush=True)
        settings = Settings.from_environ(environ)
        _results_stored(settings, database)
        # Pages an earlier run kept are of older results: served while rendered anew, one
        # at a time per worker, they would leave the warm-up's pages old and the reads-only
        # phase timing their renderings.
        page_cache.forget_shared(settings)
        clients = partial(run, clients=args.clients)
        _phase("warm-up", clients, traffic.tour())
        reads = args.baseline_requests
        reads = args.requests // 4 if reads is None else reads
        reading = args.logged_in_share / (1 - args.save_share)  # the mix's reads, no saves
        baseline = _phase("reads only", clients, traffic.tasks(reads, 0.0, reading, args.seed))
        mixed = traffic.tasks(args.requests, args.save_share, args.logged_in_share, args.seed)
        outcomes = _phase("mixed", clients, mixed)
        paced_count = args.requests // 2 if args.paced_requests is None else args.paced_requests
        paced_tasks = traffic.tasks(
            paced_count, args.save_share, args.logged_in_share, args.seed + 1
        )
        paced = _phase("paced", partial(run_paced, rate=args.rate), paced_tasks)
    versions = data_version(database, "stroke") - first_version
    read_back = lost_writes(database, [w for r in traffic.registrars for w in r.writes])
    database.dispose()
    print(
        f"registrations={args.registrations:,} workers={args.workers} clients={args.clients} "
        f"registrars={args.registrars} clinicians={args.clinicians} (PostgreSQL, Redis)"
    )
    _table("reads only (baseline, no saves)", *baseline)
    _table(f"mixed (the data version moved {versions} times over both phases)", *outcomes)
    late = sum(outcome.late for outcome in paced[0])
    _table(
        f"paced ({args.rate:g} requests/s offered; {late} of them started over "
        f"{LATE_SECONDS * 1000:.0f} ms late)",
        *paced,
    )
    print(
        f"\nacknowledged writes: {read_back.acknowledged:,}; missing {read_back.missing}, "
        f"wrong {read_back.wrong}; written but not acknowledged {read_back.unacknowledged}"
    )
    for example in read_back.examples:
        print("  lost:", example)
    _verdict("mixed, clients always waiting", outcomes[0], read_back)
    _verdict(f"paced, {args.rate:g} requests/s", paced[0], read_back)


def _phase(
    name: str, runner: Callable[[list[Task]], list[Outcome]], tasks: list[Task]
) -> tuple[list[Outcome], float]:
    """`tasks` run by `runner` (clients always waiting, or paced); the outcomes and seconds."""
    started = time.perf_counter()
    outcomes = runner(tasks)
    elapsed = time.perf_counter() - started
    print(f"{name}: {len(outcomes):,} requests in {elapsed:.1f} s", flush=True)
    return outcomes, elapsed


def _results_stored(settings: Settings, database: Database) -> None:
    """Wait until the results of the current data version are stored (an earlier run's
    saves leave a refresh, which the logins started): else the warm-up would fill the page
    cache under the old results, and the timed phases render every page anew."""
    started = time.perf_counter()
    while (stored_version(settings, "stroke") or -1) < data_version(database, "stroke"):
        if time.perf_counter() - started > RESULTS_DEADLINE_SECONDS:
            raise SystemExit(f"no current results after {RESULTS_DEADLINE_SECONDS} s")
        time.sleep(0.2)
    print(f"results current after {time.perf_counter() - started:.1f} s more", flush=True)


def seeded(
    registrations: int, seed: int, postgres: str, database_url: str | None, cache_url: str
) -> dict[str, str]:
    """The portal's environment on the demo registry of this size and seed, seeded on first
    use (see the module's docstring; `benchmarks/save_contention.py` shares it)."""
    name = f"portal_load_{registrations}_{seed}"
    url = database_url or postgres_database(postgres, name)
    instance = Path(tempfile.gettempdir()) / name.replace("_", "-")
    environ = environment(instance, url, cache_url, REQUIRE_TWO_FACTOR="false")
    if prepare(environ, registrations, seed):
        redis.Redis.from_url(cache_url).flushdb()  # results of an earlier registry
    return environ


def benchmark_users(
    database: Database, units: pl.DataFrame, registrars: int, clinicians: int
) -> tuple[list[int], list[int]]:
    """Registrars and clinicians, one department each (made once, kept by later runs)."""
    departments = units.filter(units["level"] == "department")["unit_id"].to_list()
    if len(departments) < max(registrars, clinicians):
        raise SystemExit(f"only {len(departments)} departments for the benchmark users")
    registrar_units = departments[:registrars]
    clinician_units = departments[-clinicians:]
    for role, chosen in (("registrar", registrar_units), ("clinician", clinician_units)):
        for number, unit_id in enumerate(chosen, start=1):
            username = f"load-{role}-{number:02d}"
            _idempotent(
                "username_taken",
                accounts.create_user,
                database,
                SYSTEM,
                username,
                username,
                PASSWORD,
            )
            _idempotent(
                "duplicate_grant",
                accounts.grant,
                database,
                SYSTEM,
                username,
                "stroke",
                unit_id,
                role,
            )
    return registrar_units, clinician_units


def _idempotent(done: str, command: Callable[..., object], *args: object) -> None:
    """Run an account command; its refusal `done` means a run before this one did it."""
    try:
        command(*args)
    except AccountError as error:
        if error.code != done:
            raise


def _percentiles(outcomes: list[Outcome]) -> Iterator[str]:
    times = [o.milliseconds for o in outcomes if o.milliseconds is not None]
    errors = sum(o.error is not None for o in outcomes)
    yield f"{len(outcomes):9,} {errors:7,}"
    if len(times) >= 2:
        cuts = statistics.quantiles(times, n=100, method="inclusive")
        yield f"{cuts[49]:9.1f} {cuts[94]:9.1f} {cuts[98]:9.1f}"


def _p95(outcomes: list[Outcome], traffic: str) -> float:
    """The class's p95; infinite when it has too few answered requests to have one."""
    times = [
        o.milliseconds for o in outcomes if o.traffic == traffic and o.milliseconds is not None
    ]
    return statistics.quantiles(times, n=100, method="inclusive")[94] if len(times) > 1 else inf


def _table(title: str, outcomes: list[Outcome], elapsed: float) -> None:
    errors = sum(o.error is not None for o in outcomes)
    print(
        f"\n{title}: {len(outcomes):,} requests in {elapsed:.1f} s, "
        f"{len(outcomes) / elapsed:.1f} requests/s, {errors} errors"
    )
    print(f"{'':22} {'requests':>9} {'errors':>7} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9}")
    for traffic in CLASSES:
        mine = [o for o in outcomes if o.traffic == traffic]
        if mine:
            print(f"{traffic:22} " + " ".join(_percentiles(mine)))
        for kind in sorted({o.kind for o in mine} - {"save"}):
            print(f"  {kind:20} " + " ".join(_percentiles([o for o in mine if o.kind == kind])))


def _verdict(phase: str, outcomes: list[Outcome], read_back: ReadBack) -> None:
    """A phase against the goals of issue 10."""
    errors = [o for o in outcomes if o.error is not None]
    print(f"\n{phase}:")
    public, save = _p95(outcomes, "public"), _p95(outcomes, "form save")
    goals = [
        ("no errors", not errors),
        ("no lost writes", read_back.missing + read_back.wrong == 0),
        (f"public p95 <= {GOAL_PUBLIC_P95_MS:.0f} ms", public <= GOAL_PUBLIC_P95_MS),
        (f"form save p95 <= {GOAL_SAVE_P95_MS:.0f} ms", save <= GOAL_SAVE_P95_MS),
    ]
    for goal, met in goals:
        print(f"goal {goal}: {'meets' if met else 'misses'}")
    for error in errors[:5]:
        print(f"error ({error.traffic}, {error.kind}): {error.error}")


if __name__ == "__main__":
    main()
