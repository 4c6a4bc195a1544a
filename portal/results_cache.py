"""Indicator results computed once per registry and data version, shared by every worker.

Results depend only on the registrations (and the unit tree and coverage counts that come
with them), and every committed change of registrations bumps the registry's data version.
So the results of one version are computed once and kept as Parquet: in Redis under
`results:<database>:<registry>:v<version>` when `CACHE_URL` is a redis:// URL (several workers share
nothing else), otherwise as files under `instance/results/`. Older versions are removed
when a new one is stored.

Workers that miss the cache at the same moment do not all compute: one takes a lock (a Redis
lock with an expiry, or `fcntl.flock` on `instance/results/.<registry>.lock`, which the
system releases if the worker dies), computes and stores; the others wait for the lock and
then read what it stored. A worker that has waited `LOCK_SECONDS` computes anyway, so a
stuck lock holder slows the others down but never blocks them for good.
"""

from __future__ import annotations

import fcntl
import io
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import polars as pl
import redis

from data_access.database import Database
from data_access.reference_data import read_units
from data_access.snapshot import (
    data_version,
    read_coverage,
    snapshot,
    store_version,
    versioned_path,
)
from entry.registry_folder import RegistryFolder
from indicators import Indicator
from indicators.engine import compute_results
from portal.settings import Settings

Compute = Callable[..., pl.DataFrame]
REDIS_EXPIRY_SECONDS = 7 * 24 * 3600
"""A safety net only: a superseded version is deleted as soon as a newer one is stored."""
LOCK_SECONDS = 120.0
"""How long a worker waits for another's computation before computing itself; also the
expiry of the Redis lock, so a lock whose holder died frees itself."""
LOCK_POLL_SECONDS = 0.05


def _compute(
    registrations: pl.DataFrame,
    indicators: Iterable[Indicator],
    units: pl.DataFrame,
    *,
    coverage: pl.DataFrame,
) -> pl.DataFrame:
    return compute_results(registrations, indicators, units, coverage=coverage)


def cached_results(
    settings: Settings,
    database: Database,
    registry: RegistryFolder,
    *,
    compute: Compute = _compute,
    lock_seconds: float = LOCK_SECONDS,
) -> pl.DataFrame:
    """The registry's results for its current data version, computing them only on a miss,
    and once for all workers that miss together (see the module's docstring).

    `compute` is the seam tests use to count computations; it gets the snapshot, the
    indicators, the units and `coverage=` exactly as `compute_results` does.
    `lock_seconds` is how long to wait for another worker's computation.
    """
    version = data_version(database, registry.key)
    if settings.redis_url is not None:
        return _through_redis(settings, database, registry, version, compute, lock_seconds)
    folder = settings.instance_path / "results"
    path = versioned_path(folder, registry.key, version)
    if path.exists():
        return pl.read_parquet(path)
    with _file_lock(lock_path(folder, registry.key), lock_seconds):
        if path.exists():  # stored by the worker that held the lock
            return pl.read_parquet(path)
        results = _fresh_results(settings, database, registry, compute)
        store_version(results, folder, registry.key, version)
    return results


def lock_path(folder: Path, registry_key: str) -> Path:
    """The file workers lock while one computes the registry's results (kept, never deleted:
    removing a lock file while another worker waits on it would let a third one in)."""
    return folder / f".{registry_key}.lock"


@contextmanager
def _file_lock(path: Path, seconds: float) -> Iterator[None]:
    """Hold an exclusive `flock` on `path`, or after `seconds` of trying go on without it.
    Each call opens the file anew, so threads of one worker exclude each other as processes
    do."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + seconds
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    break
                time.sleep(LOCK_POLL_SECONDS)
        yield
    finally:
        os.close(handle)  # closing releases the lock


PUBLISHED_STATUSES = ("complete", "locked")


def redis_key(settings: Settings, registry_key: str, version: int) -> str:
    return f"{_versions_prefix(settings, registry_key)}{version}"


def _versions_prefix(settings: Settings, registry_key: str) -> str:
    """What the keys of every stored version of one registry's results begin with."""
    return f"results:{settings.redis_namespace}{registry_key}:v"


def redis_lock_key(settings: Settings, registry_key: str, version: int) -> str:
    """Outside the `results:…<registry>:v*` pattern that superseded versions are deleted by."""
    return f"results-lock:{settings.redis_namespace}{registry_key}:v{version}"


def _through_redis(
    settings: Settings,
    database: Database,
    registry: RegistryFolder,
    version: int,
    compute: Compute,
    lock_seconds: float,
) -> pl.DataFrame:
    key = redis_key(settings, registry.key, version)
    client = settings.redis()
    lock = client.lock(
        redis_lock_key(settings, registry.key, version),
        timeout=lock_seconds,
        sleep=LOCK_POLL_SECONDS,
        blocking_timeout=lock_seconds,
    )
    held = False
    try:
        stored = client.get(key)
        if isinstance(stored, bytes):
            return pl.read_parquet(io.BytesIO(stored))
        held = lock.acquire()
        stored = client.get(key)  # stored by the worker that held the lock
        if isinstance(stored, bytes):
            return pl.read_parquet(io.BytesIO(stored))
        results = _fresh_results(settings, database, registry, compute)
        buffer = io.BytesIO()
        results.write_parquet(buffer)
        client.set(key, buffer.getvalue(), ex=REDIS_EXPIRY_SECONDS)
        superseded = [
            other
            for other in client.scan_iter(match=_versions_prefix(settings, registry.key) + "*")
            if other != key.encode()
        ]
        if superseded:
            client.delete(*superseded)
        return results
    finally:
        if held:
            # It may have expired while computing, and another worker may hold it now.
            with suppress(redis.exceptions.LockError):
                lock.release()


def _fresh_results(
    settings: Settings, database: Database, registry: RegistryFolder, compute: Compute
) -> pl.DataFrame:
    frame = snapshot(database, registry.key, registry.dictionary, _snapshot_folder(settings))
    # Results count finished records only: a draft may still change or be abandoned.
    finished = frame.filter(pl.col("status").is_in(PUBLISHED_STATUSES))
    return compute(
        finished,
        registry.indicators,
        read_units(database),
        coverage=read_coverage(database, registry.key),
    )


def _snapshot_folder(settings: Settings) -> Path:
    """Beside the database: each worker of a host shares the instance folder's snapshots."""
    return settings.instance_path / "snapshots"
