"""Indicator results are computed once per data version and shared on disk or in Redis, once
even when several workers miss the cache at the same moment."""

from __future__ import annotations

import fcntl
import io
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import flask
import polars as pl
import pytest
import redis
from polars.testing import assert_frame_equal
from sqlalchemy import select

from data_access.access import AccessScope
from data_access.audit import SYSTEM
from data_access.database import Database
from data_access.models import Registration
from data_access.record_commands import update_registration
from data_access.reference_data import read_units
from data_access.snapshot import data_version, finished_frame, read_coverage
from indicators.engine import compute_results
from portal.results_cache import (
    Computation,
    _RedisStore,
    _timing_key,
    cached_results,
    lock_path,
    redis_key,
    redis_lock_key,
    served_results_versions,
)
from portal.settings import Settings
from tests.conftest import complete_to_draft
from tests.integration.test_snapshot import STROKE, seed

REDIS_URL = os.environ.get("TEST_RESULTS_REDIS_URL", "redis://127.0.0.1:6379/14")


WORKERS = 4
RACE_WINDOW_SECONDS = 2.0
"""How long the first computation stays open for a second one to start: long enough for
workers released together to miss the cache and reach `compute` if nothing stops them. Not
an assertion on time: a longer window only makes a missing lock more certain to show."""


class RacingCompute:
    """Counts computations, thread-safely, and keeps the first one running until a second
    one starts or `RACE_WINDOW_SECONDS` have passed."""

    def __init__(self) -> None:
        self.calls = 0
        self._counting = threading.Lock()
        self._second = threading.Event()

    def __call__(self, *args: object, **kwargs: object) -> pl.DataFrame:
        with self._counting:
            self.calls += 1
            first = self.calls == 1
        if first:
            self._second.wait(RACE_WINDOW_SECONDS)
        else:
            self._second.set()
        return compute_results(*args, **kwargs)  # type: ignore[arg-type]


def race(workers: list[Settings], database: Database, compute: RacingCompute) -> list[pl.DataFrame]:
    """Every worker asks for the results at once, on a cold cache."""
    start = threading.Barrier(len(workers))

    def ask(settings: Settings) -> pl.DataFrame:
        start.wait()
        return cached_results(settings, database, STROKE, compute=compute)

    with ThreadPoolExecutor(len(workers)) as pool:
        return list(pool.map(ask, workers))


