"""Indicator results computed once per registry and data version, shared by every worker.

Results depend only on the finished registrations (and the unit tree and coverage counts
that come with them) and the published aggregate uploads, and every committed change of a
complete or locked registration, like every publication, bumps the registry's data version
(a draft's saves do not: drafts never count). So the results of
one version are computed once and kept as Parquet: in Redis under
`results:<database>:<registry>:v<version>` when `CACHE_URL` is a redis:// URL (several
workers share nothing else), otherwise as files under `instance/results/`. Only the newest
stored version is kept.

A reader never waits long for a recomputation when there is something to show: when the
current version is not stored yet, it starts (or joins) its worker's background refresh. If
the refresh is computing and, going by the registry's last computation, should end within
`RESULTS_WAIT_MS` (default 500), the reader waits at most that long for it; otherwise, or
when the wait runs out, it is served the newest stored version, which stays on screen until
the refresh stores the current one. So a small registry shows a change at once to the
reader who asks just after it, and a large one (2–7 s at a million registrations) holds up
only the readers who come in the last moments of its computation. The waiting readers
leave their worker's interpreter to the computation: the two-worker test measured a change
on every worker in 0.66–0.87 s with readers served old pages during the computation, which
then shared the interpreter with them and took twice as long as alone. (Before the load
benchmark showed it, every reader after a write waited for the whole recomputation, however
long, while the other workers queued behind the same lock.)

While registrars keep changing data, a registry's refreshes rest between computations: when
the data moved on during one of T seconds, the next starts no sooner than
`RESULTS_REST_FACTOR` (default 2) × T after it, so recomputing takes at most a third of the
time and readers the rest.

Computations of one registry take turns through one lock (a Redis lock whose short expiry
its holder keeps renewing, or `fcntl.flock` on `instance/results/.<registry>.lock`; either
is freed soon after its worker dies): workers that miss together compute once. A worker
that has waited `LOCK_SECONDS` computes anyway, so a stuck lock holder slows the others down
but never blocks them for good. Only when nothing at all is stored (a fresh installation)
does a reader wait for the first computation.
"""

from __future__ import annotations

import fcntl
import io
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from typing import NamedTuple, Protocol

import polars as pl
import redis
from cachetools import LRUCache
from redis.lock import Lock

from data_access.aggregate_uploads import published_counts
from data_access.database import Database
from data_access.reference_data import read_units
from data_access.snapshot import (
    data_version,
    data_versions,
    read_coverage,
    replace_atomically,
    snapshot,
    store_version,
    stored_versions,
    versioned_path,
)
from entry.registry_folder import RegistryFolder
from indicators import Indicator
from indicators.engine import compute_results
from indicators.uploaded import uploaded_results, with_uploaded
from portal.settings import Settings
from portal.thread_priority import lower_priority

Compute = Callable[..., pl.DataFrame]
REDIS_EXPIRY_SECONDS = 7 * 24 * 3600
"""A safety net only: a superseded version is deleted as soon as a newer one is stored."""
LOCK_SECONDS = 120.0
"""How long a worker waits for another's computation before computing itself."""
LEASE_SECONDS = 10.0
"""The Redis lock's expiry, renewed every third of it while its holder computes, so a lock
whose holder was killed frees itself within seconds. (It used to expire after
`LOCK_SECONDS`: after a server was stopped mid-computation, the next one's readers waited
60-100 s for results.)"""
LOCK_POLL_SECONDS = 0.05

_log = logging.getLogger(__name__)


class Stored(NamedTuple):
    version: int
    frame: pl.DataFrame


class Computation(NamedTuple):
    """How long the newest stored version took to compute, and when it was stored (Unix
    time, so that every worker and host reads it alike)."""

    seconds: float
    ended: float

    def encoded(self) -> str:
        return f"{self.seconds:.6f} {self.ended:.6f}"

    @classmethod
    def decoded(cls, text: str) -> Computation | None:
        """None for text an older release or a torn write left."""
        try:
            seconds, ended = (float(part) for part in text.split())
        except ValueError:
            return None
        return cls(seconds, ended)


