"""`/healthz`: 200 when database, cache and schema are all fine; 503 naming the failed check."""

from __future__ import annotations

import os
from pathlib import Path

import flask
from sqlalchemy import text

from app import create_app
from data_access.database import Database
from tests.conftest import make_settings, reachable_redis

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
CLOSED_PORT_REDIS = "redis://127.0.0.1:1/0"
"""Nothing listens on port 1: the connection is refused at once."""
UNREACHABLE_DATABASE = "postgresql+psycopg://portal@127.0.0.1:1/registry"


def probe(server: flask.Flask) -> tuple[int, dict[str, object], str]:
    response = server.test_client().get("/healthz")
    return response.status_code, response.get_json(), response.get_data(as_text=True)


def checks(database: str, cache: str, migrations: str) -> dict[str, object]:
    healthy = {database, cache, migrations} <= {"ok", "not_configured"}
    return {
        "status": "ok" if healthy else "failing",
        "checks": {"database": database, "cache": cache, "migrations": migrations},
    }


def test_healthy_then_failing_when_the_schema_is_behind_the_code(app: flask.Flask) -> None:
    """On both databases; a monitor polling often is never refused nor served a stale answer."""
    responses = [app.test_client().get("/healthz") for _probe in range(30)]
    assert {response.status_code for response in responses} == {200}
    assert responses[-1].get_json() == checks("ok", "not_configured", "ok")
    assert responses[-1].headers["Cache-Control"] == "no-store"
    assert "X-RateLimit-Limit" not in responses[-1].headers

    database: Database = app.extensions["database"]
    with database.transaction() as session:
        session.execute(text("DELETE FROM alembic_version"))  # as if never migrated
    assert probe(app)[:2] == (503, checks("ok", "not_configured", "outdated"))


def test_a_failing_cache_or_database_is_named_and_nothing_more(tmp_path: Path) -> None:
    reachable_redis(REDIS_URL).close()
    url = f"sqlite:///{tmp_path / 'health.sqlite3'}"
    server = create_app(make_settings(tmp_path, url, CACHE_URL=REDIS_URL))
    settings = server.config["PORTAL_SETTINGS"]
    assert probe(server)[:2] == (200, checks("ok", "ok", "ok"))

    # Redis goes away: its address is not told to the public.
    server.config["PORTAL_SETTINGS"] = settings.with_changes(cache_url=CLOSED_PORT_REDIS)
    status, body, raw = probe(server)
    assert (status, body) == (503, checks("ok", "failed", "ok"))
    assert "127.0.0.1" not in raw

    # The database server goes away: neither it nor the schema can be checked.
    server.config["PORTAL_SETTINGS"] = settings
    server.extensions["database"].dispose()
    server.extensions["database"] = Database(UNREACHABLE_DATABASE)
    status, body, raw = probe(server)
    assert (status, body) == (503, checks("failed", "ok", "failed"))
    assert "portal" not in raw and "127.0.0.1" not in raw
