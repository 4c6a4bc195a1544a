"""`/healthz`: can this worker serve? For load balancers, orchestrators and monitoring.

Three checks, each answered `ok` or `failed`: the database answers `SELECT 1`; the cache
(Redis, when `CACHE_URL` names it) answers a ping; the database schema is the revision this
code expects (`outdated` when a migration is missing or the code is older than the schema).
200 when every check is ok, 503 otherwise. The answer names no host, user or error text, so
it can be public; the reason of a failure goes to the log. It is never cached, and no rate
limit applies to it, so a monitor polling every few seconds sees every change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final, Literal

import flask

from data_access import migrate
from portal.auth.guard import route_access
from portal.auth.identity import database, settings

Outcome = Literal["ok", "failed", "outdated", "not_configured"]
HEAD_KEY: Final = "schema_head"
log = logging.getLogger(__name__)
blueprint = flask.Blueprint("health", __name__)


def init_app(server: flask.Flask) -> None:
    # The code's newest revision is fixed for the life of the process: read the migration
    # scripts once, not on every probe.
    server.extensions[HEAD_KEY] = migrate.head_revision()
    server.register_blueprint(blueprint)


@blueprint.get("/healthz")
@route_access("public")
def healthz() -> flask.Response:
    checks = {
        "database": _outcome("database", _database),
        "cache": _outcome("cache", _cache),
        "migrations": _outcome("migrations", _migrations),
    }
    healthy = all(outcome in ("ok", "not_configured") for outcome in checks.values())
    response = flask.jsonify(status="ok" if healthy else "failing", checks=checks)
    response.status_code = 200 if healthy else 503
    response.headers["Cache-Control"] = "no-store"
    return response


def _database() -> Outcome:
    database().ping()
    return "ok"


def _cache() -> Outcome:
    if settings().redis_url is None:
        return "not_configured"  # each worker keeps its own in-process cache
    settings().redis().ping()
    return "ok"


def _migrations() -> Outcome:
    current = migrate.current_revision(database())
    return "ok" if current == flask.current_app.extensions[HEAD_KEY] else "outdated"


def _outcome(name: str, check: Callable[[], Outcome]) -> Outcome:
    try:
        outcome = check()
    except Exception as error:  # any failure to answer is the finding itself
        log.warning("Health check %s failed: %s: %s", name, type(error).__name__, error)
        return "failed"
    if outcome == "outdated":
        log.warning("Health check %s: the database schema is not the code's revision", name)
    return outcome