class CountingCompute:
    """Counts computations; the seam `cached_results(compute=...)` offers."""

    def __init__(self) -> None:
        self.calls = 0
        self.priorities: list[int] = []  # the computing thread's nice, per computation

    def __call__(self, *args: object, **kwargs: object) -> pl.DataFrame:
        self.calls += 1
        self.priorities.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return compute_results(*args, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    """An empty Redis database for this test alone: the tests of every pytest worker (and of
    every run on this machine) share it, so they take turns through a lock file."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as error:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Redis at {REDIS_URL} is not reachable: {error} (CI=true)")
        pytest.skip(f"Redis at {REDIS_URL} is not running")
    turn = os.open(Path(tempfile.gettempdir()) / "results-cache-redis-tests.lock", os.O_CREAT)
    try:
        fcntl.flock(turn, fcntl.LOCK_EX)
        client.flushdb()
        yield client
        client.flushdb()
    finally:
        os.close(turn)
        client.close()


def _direct(database: Database) -> pl.DataFrame:
    return compute_results(
        finished_frame(database, "stroke", STROKE.dictionary),
        STROKE.indicators,
        read_units(database),
        coverage=read_coverage(database, "stroke"),
    )


def test_drafts_do_not_count(app: flask.Flask) -> None:
    seed(app)
    database: Database = app.extensions["database"]
    with database.reading() as session:
        statuses = Counter(session.scalars(select(Registration.status)))
    assert statuses["draft"] > 0
    results = cached_results(app.config["PORTAL_SETTINGS"], database, STROKE)
    nation = results.filter((pl.col("indicator") == "stroke_unit") & (pl.col("level") == "nation"))
    assert nation["denominator"].sum() == statuses["complete"] + statuses["locked"]


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
    assert sorted(p.name for p in folder.iterdir()) == [
        ".stroke.computation",  # how long that version took, and when it ended
        ".stroke.lock",
        f"stroke-v{version}.parquet",
    ]


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
    assert redis_client.exists(redis_key(settings, "stroke", version))
    assert not (settings.instance_path / "results").exists()
    seed(app, registrations=500, seed=2)
    cached_results(other_worker, database, STROKE, compute=compute)
    assert compute.calls == 2
    new = data_version(database, "stroke")
    assert [
        k.decode() for k in redis_client.scan_iter(f"results:{settings.redis_namespace}stroke:*")
    ] == [redis_key(settings, "stroke", new)]


def test_workers_missing_the_disk_cache_together_compute_once(app: flask.Flask) -> None:
    seed(app)
    database: Database = app.extensions["database"]
    settings: Settings = app.config["PORTAL_SETTINGS"]
    compute = RacingCompute()
    found = race([settings] * WORKERS, database, compute)
    assert compute.calls == 1
    for other in found[1:]:
        assert_frame_equal(other, found[0])
    assert_frame_equal(found[0], _direct(database))


def test_workers_missing_redis_together_compute_once(
    app: flask.Flask, redis_client: redis.Redis, tmp_path: Path
) -> None:
    seed(app)
    database: Database = app.extensions["database"]
    settings = app.config["PORTAL_SETTINGS"].with_changes(cache_url=REDIS_URL)
    workers = [settings.with_changes(instance_path=tmp_path / f"w{i}") for i in range(WORKERS)]
    compute = RacingCompute()
    found = race(workers, database, compute)
    assert compute.calls == 1
    for other in found[1:]:
        assert_frame_equal(other, found[0])
    assert_frame_equal(found[0], _direct(database))
    assert not redis_client.exists(redis_lock_key(settings, "stroke"))


def test_a_lock_held_too_long_does_not_block_for_good(
    app: flask.Flask, redis_client: redis.Redis
) -> None:
    """A worker that waited its time computes anyway, on disk and in Redis."""
    seed(app)
    database: Database = app.extensions["database"]
    settings: Settings = app.config["PORTAL_SETTINGS"]
    version = data_version(database, "stroke")
    folder = settings.instance_path / "results"
    folder.mkdir(parents=True)
    stuck = os.open(lock_path(folder, "stroke"), os.O_RDWR | os.O_CREAT)
    redis_lock = redis_client.lock(redis_lock_key(settings, "stroke"), timeout=60)
    try:
        fcntl.flock(stuck, fcntl.LOCK_EX)
        assert redis_lock.acquire(blocking=False)
        compute = CountingCompute()
        on_disk = cached_results(settings, database, STROKE, compute=compute, lock_seconds=0.2)
        in_redis = cached_results(
            settings.with_changes(cache_url=REDIS_URL),
            database,
            STROKE,
            compute=compute,
            lock_seconds=0.2,
        )
        assert compute.calls == 2
        assert_frame_equal(on_disk, _direct(database))
        assert_frame_equal(in_redis, on_disk)
        assert redis_client.exists(redis_key(settings, "stroke", version))
    finally:
        os.close(stuck)
        redis_lock.release()


def test_the_redis_lock_is_renewed_while_held_and_freed_after(
    app: flask.Flask, redis_client: redis.Redis
) -> None:
    """Its expiry is short, so a killed holder frees it soon; a holder alive keeps it."""
    settings = app.config["PORTAL_SETTINGS"].with_changes(cache_url=REDIS_URL)
    key = redis_lock_key(settings, "stroke")
    other = redis_client.lock(key, timeout=5)
    with _RedisStore(settings, "stroke").lock(0.1, lease=0.3):
        assert 0 < redis_client.pttl(key) <= 300
        time.sleep(0.9)  # three leases
        assert redis_client.exists(key), "the lock expired while its holder computed"
        assert not other.acquire(blocking=False)
    assert not redis_client.exists(key)
    assert other.acquire(blocking=False)
    other.release()


class HeldCompute(CountingCompute):
    """Computes only once `release` is set, so a test can read while a refresh runs."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def __call__(self, *args: object, **kwargs: object) -> pl.DataFrame:
        assert self.release.wait(60), "the test never released the computation"
        return super().__call__(*args, **kwargs)


def _shared_settings(
    app: flask.Flask, shared: str, request: pytest.FixtureRequest, **changes: int
) -> Settings:
    """The app's settings with `changes`, keeping results on disk or (`shared="redis"`) in
    the test's own Redis database."""
    settings: Settings = app.config["PORTAL_SETTINGS"].with_changes(**changes)
    if shared == "redis":
        request.getfixturevalue("redis_client")
        settings = settings.with_changes(cache_url=REDIS_URL)
    return settings


def _until(condition: Callable[[], bool], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the background refresh never stored its results"
        time.sleep(0.02)


@pytest.mark.parametrize("shared", ["disk", "redis"])
def test_readers_get_the_previous_results_at_once_while_new_ones_are_computed(
    app: flask.Flask, shared: str, request: pytest.FixtureRequest
) -> None:
    """Production's default: a change of data never makes a reader wait. The first reader
    after it starts one background refresh; meanwhile every reader gets the previous
    results; then every reader gets the new ones, and the version cached pages are keyed by
    moves on."""
    seed(app)
    database: Database = app.extensions["database"]
    settings = _shared_settings(app, shared, request, results_wait_ms=0)
    old = cached_results(settings, database, STROKE)
    old_version = data_version(database, "stroke")
    assert served_results_versions(settings, database, [STROKE]) == {"stroke": old_version}

    seed(app, registrations=500, seed=2)
    new_version = data_version(database, "stroke")
    compute = HeldCompute()
    readers = [cached_results(settings, database, STROKE, compute=compute) for _ in range(5)]
    for answer in readers:
        assert_frame_equal(answer, old)
    assert served_results_versions(settings, database, [STROKE]) == {"stroke": old_version}

    compute.release.set()
    _until(lambda: served_results_versions(settings, database, [STROKE]) == {"stroke": new_version})
    assert compute.calls == 1  # five readers, one refresh
    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    lowered = min(19, own + settings.render_nice) if sys.platform.startswith("linux") else own
    assert compute.priorities == [lowered]  # background work: requests come first
    fresh = cached_results(settings, database, STROKE, compute=compute)
    assert_frame_equal(fresh, _direct(database))
    assert not fresh.equals(old) and compute.calls == 1


class SlowCompute(CountingCompute):
    """Takes at least `seconds`, as a large registry's computation does."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def __call__(self, *args: object, **kwargs: object) -> pl.DataFrame:
        time.sleep(self.seconds)
        return super().__call__(*args, **kwargs)


RELEASE_SECONDS = 0.3
"""When the test lets the refresh finish: well inside the reader's wait, long after a reader
that does not wait has been answered."""


@pytest.mark.parametrize("shared", ["disk", "redis"])
@pytest.mark.parametrize(
    ("wait_ms", "last_seconds", "waits"),
    [
        (60_000, 0.0, True),  # the last computation took its real time, far under a minute
        (1_000, 1.2, False),  # the last computation took longer than the wait
    ],
)
def test_a_reader_waits_for_a_refresh_only_when_the_last_one_was_quick(
    app: flask.Flask,
    shared: str,
    wait_ms: int,
    last_seconds: float,
    waits: bool,
    request: pytest.FixtureRequest,
) -> None:
    """`RESULTS_WAIT_MS`: after a change of data a reader waits up to that long for the new
    results if the registry's last computation says this one should end within that, so a
    small registry shows the change at once; after a longer one it is served the previous
    results at once. Here the refresh finishes `RELEASE_SECONDS` after it starts, inside
    the wait."""
    seed(app)
    database: Database = app.extensions["database"]
    settings = _shared_settings(app, shared, request, results_wait_ms=wait_ms)
    old = cached_results(settings, database, STROKE, compute=SlowCompute(last_seconds))

    seed(app, registrations=500, seed=2)
    new_version = data_version(database, "stroke")
    compute = HeldCompute()
    timer = threading.Timer(RELEASE_SECONDS, compute.release.set)
    timer.start()
    try:
        answer = cached_results(settings, database, STROKE, compute=compute)
    finally:
        timer.join()
    if waits:
        assert_frame_equal(answer, _direct(database))  # waited: the change shows at once
    else:
        assert_frame_equal(answer, old)  # not held up by a refresh expected to be long
    _until(lambda: served_results_versions(settings, database, [STROKE]) == {"stroke": new_version})
    assert compute.calls == 1


def test_saving_a_draft_leaves_the_results_and_unfinishing_a_record_renews_them(
    app: flask.Flask,
) -> None:
    """Drafts never count, so their saves keep every cached result and page valid; the
    save that completes a record moves the data version, and the results follow it."""
    seed(app)
    database: Database = app.extensions["database"]
    settings: Settings = app.config["PORTAL_SETTINGS"]
    with database.reading() as session:
        draft = session.scalars(
            select(Registration).where(Registration.status == "draft").order_by(Registration.id)
        ).first()
    assert draft is not None
    units = set(read_units(database)["unit_id"])
    scope = AccessScope(actor=SYSTEM, roles={"stroke": {"registrar": frozenset(units)}})
    before = cached_results(settings, database, STROKE)
    version = data_version(database, "stroke")
    saved = update_registration(
        database,
        scope,
        draft.id,
        draft.version,
        {"nihss_admission": 7},
        STROKE.dictionary,
        event_date_variable=STROKE.event_date_variable,
    )
    assert saved.changed and data_version(database, "stroke") == version
    compute = CountingCompute()
    assert_frame_equal(cached_results(settings, database, STROKE, compute=compute), before)
    assert compute.calls == 0

    complete_to_draft(database, STROKE)
    assert data_version(database, "stroke") == version + 1
    after = cached_results(settings, database, STROKE, compute=compute)
    assert compute.calls == 1
    assert_frame_equal(after, _direct(database))
    stroke_unit = pl.col("indicator") == "stroke_unit"
    nation = (pl.col("level") == "nation") & stroke_unit
    assert (
        after.filter(nation)["denominator"].sum() == before.filter(nation)["denominator"].sum() - 1
    )


class ChangingCompute(CountingCompute):
    """Its first computation takes at least `SLOW_SECONDS`, during which a registrar
    changes data; notes when each computation starts and ends (Unix time)."""

    def __init__(self, database: Database) -> None:
        super().__init__()
        self.database = database
        self.started: list[float] = []
        self.ended: list[float] = []

    def __call__(self, *args: object, **kwargs: object) -> pl.DataFrame:
        self.started.append(time.time())
        if len(self.started) == 1:
            complete_to_draft(self.database, STROKE)
            time.sleep(SLOW_SECONDS)
        results = super().__call__(*args, **kwargs)
        self.ended.append(time.time())
        return results


REST_FACTOR = 3
SLOW_SECONDS = 0.5


@pytest.mark.parametrize("shared", ["disk", "redis"])
def test_a_refresh_rests_when_the_data_moved_on_while_it_computed(
    app: flask.Flask, shared: str, request: pytest.FixtureRequest
) -> None:
    """`RESULTS_REST_FACTOR`: when the data moved on during a computation of T seconds, the
    registry's next one starts no sooner than factor × T after it ended; without the rest
    it would start at once."""
    seed(app)
    database: Database = app.extensions["database"]
    settings = _shared_settings(
        app, shared, request, results_wait_ms=0, results_rest_factor=REST_FACTOR
    )
    old = cached_results(settings, database, STROKE)

    complete_to_draft(database, STROKE)
    compute = ChangingCompute(database)
    assert_frame_equal(cached_results(settings, database, STROKE, compute=compute), old)
    _until(
        lambda: (
            compute.calls == 2
            and served_results_versions(settings, database, [STROKE])
            == {"stroke": data_version(database, "stroke")}
        )
    )
    # The first computation took at least SLOW_SECONDS (its stored time, which counts the
    # snapshot too, is longer) and was stored after `ended[0]`.
    assert compute.started[1] >= compute.ended[0] + REST_FACTOR * SLOW_SECONDS


def test_results_stored_anew_under_the_same_key_are_read_anew(
    app: flask.Flask, request: pytest.FixtureRequest
) -> None:
    """A worker keeps the results it decoded while they stay the newest computation: a
    database reset to the same version (the same Redis keys) gets its own results read."""
    seed(app)
    database: Database = app.extensions["database"]
    settings = _shared_settings(app, "redis", request)
    cached_results(settings, database, STROKE)  # computed and stored
    version = data_version(database, "stroke")
    first = cached_results(settings, database, STROKE)  # read from Redis, and kept
    other = first.with_columns(pl.col("numerator") + 1)
    buffer = io.BytesIO()
    other.write_parquet(buffer)
    client = settings.redis()
    client.set(redis_key(settings, "stroke", version), buffer.getvalue())
    client.set(_timing_key(settings, "stroke"), Computation(0.1, time.time()).encoded())
    assert_frame_equal(cached_results(settings, database, STROKE), other)