class _Store(Protocol):
    """Where one registry's results are kept: the newest version only."""

    def get(self, version: int) -> pl.DataFrame | None: ...

    def newest(self) -> Stored | None: ...

    def put(self, version: int, frame: pl.DataFrame, computation: Computation) -> None:
        """Keep `frame` as `version`, with how it was computed, unless a newer version is
        stored already."""

    def last_computation(self) -> Computation | None: ...

    def lock(self, seconds: float) -> AbstractContextManager[None]: ...


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
    """The registry's results for its current data version, or while that version is being
    computed (and `RESULTS_WAIT_MS` has run out) the newest stored ones.

    `compute` is the seam tests use to count computations; it gets the snapshot, the
    indicators, the units and `coverage=` exactly as `compute_results` does.
    `lock_seconds` is how long to wait for another worker's computation.
    """
    version = data_version(database, registry.key)
    store = _store(settings, registry.key)
    found = store.get(version)
    if found is not None:
        return found
    previous = store.newest()
    if previous is None:  # nothing to show yet: the first computation is waited for
        return _computed(settings, database, registry, store, version, compute, lock_seconds)
    refresh = _refresh(settings, database, registry, compute, lock_seconds)
    if _waited(settings, store, refresh):
        newest = store.newest()
        if newest is not None:
            return newest.frame
    return previous.frame


def served_results_versions(
    settings: Settings,
    database: Database,
    registries: Iterable[RegistryFolder],
    *,
    wait: bool = True,
) -> dict[str, int]:
    """The version of the results readers are served now, per registry. Cached pages are
    tagged with these, so a page is known to be of older numbers once newer ones are
    stored. A page served from that cache never asks for results, so this does what a
    reader of results would: it computes a registry's first results, and starts the
    background refresh of a registry whose data has moved on, and with `wait` waits up to
    `RESULTS_WAIT_MS` for it (see `_waited`). A reader who has a page to be given already
    asks without `wait`: waiting could only make that page one of older numbers."""
    folders = {registry.key: registry for registry in registries}
    stored = _stored_versions(settings, folders)
    current = data_versions(database)
    waited = False  # only then can the stored versions have moved since they were read
    for key, registry in folders.items():
        if key not in stored:
            cached_results(settings, database, registry)
            waited = True
        elif current.get(key, 0) > stored[key]:
            refresh = _refresh(settings, database, registry, _compute, LOCK_SECONDS)
            waited = (wait and _waited(settings, _store(settings, key), refresh)) or waited
    return _stored_versions(settings, folders) if waited else stored


def _waited(settings: Settings, store: _Store, refresh: _Refresh) -> bool:
    """Wait for `refresh` up to `RESULTS_WAIT_MS` when it is computing and, going by the
    registry's last computation, should end within that (`wait_worthwhile`); whether it
    ended in time."""
    limit = settings.results_wait_ms / 1000
    last = store.last_computation()
    since = refresh.computing_since
    if since is None or not wait_worthwhile(limit, last, time.monotonic() - since):
        return False
    return refresh.done.wait(limit)


def wait_worthwhile(limit: float, last: Computation | None, running: float) -> bool:
    """Whether a reader should wait up to `limit` seconds for a computation that has run
    `running` seconds, the registry's last one having taken `last.seconds`: only when it
    should end within the wait. A reader that came early in a long computation, or while
    the refresh rests between computations, waited for nothing: under 20 registrars at a
    million registrations (2-s computations, one after another) over one reader in twenty waited
    the whole 500 ms, where waiting only around a computation's expected end costs a
    reader at most that and mostly shows the change. The first computation of a registry
    (no `last`) is worth the wait: a small one is quick. One that has run longer than the
    last one by more than the wait is not: it may go on for seconds more."""
    if limit <= 0:
        return False
    return last is None or abs(last.seconds - running) <= limit


