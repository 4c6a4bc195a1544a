"""Public pages rendered once per results version and address, then served from a cache.

A public page shown to an anonymous reader depends only on its address (path and query,
language included), on the registries' results and on today's date (the current year is
marked preliminary). So the page router's answer for such a request is kept under a key
of exactly the address and the date, tagged with the results versions it was rendered
from, and the next reader of the same view gets it without building a single figure:
building plotly figures costs far more than the numbers behind them. Logged-in readers are
never served from or stored in the cache, because their pages carry their name, menu and
own-unit numbers. With `CACHE_URL` set to Redis the answers are shared by every worker;
otherwise each worker keeps its own bounded copy.

The tag is the version of the results readers are served now
(`results_cache.served_results_versions`), not the data version: after a change of data
readers see the previous results until the new ones are stored. When they are, a page
tagged with older versions is still served, whole, to the readers who come before it has
been rendered anew: after its answer has been sent, the request that found it old is run
again through the application (`_replay_of`), which stores the page of the new results.
This is HTTP's stale-while-revalidate (RFC 5861). Rendering every page anew before
answering made a new results version cost every reader of a not-yet-rendered page its
rendering: at a million registrations the demo registry has 1,638 public addresses at
35-40 ms each, a minute of a core per version, and under 20 registrars saving nearly every
public request of the load benchmark was such a rendering (paced public p95 484 ms, now
32-61 ms). Replays are taken by one request at a time per worker (`REPLAYS_PER_WORKER`) and
once per address and version by all workers together (a claim in Redis that expires after
`CLAIM_SECONDS`, so a replay that died is taken up again), and cost no reader any waiting;
nor does a reader who is given a kept page wait for new results (`RESULTS_WAIT_MS`), which
could only make that page one of older numbers. Until every registry has results, nothing
is cached; a page never rendered before is rendered while its reader waits, as before. The
unit tree and coverage counts change only by deployment commands, after which a restart (or
the next data change) renews the pages.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import date
from typing import Final

import flask
from cachetools import LRUCache, TTLCache

from portal.auth.guard import DASH_UPDATE_ENDPOINT
from portal.auth.identity import current_user, database, settings
from portal.catalogue import installed_registries
from portal.results_cache import served_results_versions
from portal.settings import Settings

PAGE_ROUTER: Final = ".._pages_content.children..._pages_store.data.."
CACHED_PATHS: Final = frozenset(
    {"/", "/results", "/results/indicator", "/results/unit", "/methods", "/codebook"}
)
"""Public pages whose content depends on nothing but the address and the data."""
LOCAL_ENTRIES: Final = 512
REDIS_SECONDS: Final = 3600
REPLAYS_PER_WORKER: Final = 1
"""Stale pages rendered anew at once by one worker: each holds a request thread and the
worker's interpreter, which the readers it serves meanwhile need too."""
CLAIM_SECONDS: Final = 30.0
"""How long one worker's replay of an address keeps the others from replaying it too."""
REPLAY_MARK: Final = "portal.page_cache.replay"
"""Set in the WSGI environ of a replay; no HTTP client can set an environ key."""
_KEY_ATTRIBUTE: Final = "portal_page_cache_key"
_PAGE_PREFIX: Final = "page:"
_CLAIM_PREFIX: Final = "page-replay:"

EXTENSION_KEY: Final = "page_cache"

_log = logging.getLogger(__name__)


class _LocalPages:
    """One worker's bounded copy (least recently used out first), per application, and its
    replays: the claims (when there is no Redis) and the count running."""

    def __init__(self) -> None:
        self.pages: LRUCache[str, bytes] = LRUCache(maxsize=LOCAL_ENTRIES)
        self.lock = threading.Lock()
        self.claims: TTLCache[str, bool] = TTLCache(
            maxsize=LOCAL_ENTRIES, ttl=CLAIM_SECONDS, timer=time.monotonic
        )
        self.replays = threading.BoundedSemaphore(REPLAYS_PER_WORKER)


def init_app(server: flask.Flask) -> None:
    """Register after the access guard, so a refused request never reaches the cache."""
    server.extensions[EXTENSION_KEY] = _LocalPages()
    server.before_request(_serve_cached)
    server.after_request(_store)


def clear(server: flask.Flask) -> None:
    """Forget every cached page of this application (after changing the unit tree, say)."""
    local: _LocalPages = server.extensions[EXTENSION_KEY]
    with local.lock:
        local.pages.clear()
        local.claims.clear()
    forget_shared(server.config["PORTAL_SETTINGS"])


def forget_shared(settings: Settings) -> None:
    """Forget the pages (and replay claims) this database's workers share through Redis;
    nothing without Redis. The load benchmark starts its warm-up so."""
    if settings.redis_url is None:
        return
    client = settings.redis()
    for prefix in (_PAGE_PREFIX, _CLAIM_PREFIX):
        kept = list(client.scan_iter(match=f"{prefix}{settings.redis_namespace}*"))
        if kept:
            client.delete(*kept)


