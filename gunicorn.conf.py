"""gunicorn's settings for production: `gunicorn -c gunicorn.conf.py 'app:create_app()'`.

docs/operations.md ("Running in production") describes the environment around it.
Workers share nothing but the database and Redis (`CACHE_URL`): sessions live in the
database; rate limits, results and cached pages in Redis.

Each worker imports and makes the application itself; the master imports none of it (no
`preload_app`). polars starts its thread pool while the application is made (the registries'
dictionaries, the organisation tree), and a process forked after that deadlocks the first
time it asks polars for work; and a master holding the portal's modules would hand its old
code to the workers that `kill -HUP` starts. So nothing made or imported before the fork is
shared: each worker has its own database pool and Redis connections. The schema is migrated
once, before the workers start (`flask --app app db upgrade`), never by the workers
themselves (leave `AUTO_MIGRATE` off).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

from gunicorn.config import Config
from gunicorn.glogging import Logger
from gunicorn.workers.base import Worker


def _log_lines() -> ModuleType:
    """`portal/log_lines.py` alone: imported as `portal.log_lines` it would bring the whole
    portal package into the master."""
    path = Path(__file__).resolve().parent / "portal" / "log_lines.py"
    spec = importlib.util.spec_from_file_location("gunicorn_log_lines", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _usable_cpus() -> int:
    """The CPUs this process may run on: fewer than the machine has when it is pinned to some."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


wsgi_app = "app:create_app()"
bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY") or 2 * _usable_cpus())
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS") or 8)
"""Requests each worker serves at once. With one (gunicorn's `sync` worker) a page served
from the cache in 3 ms waited behind every slow page ahead of it: at 1,000,000 registrations
under the load benchmark's mixed traffic, public p50 686 ms with 4 sync workers against
65 ms with 4 workers of 8 threads, and 40% more requests per second. The portal keeps
nothing per thread that another thread could see half-made (locks guard the results
refresh and the page cache; `flask run` has always served it with threads)."""
SWITCH_INTERVAL_MS = float(os.environ.get("SWITCH_INTERVAL_MS") or 1)
"""How long a thread holding the interpreter keeps it from another that asks for it
(Python's default is 5 ms). A form save gives the interpreter up at each of its round trips
to the database, and waits to take it back each time; beside a thread of its worker
drawing a page, each wait lasts up to the whole interval. `benchmarks/save_contention.py`,
one worker at 1,000,000 registrations, saves one at a time beside clinicians drawing My
unit: save p95 53 ms at 5 ms, 38 ms at 1 ms and 41 ms at 0.5 ms with one drawing; 100, 75
and 73 ms with two, whose save p50 rose from 31 to 41 ms. Below 1 ms nothing more was
gained. A thread drawing alone is never interrupted, so its work is unchanged."""


def post_worker_init(worker: Worker) -> None:
    """gunicorn's hook, in each worker once the application is made."""
    sys.setswitchinterval(SWITCH_INTERVAL_MS / 1000)
    worker.log.info("switch interval %.2f ms", sys.getswitchinterval() * 1000)
    from portal.thread_priority import lower_polars_threads  # the worker has the portal

    settings = getattr(worker.wsgi, "config", {}).get("PORTAL_SETTINGS")  # none if it failed
    steps = settings.render_nice if settings is not None else 0
    lowered = lower_polars_threads(steps)
    worker.log.info("polars threads %d steps nicer: %d", steps, lowered)
    if settings is not None:
        import portal

        portal.ready_to_serve(worker.wsgi)


keepalive = 0
"""Every response closes its connection (`Connection: close`), as the sync worker's did. A
kept-alive connection stays with the worker that accepted it, so a few busy clients
crowded some workers while others idled (the load benchmark's public p50 went from 65 ms
to 400 ms with 30 s of keep-alive); and a client that reuses a connection just as the
server closes it gets a reset (seen with gunicorn's 2 s). Behind a proxy, which opens a
connection per request upstream by default, nothing changes."""
preload_app = False
timeout = 150
"""Longer than a worker may wait for another worker's results computation (120 s,
`portal.results_cache.LOCK_SECONDS`), so a worker that waits is not killed for it."""
graceful_timeout = 30
accesslog = None
"""The portal writes one line per request itself, with its request id and no query string."""
errorlog = "-"
loglevel = (os.environ.get("LOG_LEVEL") or "info").lower()
control_socket_disable = True
"""Signals do what `gunicornc` would (HUP reload, TTIN/TTOU more or fewer workers, TERM stop),
and a second gunicorn on the host would otherwise take over the same default socket."""

PRODUCTION = (os.environ.get("PORTAL_ENV") or "").lower() == "production"
JSON_LINES = (os.environ.get("LOG_FORMAT") or ("json" if PRODUCTION else "text")).lower() == "json"
"""The portal's own default (portal.settings): JSON in production, text elsewhere."""


JsonFormatter = _log_lines().JsonFormatter


class JsonLogger(Logger):  # type: ignore[misc]
    """gunicorn's own messages (a worker booting, timing out) as the portal's JSON lines."""

    def setup(self, cfg: Config) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(JsonFormatter())


logger_class = JsonLogger if JSON_LINES else Logger