def stored_version(settings: Settings, registry_key: str) -> int | None:
    """The version of the results readers are served now; None before the first is stored.
    Benchmarks wait on it, so that what they time is not a refresh the warm-up started."""
    return _stored_versions(settings, [registry_key]).get(registry_key)


def _stored_versions(settings: Settings, registry_keys: Iterable[str]) -> dict[str, int]:
    keys = list(registry_keys)
    if settings.redis_url is None:
        return stored_versions(settings.instance_path / "results", keys)
    pointers = settings.redis().mget([_pointer_key(settings, key) for key in keys])
    return {key: int(p) for key, p in zip(keys, pointers, strict=True) if p is not None}


def _computed(
    settings: Settings,
    database: Database,
    registry: RegistryFolder,
    store: _Store,
    version: int,
    compute: Compute,
    lock_seconds: float,
) -> pl.DataFrame:
    """Compute `version` under the registry's lock, unless it (or a newer one) was stored by
    whoever held the lock before."""
    with store.lock(lock_seconds):
        newest = store.newest()
        if newest is not None and newest.version >= version:
            return newest.frame
        started = time.monotonic()
        results = _fresh_results(settings, database, registry, compute)
        store.put(version, results, Computation(time.monotonic() - started, time.time()))
    return results


class _Refresh:
    """One worker's background recomputation of one registry: it computes until the version
    it has stored is still the current one, resting between computations (`_rest`), then
    ends. `computing_since` is when its current computation began (monotonic), None while
    it rests."""

    def __init__(self, run: Callable[[_Refresh], None]) -> None:
        self.done = threading.Event()
        self.computing_since: float | None = time.monotonic()
        self._run = run

    def __call__(self, key: tuple[str, str]) -> None:
        try:
            self._run(self)
        except Exception:  # the readers go on with the previous results; the next one retries
            _log.exception("recomputing the results of %s failed", key[1])
        finally:
            with _REFRESHING_LOCK:
                _REFRESHING.pop(key, None)
            self.done.set()


_REFRESHING: dict[tuple[str, str], _Refresh] = {}
_REFRESHING_LOCK = threading.Lock()


def _refresh(
    settings: Settings,
    database: Database,
    registry: RegistryFolder,
    compute: Compute,
    lock_seconds: float,
) -> _Refresh:
    """The worker's running refresh of the registry, started if there is none."""
    key = (str(settings.instance_path) + settings.redis_namespace, registry.key)

    def run(refresh: _Refresh) -> None:
        lower_priority(settings.render_nice)  # background work: requests come first
        store = _store(settings, registry.key)
        while True:
            version = data_version(database, registry.key)
            _computed(settings, database, registry, store, version, compute, lock_seconds)
            if data_version(database, registry.key) == version:
                return
            refresh.computing_since = None
            _rest(settings, store, lock_seconds)  # the data moved on while it computed
            refresh.computing_since = time.monotonic()

    with _REFRESHING_LOCK:
        running = _REFRESHING.get(key)
        if running is not None:
            return running
        refresh = _REFRESHING[key] = _Refresh(run)
    thread = threading.Thread(target=refresh, args=(key,), name=f"results-{registry.key}")
    thread.daemon = True
    thread.start()
    return refresh


def _rest(settings: Settings, store: _Store, most_seconds: float) -> None:
    """When the data moved on during a computation, the next one starts no sooner than
    `RESULTS_REST_FACTOR` × T after the last one of the registry (by any worker) ended, T
    being its time, so that while registrars keep changing data, recomputing takes at most
    1 / (1 + factor) of the time and the rest is left to readers (at a million registrations
    one takes 3 s, or 7 s where it reads every registration). The first computation after a
    change starts at once: a process's first computation is slow (cold), and resting after
    it held up the next change by seconds. A rest never exceeds half of `most_seconds` (the
    lock's time), so a clock that jumps cannot hold refreshes up for long."""
    last = store.last_computation()
    if last is None or settings.results_rest_factor <= 0:
        return
    until = last.ended + settings.results_rest_factor * last.seconds
    time.sleep(min(max(0.0, until - time.time()), most_seconds / 2))


