"""A seeded portal under gunicorn, for the web benchmarks (`web.py`, `load.py`).

The demo registry is seeded once per instance folder with the project's own command
(`flask --app app seed-demo`, i.e. `portal.demo.seed_demo`) and reused by later runs while
the folder's marker names the same size, seed and database, so a run at 1,000,000
registrations seeds once and every later run starts at once. The instance folder holds the
development secrets too: the national ids in the database are encrypted with its key, so a
database is only ever reused together with the folder that seeded it. The schema is migrated
once before the workers start (`flask --app app db upgrade`), as docs/operations.md has it,
never by the workers themselves.

The server is started as production starts it, `gunicorn -c gunicorn.conf.py
'app:create_app()'`, with only the address and the number of workers given on the command line.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import urllib3
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
PYTHON_BIN = Path(sys.executable).parent
SEED_MARKER = "benchmark-seed.json"
START_SECONDS = 300


def environment(
    instance: Path, database: str | None, cache_url: str | None, **extra: str
) -> dict[str, str]:
    """The portal's environment: development secrets kept in `instance`, quiet logs."""
    instance.mkdir(parents=True, exist_ok=True)
    environ = {
        **os.environ,
        "PORTAL_ENV": "development",
        "PORTAL_INSTANCE_PATH": str(instance),
        "DATABASE_URL": database or f"sqlite:///{instance / 'registry.sqlite3'}",
        "AUTO_MIGRATE": "false",
        "SEED_DEMO": "false",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
        **extra,
    }
    if cache_url:
        environ["CACHE_URL"] = cache_url
    return environ


def postgres_database(server_url: str, name: str) -> str:
    """The URL of database `name` on the server of `server_url`, created if it is missing."""
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            found = connection.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            )
            if found is None:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def prepare(environ: dict[str, str], registrations: int, seed: int) -> bool:
    """Migrate, then seed the demo registry unless the instance already holds this one.

    True when it seeded (caches of an earlier registry are then stale), False when reused.
    """
    flask = [str(PYTHON_BIN / "flask"), "--app", "app"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=environ, check=True)
    marker = Path(environ["PORTAL_INSTANCE_PATH"]) / SEED_MARKER
    wanted = {"registrations": registrations, "seed": seed, "database": environ["DATABASE_URL"]}
    if marker.exists() and json.loads(marker.read_text()) == wanted:
        print(f"reusing the demo registry with {registrations:,} registrations (seed {seed})")
        return False
    print(f"seeding {registrations:,} registrations (seed {seed}) ...", flush=True)
    marker.unlink(missing_ok=True)  # an interrupted seeding is not taken for a finished one
    started = time.perf_counter()
    command = [*flask, "seed-demo", "--registrations", str(registrations), "--seed", str(seed)]
    subprocess.run([*command, "--without-users"], cwd=ROOT, env=environ, check=True)
    marker.write_text(json.dumps(wanted))
    print(f"seeded in {time.perf_counter() - started:.0f} s")
    return True


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def gunicorn(environ: dict[str, str], port: int, workers: int) -> Iterator[str]:
    """The portal under gunicorn with its production settings; yields its base URL."""
    command = [
        str(PYTHON_BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"),
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "app:create_app()",
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
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode}")
        try:
            if http.request("GET", base + "/", timeout=5).status == 200:
                return
        except urllib3.exceptions.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"gunicorn did not answer within {START_SECONDS} s")
