"""Load on the public indicator page: gunicorn workers, 32 concurrent clients, latency figures.

    .venv/bin/python benchmarks/web.py [--registrations 1000000] [--workers 4] [--clients 32]
                                       [--requests 3000] [--database URL] [--cache-url URL]

Starts the portal under gunicorn (`gunicorn.conf.py`) on the demo registry with N
registrations, seeded once with `flask --app app seed-demo` into an instance folder per N
(reused when it holds that many already; `benchmarks/serving.py`), then drives the clients
through what a browser does on the indicator page: POST /_dash-update-component to Dash's
page router with the page's pathname and each filter's query (every indicator x year x
level x sort), carrying the session and `_csrf_token` cookies and the token as X-CSRFToken.
A warm-up round (every query once per worker, untimed) lets the first request compute the
results of the data version and every worker load them; then a fixed number of requests is
timed and p50, p95, p99 and requests per second are printed. The goal of issue 6 is p95 <= 100 ms.

The client is urllib3 (installed with requests, which Dash needs), one pool shared by
the client threads; the clients run on the same machine as the server and compete for
its cores, so the figures are a lower bound of what the server alone can do.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import cycle, islice
from pathlib import Path

import urllib3

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.dash_client import AnswerError, Visitor, indicator_searches, page_router_body
from benchmarks.serving import environment, free_port, gunicorn, prepare

PATHNAME = "/results/indicator"
GOAL_P95_MS = 100.0
SEED = 2026


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--registrations", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=3_000)
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--instance", type=Path, default=None, help="instance folder to use")
    parser.add_argument("--database", default=None, help="DATABASE_URL (default: SQLite)")
    parser.add_argument("--cache-url", default=None, help="CACHE_URL, e.g. redis://127.0.0.1")
    args = parser.parse_args()

    instance = args.instance or Path(tempfile.gettempdir()) / f"portal-web-{args.registrations}"
    environ = environment(instance, args.database, args.cache_url)
    prepare(environ, args.registrations, SEED)
    with gunicorn(environ, args.port or free_port(), args.workers) as base:
        reader = Visitor(base, connections=args.clients)
        reader.open(PATHNAME)  # the session and `_csrf_token` cookies
        searches = indicator_searches(reader, PATHNAME)
        print(f"{len(searches)} filter queries of {PATHNAME}", flush=True)
        started = time.perf_counter()
        warm = list(islice(cycle(searches), len(searches) * args.workers))
        _run(reader, warm, args.clients)
        print(f"warm-up: {len(warm)} requests in {time.perf_counter() - started:.1f} s")
        timed = list(islice(cycle(searches), args.requests))
        started = time.perf_counter()
        latencies, failures = _run(reader, timed, args.clients)
        elapsed = time.perf_counter() - started
    _report(args, latencies, failures, elapsed)


def _run(reader: Visitor, searches: list[str], clients: int) -> tuple[list[float], list[str]]:
    def one(search: str) -> float | str:
        started = time.perf_counter()
        try:
            reader.post(page_router_body(PATHNAME, search))
        except (AnswerError, urllib3.exceptions.HTTPError) as error:
            return str(error)
        return (time.perf_counter() - started) * 1000

    with ThreadPoolExecutor(max_workers=clients) as pool:
        outcomes = list(pool.map(one, searches))
    return [o for o in outcomes if isinstance(o, float)], [
        o for o in outcomes if isinstance(o, str)
    ]


def _report(
    args: argparse.Namespace, latencies: list[float], failures: list[str], elapsed: float
) -> None:
    if not latencies:
        raise SystemExit(f"every request failed; first: {failures[:1]}")
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    p50, p95, p99 = cuts[49], cuts[94], cuts[98]
    print(
        f"registrations={args.registrations:,} workers={args.workers} clients={args.clients} "
        f"requests={len(latencies) + len(failures):,} failures={len(failures)}"
    )
    print(f"p50 {p50:.1f} ms   p95 {p95:.1f} ms   p99 {p99:.1f} ms   "
          f"{len(latencies) / elapsed:.1f} requests/s")  # fmt: skip
    verdict = "meets" if p95 <= GOAL_P95_MS else "misses"
    print(f"goal p95 <= {GOAL_P95_MS:.0f} ms: {verdict}")
    if failures:
        print("first failure:", failures[0])


if __name__ == "__main__":
    main()