_DECODED: LRUCache[str, tuple[object, pl.DataFrame]] = LRUCache(maxsize=8)
_DECODED_LOCK = threading.Lock()


def _decoded(key: str, validator: object, read: Callable[[], bytes | None]) -> pl.DataFrame | None:
    """The stored results under `key` (None when `read` finds none), decoded once per
    process while `validator` (the file's time and size; in Redis, the stamp of the newest
    computation) stays the same: every page and My unit reads them, and fetching and
    decoding them took 3-4 ms of each rendering at a million registrations. Callers treat
    frames as immutable."""
    with _DECODED_LOCK:
        kept = _DECODED.get(key)
    if kept is not None and kept[0] == validator:
        return kept[1]
    stored = read()
    if stored is None:
        return None
    frame = pl.read_parquet(io.BytesIO(stored))
    with _DECODED_LOCK:
        _DECODED[key] = (validator, frame)
    return frame


def _store(settings: Settings, registry_key: str) -> _Store:
    if settings.redis_url is not None:
        return _RedisStore(settings, registry_key)
    return _FileStore(settings.instance_path / "results", registry_key)


class _FileStore:
    def __init__(self, folder: Path, registry_key: str) -> None:
        self.folder, self.registry_key = folder, registry_key

    def get(self, version: int) -> pl.DataFrame | None:
        path = versioned_path(self.folder, self.registry_key, version)
        try:
            stat = path.stat()
            return _decoded(str(path), (stat.st_mtime_ns, stat.st_size), path.read_bytes)
        except FileNotFoundError:  # not stored, or superseded by another worker just now
            return None

    def newest(self) -> Stored | None:
        version = self._newest_version()
        frame = None if version is None else self.get(version)
        return None if version is None or frame is None else Stored(version, frame)

    def put(self, version: int, frame: pl.DataFrame, computation: Computation) -> None:
        newest = self._newest_version()
        if newest is None or newest <= version:
            store_version(frame, self.folder, self.registry_key, version)
            replace_atomically(
                _timing_path(self.folder, self.registry_key),
                lambda path: path.write_text(computation.encoded(), encoding="utf-8"),
            )

    def last_computation(self) -> Computation | None:
        try:
            return Computation.decoded(_timing_path(self.folder, self.registry_key).read_text())
        except FileNotFoundError:
            return None

    @contextmanager
    def lock(self, seconds: float) -> Iterator[None]:
        with _file_lock(lock_path(self.folder, self.registry_key), seconds):
            yield

    def _newest_version(self) -> int | None:
        return stored_versions(self.folder, [self.registry_key]).get(self.registry_key)


def _timing_path(folder: Path, registry_key: str) -> Path:
    """The newest stored version's `Computation` (outside the versions' pattern)."""
    return folder / f".{registry_key}.computation"


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


def redis_key(settings: Settings, registry_key: str, version: int) -> str:
    return f"{_versions_prefix(settings, registry_key)}{version}"


def _versions_prefix(settings: Settings, registry_key: str) -> str:
    """What the keys of every stored version of one registry's results begin with."""
    return f"results:{settings.redis_namespace}{registry_key}:v"


def _pointer_key(settings: Settings, registry_key: str) -> str:
    """Holds the newest stored version's number (outside the versions' pattern)."""
    return f"results-newest:{settings.redis_namespace}{registry_key}"


def _timing_key(settings: Settings, registry_key: str) -> str:
    """The newest stored version's `Computation` (outside the versions' pattern)."""
    return f"results-computation:{settings.redis_namespace}{registry_key}"


def redis_lock_key(settings: Settings, registry_key: str) -> str:
    """Outside the `results:…<registry>:v*` pattern of stored versions."""
    return f"results-lock:{settings.redis_namespace}{registry_key}"