def page_address(body: object, today: date) -> str | None:
    """The cache key of a page-router request, or None when the request is not cacheable."""
    if not isinstance(body, dict) or body.get("output") != PAGE_ROUTER:
        return None
    inputs = {
        item.get("property"): item.get("value")
        for item in body.get("inputs", [])
        if isinstance(item, dict)
    }
    pathname, search = inputs.get("pathname"), inputs.get("search") or ""
    if pathname not in CACHED_PATHS or not isinstance(search, str):
        return None
    described = json.dumps([pathname, search, today.isoformat()])
    return hashlib.sha256(described.encode()).hexdigest()


def versions_tag(versions: dict[str, int]) -> bytes:
    """The results versions a page was rendered from, as kept in front of it."""
    return json.dumps(sorted(versions.items()), separators=(",", ":")).encode()


def _serve_cached() -> flask.Response | None:
    request = flask.request
    if request.endpoint != DASH_UPDATE_ENDPOINT or request.method != "POST":
        return None
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or body.get("output") != PAGE_ROUTER:
        return None  # the cheap test first: most callback requests are not the page router
    if current_user() is not None:
        return None
    address = page_address(body, date.today())
    if address is None:
        return None
    kept = None if request.environ.get(REPLAY_MARK) else _read(address)
    registries = installed_registries()
    versions = served_results_versions(settings(), database(), registries, wait=kept is None)
    if len(versions) < len(registries):
        return None
    tag = versions_tag(versions)
    if kept is None:
        flask.g.setdefault(_KEY_ATTRIBUTE, (address, tag))  # rendered now, then stored
        return None
    kept_tag, page = kept
    response = flask.Response(page, mimetype="application/json")
    if kept_tag != tag and _claim(address, tag):
        response.call_on_close(_replay_of(request, address, tag))
    return response


def _store(response: flask.Response) -> flask.Response:
    pending = flask.g.pop(_KEY_ATTRIBUTE, None)
    if pending is not None and response.status_code == 200 and not response.direct_passthrough:
        address, tag = pending
        _write(address, tag + b"\n" + response.get_data())
    return response


def _replay_of(request: flask.Request, address: str, tag: bytes) -> Callable[[], None]:
    """What renders the page anew once its stale answer has been sent: the same request,
    marked, through the whole application (access guard, CSRF check and logging included),
    so the page stored is exactly the one an anonymous reader of the address is given."""
    app = flask.current_app._get_current_object()  # type: ignore[attr-defined]
    local = _local()
    data = request.get_data()
    environ = {k: v for k, v in request.environ.items() if not k.startswith("werkzeug.")}
    environ.update(
        {"wsgi.input": io.BytesIO(data), "CONTENT_LENGTH": str(len(data)), REPLAY_MARK: True}
    )

    def replay() -> None:
        if not local.replays.acquire(blocking=False):
            _unclaim(app, local, address, tag)  # busy with another: a later reader asks
            return
        try:
            answer: Iterable[bytes] = app.wsgi_app(environ, lambda *_: None)
            try:
                for _ in answer:
                    pass
            finally:
                close = getattr(answer, "close", None)
                if close is not None:
                    close()
        except Exception:  # the stale page stays until the claim runs out
            _log.exception("rendering a public page anew failed")
        finally:
            local.replays.release()

    return replay


def _claim(address: str, tag: bytes) -> bool:
    """Whether this request takes the address's replay for these versions (no other has)."""
    key = _claim_key(flask.current_app, address, tag)
    if settings().redis_url is not None:
        return bool(settings().redis().set(key, b"1", nx=True, ex=int(CLAIM_SECONDS)))
    local = _local()
    with local.lock:
        if key in local.claims:
            return False
        local.claims[key] = True
        return True


def _unclaim(app: flask.Flask, local: _LocalPages, address: str, tag: bytes) -> None:
    key = _claim_key(app, address, tag)
    if app.config["PORTAL_SETTINGS"].redis_url is not None:
        app.config["PORTAL_SETTINGS"].redis().delete(key)
        return
    with local.lock:
        local.claims.pop(key, None)


def _claim_key(app: flask.Flask, address: str, tag: bytes) -> str:
    namespace = app.config["PORTAL_SETTINGS"].redis_namespace
    return f"{_CLAIM_PREFIX}{namespace}{address}:{tag.decode()}"


def _read(address: str) -> tuple[bytes, bytes] | None:
    """The kept page of an address and the versions tag it was rendered from."""
    if settings().redis_url is not None:
        stored = settings().redis().get(_namespace(flask.current_app) + address)
    else:
        local = _local()
        with local.lock:
            stored = local.pages.get(address)
    if not isinstance(stored, bytes):
        return None
    tag, _, page = stored.partition(b"\n")
    return tag, page


def _write(address: str, stored: bytes) -> None:
    if settings().redis_url is not None:
        settings().redis().set(_namespace(flask.current_app) + address, stored, ex=REDIS_SECONDS)
        return
    local = _local()
    with local.lock:
        local.pages[address] = stored


def _local() -> _LocalPages:
    pages: _LocalPages = flask.current_app.extensions[EXTENSION_KEY]
    return pages


def _namespace(server: flask.Flask) -> str:
    """Redis keys per database, so two installations sharing a Redis never mix pages."""
    return _PAGE_PREFIX + server.config["PORTAL_SETTINGS"].redis_namespace
