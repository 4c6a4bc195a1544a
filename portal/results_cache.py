"""Indicator results computed once per registry and data version, shared by every worker.

Results depend only on the registrations (and the unit tree and coverage counts that come
with them), and every committed change of registrations bumps the registry's data version.
So the results of one version are computed once and kept as Parquet: in Redis under
`results:<registry>:v<version>` when `CACHE_URL` is a redis:// URL (several workers share
nothing else), otherwise as files under `instance/results/`. Older versions are removed
when a new one is stored.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
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
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
REDIS_EXPIRY_SECONDS = 7 * 24 * 3600
"""A safety net only: a superseded version is deleted as soon as a newer one is stored."""


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
) -> pl.DataFrame:
    """The registry's results for its current data version, computing them only on a miss.

    `compute` is the seam tests use to count computations; it gets the snapshot, the
    indicators, the units and `coverage=` exactly as `compute_results` does.
    """
    version = data_version(database, registry.key)
    if _uses_redis(settings):
        return _through_redis(settings, database, registry, version, compute)
    folder = settings.instance_path / "results"
    path = versioned_path(folder, registry.key, version)
    if path.exists():
        return pl.read_parquet(path)
    results = _fresh_results(settings, database, registry, compute)
    store_version(results, folder, registry.key, version)
    return results


PUBLISHED_STATUSES = ("complete", "locked")


def _uses_redis(settings: Settings) -> bool:
    return settings.cache_url is not None and settings.cache_url.startswith(REDIS_SCHEMES)


def redis_key(registry_key: str, version: int) -> str:
    return f"results:{registry_key}:v{version}"


def _through_redis(
    settings: Settings,
    database: Database,
    registry: RegistryFolder,
    version: int,
    compute: Compute,
) -> pl.DataFrame:
    assert settings.cache_url is not None
    key = redis_key(registry.key, version)
    client = redis.Redis.from_url(settings.cache_url)
    try:
        stored = client.get(key)
        if isinstance(stored, bytes):
            return pl.read_parquet(io.BytesIO(stored))
        results = _fresh_results(settings, database, registry, compute)
        buffer = io.BytesIO()
        results.write_parquet(buffer)
        client.set(key, buffer.getvalue(), ex=REDIS_EXPIRY_SECONDS)
        superseded = [
            other
            for other in client.scan_iter(match=f"results:{registry.key}:v*")
            if other != key.encode()
        ]
        if superseded:
            client.delete(*superseded)
        return results
    finally:
        client.close()


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