# Store a version and move the pointer to it in one step, unless a newer one is stored
# (a slow computation must not replace a fresher one), and drop the version it replaces.
# KEYS: pointer, the version's key, its `Computation`'s key; ARGV: version, parquet bytes,
# expiry, versions' prefix, the encoded `Computation`.
_PUT_IF_NEWEST = """
local current = tonumber(redis.call('GET', KEYS[1]) or '-1')
local version = tonumber(ARGV[1])
if version < current then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
redis.call('SET', KEYS[3], ARGV[5], 'EX', ARGV[3])
if current >= 0 and current ~= version then redis.call('DEL', ARGV[4] .. current) end
return 1
"""


class _RedisStore:
    def __init__(self, settings: Settings, registry_key: str) -> None:
        self.settings, self.registry_key = settings, registry_key
        self.client = settings.redis()

    def get(self, version: int) -> pl.DataFrame | None:
        key = redis_key(self.settings, self.registry_key, version)
        computed = self.client.get(_timing_key(self.settings, self.registry_key))

        def read() -> bytes | None:
            stored = self.client.get(key)
            return stored if isinstance(stored, bytes) else None

        return _decoded(key, computed, read)

    def newest(self) -> Stored | None:
        pointer = self.client.get(_pointer_key(self.settings, self.registry_key))
        if pointer is None:
            return None
        version = int(pointer)
        frame = self.get(version)
        return None if frame is None else Stored(version, frame)

    def put(self, version: int, frame: pl.DataFrame, computation: Computation) -> None:
        buffer = io.BytesIO()
        frame.write_parquet(buffer)
        self.client.eval(
            _PUT_IF_NEWEST,
            3,
            _pointer_key(self.settings, self.registry_key),
            redis_key(self.settings, self.registry_key, version),
            _timing_key(self.settings, self.registry_key),
            version,
            buffer.getvalue(),
            REDIS_EXPIRY_SECONDS,
            _versions_prefix(self.settings, self.registry_key),
            computation.encoded(),
        )

    def last_computation(self) -> Computation | None:
        stored = self.client.get(_timing_key(self.settings, self.registry_key))
        return Computation.decoded(stored.decode()) if isinstance(stored, bytes) else None

    @contextmanager
    def lock(self, seconds: float, lease: float = LEASE_SECONDS) -> Iterator[None]:
        lock = self.client.lock(
            redis_lock_key(self.settings, self.registry_key),
            timeout=lease,
            sleep=LOCK_POLL_SECONDS,
            blocking_timeout=seconds,
            thread_local=False,  # renewed from a thread of its own
        )
        if not lock.acquire():
            yield
            return
        stop = threading.Event()
        renewer = threading.Thread(
            target=_renew, args=(lock, lease / 3, stop), name="results-lock", daemon=True
        )
        renewer.start()
        try:
            yield
        finally:
            stop.set()
            renewer.join()
            # It may have expired all the same (Redis unreachable), and another worker may hold it.
            with suppress(redis.exceptions.LockError):
                lock.release()


def _renew(lock: Lock, every: float, stop: threading.Event) -> None:
    """Give the held lock its whole lease again every `every` seconds until `stop` is set."""
    while not stop.wait(every):
        try:
            lock.reacquire()
        except redis.exceptions.LockError:  # expired and taken: the other worker computes too
            return
        except redis.exceptions.RedisError as error:  # try again while the lease lasts
            _log.warning("renewing the results lock failed: %s", error)


def _fresh_results(
    settings: Settings, database: Database, registry: RegistryFolder, compute: Compute
) -> pl.DataFrame:
    units, coverage = read_units(database), read_coverage(database, registry.key)
    computed = compute(
        snapshot(database, registry.key, registry.dictionary, _snapshot_folder(settings)),
        registry.indicators,
        units,
        coverage=coverage,
    )
    counts = published_counts(database, registry.key)  # aggregate uploads, published
    uploaded = uploaded_results(counts, registry.indicators, units, coverage=coverage)
    return with_uploaded(computed, uploaded, registry.indicators)


def _snapshot_folder(settings: Settings) -> Path:
    """Beside the database: each worker of a host shares the instance folder's snapshots."""
    return settings.instance_path / "snapshots"
