"""Public pages rendered once per results version and address, then served from a cache.

A public page shown to an anonymous reader depends only on its address (path and query,
language included), on the registries' results and on today's date (the current year is
marked preliminary). So the page router's answer for such a request is kept under a key
of exactly those, and the next reader of the same view gets it without building a single
figure: building plotly figures costs far more than the numbers behind them. Logged-in
readers are never served from or stored in the cache, because their pages carry their
name, menu and own-unit numbers. With `CACHE_URL` set to Redis the answers are shared by
every worker; otherwise each worker keeps its own bounded copy.

Pages are keyed by the version of the results readers are served now
(`results_cache.served_results_versions`), not by the data version: after a change of data
readers see the previous results until the new ones are stored, and the pages with them,
which the key then leaves behind; until every registry has results, nothing is cached. The
unit tree and coverage counts change only by deployment commands, after which a restart (or
the next data change) renews the pages.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from datetime import date
from typing import Final

import flask

from portal.auth.guard import DASH_UPDATE_ENDPOINT
from portal.auth.identity import current_user, database, settings
from portal.catalogue import installed_registries
from portal.results_cache import served_results_versions

PAGE_ROUTER: Final = ".._pages_content.children..._pages_store.data.."
CACHED_PATHS: Final = frozenset(
    {"/", "/results", "/results/indicator", "/results/unit", "/methods", "/codebook"}
)
"""Public pages whose content depends on nothing but the address and the data."""
LOCAL_ENTRIES: Final = 512
REDIS_SECONDS: Final = 3600
_KEY_ATTRIBUTE: Final = "portal_page_cache_key"

EXTENSION_KEY: Final = "page_cache"


class _LocalPages:
    """One worker's bounded copy (least recently used out first), per application."""

    def __init__(self) -> None:
        self.pages: OrderedDict[str, bytes] = OrderedDict()
        self.lock = threading.Lock()


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
    url = server.config["PORTAL_SETTINGS"].redis_url
    if url is not None:
        client = server.config["PORTAL_SETTINGS"].redis()
        stale = list(client.scan_iter(match=f"{_namespace(server)}*"))
        if stale:
            client.delete(*stale)


def page_key(body: object, versions: dict[str, int], today: date) -> str | None:
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
    described = json.dumps([pathname, search, sorted(versions.items()), today.isoformat()])
    return hashlib.sha256(described.encode()).hexdigest()


def _serve_cached() -> flask.Response | None:
    request = flask.request
    if request.endpoint != DASH_UPDATE_ENDPOINT or request.method != "POST":
        return None
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or body.get("output") != PAGE_ROUTER:
        return None  # the cheap test first: most callback requests are not the page router
    if current_user() is not None:
        return None
    registries = installed_registries()
    versions = served_results_versions(settings(), database(), registries)
    if len(versions) < len(registries):
        return None
    key = page_key(body, versions, date.today())
    if key is None:
        return None
    cached = _read(key)
    if cached is not None:
        return flask.Response(cached, mimetype="application/json")
    flask.g.setdefault(_KEY_ATTRIBUTE, key)
    return None


def _store(response: flask.Response) -> flask.Response:
    key = flask.g.pop(_KEY_ATTRIBUTE, None)
    if key is not None and response.status_code == 200 and not response.direct_passthrough:
        _write(key, response.get_data())
    return response


def _read(key: str) -> bytes | None:
    if settings().redis_url is not None:
        stored = settings().redis().get(_namespace(flask.current_app) + key)
        return stored if isinstance(stored, bytes) else None
    local = _local()
    with local.lock:
        if key in local.pages:
            local.pages.move_to_end(key)
            return local.pages[key]
    return None


def _write(key: str, body: bytes) -> None:
    if settings().redis_url is not None:
        settings().redis().set(_namespace(flask.current_app) + key, body, ex=REDIS_SECONDS)
        return
    local = _local()
    with local.lock:
        local.pages[key] = body
        local.pages.move_to_end(key)
        while len(local.pages) > LOCAL_ENTRIES:
            local.pages.popitem(last=False)


def _local() -> _LocalPages:
    pages: _LocalPages = flask.current_app.extensions[EXTENSION_KEY]
    return pages


def _namespace(server: flask.Flask) -> str:
    """Redis keys per database, so two installations sharing a Redis never mix pages."""
    return "page:" + server.config["PORTAL_SETTINGS"].redis_namespace
