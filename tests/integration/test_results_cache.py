"""Indicator results are computed once per data version and shared on disk or in Redis."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import flask
import polars as pl
import pytest
import redis
from polars.testing import assert_frame_equal

from data_access.database import Database
from data_access.reference_data import read_units
from data_access.snapshot import data_version, read_coverage, registration_frame
from indicators.engine import compute_results
from portal.results_cache import PUBLISHED_STATUSES, cached_results, redis_key
from portal.settings import Settings
from tests.integration.test_snapshot import STROKE, seed

REDIS_URL = os.environ.get("TEST_RESULTS_REDIS_URL", "redis://127.0.0.1:6379/14")


class CountingCompute:
    """Counts computations; the seam `cached_results(compute=...)` offers."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, *args: object, **kwargs: object) -> pl.DataFrame:
        self.calls += 1
        return compute_results(*args, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as error:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Redis at {REDIS_URL} is not reachable: {error} (CI=true)")
        pytest.skip(f"Redis at {REDIS_URL} is not running")
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def _direct(database: Database) -> pl.DataFrame:
    frame = registration_frame(database, "stroke", STROKE.dictionary)
    return compute_results(
        frame.filter(pl.col("status").is_in(PUBLISHED_STATUSES)),
        STROKE.indicators,
        read_units(database),
        coverage=read_coverage(database, "stroke"),
    )


def test_drafts_do_not_count(app: flask.Flask) -> None:
    seed(app)
    database: Database = app.extensions["database"]
    frame = registration_frame(database, "stroke", STROKE.dictionary)
    drafts = frame.filter(pl.col("status") == "draft").height
    assert drafts > 0
    results = cached_results(app.config["PORTAL_SETTINGS"], database, STROKE)
    nation = results.filter((pl.col("indicator") == "stroke_unit") & (pl.col("level") == "nation"))
    assert nation["denominator"].sum() == frame.height - drafts


def test_results_are_cached_on_disk_once_per_version(app: flask.Flask) -> None:
    seed(app)
    database: Database = app.extensions["database"]
    settings: Settings = app.config["PORTAL_SETTINGS"]
    compute = CountingCompute()
    first = cached_results(settings, database, STROKE, compute=compute)
    second = cached_results(settings, database, STROKE, compute=compute)
    assert compute.calls == 1 and first.height > 0
    assert_frame_equal(second, first)
    assert_frame_equal(first, _direct(database))
    folder = settings.instance_path / "results"
    seed(app, registrations=500, seed=2)
    version = data_version(database, "stroke")
    cached_results(settings, database, STROKE, compute=compute)
    assert compute.calls == 2
    assert sorted(p.name for p in folder.iterdir()) == [f"stroke-v{version}.parquet"]


def test_results_are_shared_through_redis(
    app: flask.Flask, redis_client: redis.Redis, tmp_path: Path
) -> None:
    seed(app)
    database: Database = app.extensions["database"]
    settings = app.config["PORTAL_SETTINGS"].with_changes(cache_url=REDIS_URL)
    other_worker = settings.with_changes(instance_path=tmp_path / "other")
    compute = CountingCompute()
    first = cached_results(settings, database, STROKE, compute=compute)
    second = cached_results(other_worker, database, STROKE, compute=compute)
    assert compute.calls == 1
    assert_frame_equal(second, first)
    assert_frame_equal(first, _direct(database))
    version = data_version(database, "stroke")
    assert redis_client.exists(redis_key("stroke", version))
    assert not (settings.instance_path / "results").exists()
    seed(app, registrations=500, seed=2)
    cached_results(other_worker, database, STROKE, compute=compute)
    assert compute.calls == 2
    new = data_version(database, "stroke")
    assert [k.decode() for k in redis_client.scan_iter("results:stroke:*")] == [
        redis_key("stroke", new)
    ]
