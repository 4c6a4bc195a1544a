"""Load on the public indicator page: gunicorn workers, 32 concurrent clients, latency figures.

    .venv/bin/python benchmarks/web.py [--registrations 1000000] [--workers 4] [--clients 32]
                                       [--requests 3000] [--database URL] [--cache-url URL]

Starts the portal under gunicorn (`app:create_app()`) on the demo registry with N
registrations, seeded once with `flask --app app seed-demo` into an instance folder per N
(reused when it holds that many already), then drives the clients through what a browser
does on the indicator page: POST /_dash-update-component to Dash's page router with the
page's pathname and each filter's query (every indicator x year x level x sort), carrying
the session and `_csrf_token` cookies and the token as X-CSRFToken. A warm-up round (every
query once per worker, untimed) lets the first request compute the results of the data
version and every worker load them; then a fixed number of requests is timed and p50,
p95, p99 and requests per second are printed. The goal of issue 6 is p95 <= 100 ms.

The client is urllib3 (installed with requests, which Dash needs), one pool shared by
the client threads; the clients run on the same machine as the server and compete for
its cores, so the figures are a lower bound of what the server alone can do.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.cookies import SimpleCookie
from itertools import cycle, islice, product
from pathlib import Path
from urllib.parse import urlencode

import urllib3

ROOT = Path(__file__).resolve().parents[1]
PYTHON_BIN = Path(sys.executable).parent
PAGE_ROUTER = ".._pages_content.children..._pages_store.data.."
PATHNAME = "/results/indicator"
GOAL_P95_MS = 100.0


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
    environ = _environment(instance, args.database, args.cache_url)
    _seed_once(instance, environ, args.registrations)
    port = args.port or _free_port()
    with _gunicorn(environ, port, args.workers) as base:
        http = urllib3.PoolManager(maxsize=args.clients, block=True, retries=False)
        headers = _session_headers(http, base)
        searches = _searches(http, base, headers)
        print(f"{len(searches)} filter queries of {PATHNAME}", flush=True)
        started = time.perf_counter()
        warm = list(islice(cycle(searches), len(searches) * args.workers))
        _run(http, base, headers, warm, args.clients)
        print(f"warm-up: {len(warm)} requests in {time.perf_counter() - started:.1f} s")
        timed = list(islice(cycle(searches), args.requests))
        started = time.perf_counter()
        latencies, failures = _run(http, base, headers, timed, args.clients)
        elapsed = time.perf_counter() - started
    _report(args, latencies, failures, elapsed)


def _environment(instance: Path, database: str | None, cache_url: str | None) -> dict[str, str]:
    instance.mkdir(parents=True, exist_ok=True)
    environ = {
        **os.environ,
        "PORTAL_ENV": "development",
        "PORTAL_INSTANCE_PATH": str(instance),
        "DATABASE_URL": database or f"sqlite:///{instance / 'registry.sqlite3'}",
        "AUTO_MIGRATE": "true",
        "SEED_DEMO": "false",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    if cache_url:
        environ["CACHE_URL"] = cache_url
    return environ


def _seed_once(instance: Path, environ: dict[str, str], registrations: int) -> None:
    marker = instance / "web-benchmark-seed.json"
    wanted = {"registrations": registrations, "database": environ["DATABASE_URL"]}
    if marker.exists() and json.loads(marker.read_text()) == wanted:
        print(f"reusing the demo registry with {registrations:,} registrations in {instance}")
        return
    print(f"seeding {registrations:,} registrations into {instance} ...", flush=True)
    started = time.perf_counter()
    command = [str(PYTHON_BIN / "flask"), "--app", "app", "seed-demo"]
    command += ["--registrations", str(registrations), "--without-users"]
    subprocess.run(command, cwd=ROOT, env=environ, check=True)
    marker.write_text(json.dumps(wanted))
    print(f"seeded in {time.perf_counter() - started:.0f} s")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def _gunicorn(environ: dict[str, str], port: int, workers: int) -> Iterator[str]:
    command = [
        str(PYTHON_BIN / "gunicorn"), "app:create_app()", "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers), "--worker-class", "sync", "--backlog", "256",
        "--log-level", "warning", "--timeout", "600",
    ]  # fmt: skip
    server = subprocess.Popen(command, cwd=ROOT, env=environ, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, server)
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def _wait_until_up(base: str, server: subprocess.Popen[bytes]) -> None:
    http = urllib3.PoolManager(retries=False)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode}")
        try:
            if http.request("GET", base + "/", timeout=5).status == 200:
                return
        except urllib3.exceptions.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("gunicorn did not answer within 300 s")


def _session_headers(http: urllib3.PoolManager, base: str) -> dict[str, str]:
    """What the browser sends: its cookies (session, `_csrf_token`) and the token header."""
    response = http.request("GET", base + PATHNAME)
    cookies = SimpleCookie()
    for header in response.headers.getlist("Set-Cookie"):
        cookies.load(header)
    token = cookies["_csrf_token"].value
    return {
        "Content-Type": "application/json",
        "Cookie": "; ".join(f"{k}={v.value}" for k, v in cookies.items()),
        "X-CSRFToken": token,
    }


def _body(search: str) -> bytes:
    return json.dumps(
        {
            "output": PAGE_ROUTER,
            "outputs": [
                {"id": "_pages_content", "property": "children"},
                {"id": "_pages_store", "property": "data"},
            ],
            "inputs": [
                {"id": "_pages_location", "property": "pathname", "value": PATHNAME},
                {"id": "_pages_location", "property": "search", "value": search},
            ],
            "changedPropIds": ["_pages_location.search"],
            "state": [],
        }
    ).encode()


def _post(http: urllib3.PoolManager, base: str, headers: dict[str, str], search: str) -> str:
    response = http.request(
        "POST", base + "/_dash-update-component", body=_body(search), headers=headers
    )
    if response.status != 200:
        raise RuntimeError(f"{response.status} for {search}: {response.data[:200]!r}")
    return response.data.decode()


def _searches(http: urllib3.PoolManager, base: str, headers: dict[str, str]) -> list[str]:
    """Every indicator x year x level x sort, from the controls the page itself offers."""
    first = _post(http, base, headers, "")
    indicators = sorted(set(re.findall(r"indicator=([a-z0-9_]+)", first)))
    if not indicators:
        overview = http.request("POST", base + "/_dash-update-component", headers=headers,
                                body=_body("").replace(PATHNAME.encode(), b"/results"))  # fmt: skip
        indicators = sorted(set(re.findall(r"indicator=([a-z0-9_]+)", overview.data.decode())))
    controls = _options(_post(http, base, headers, f"?registry=stroke&indicator={indicators[0]}"))
    years = controls.get("indicator-year", [None])
    levels = controls.get("indicator-level", [None])
    sorts = controls.get("indicator-sort", [None])
    searches = []
    for indicator, year, level, sort in product(indicators, years, levels, sorts):
        query = {"registry": "stroke", "indicator": indicator, "year": year, "level": level}
        query["sort"] = sort
        searches.append("?" + urlencode({k: v for k, v in query.items() if v is not None}))
    return searches


def _options(body: str) -> dict[str, list[object]]:
    found: dict[str, list[object]] = {}

    def walk(node: object) -> None:
        if isinstance(node, dict):
            props = node.get("props")
            if isinstance(props, dict) and isinstance(props.get("options"), list):
                found[str(props.get("id"))] = [
                    o["value"] if isinstance(o, dict) else o for o in props["options"]
                ]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(body))
    return found


def _run(
    http: urllib3.PoolManager,
    base: str,
    headers: dict[str, str],
    searches: list[str],
    clients: int,
) -> tuple[list[float], list[str]]:
    def one(search: str) -> float | str:
        started = time.perf_counter()
        try:
            _post(http, base, headers, search)
        except (RuntimeError, urllib3.exceptions.HTTPError) as error:
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
