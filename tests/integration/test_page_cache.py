"""Public pages come from the page cache for anonymous readers, once per data version."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import flask
import pytest
from sqlalchemy import update

from app import create_app
from data_access.accounts import create_user, grant
from data_access.audit import SYSTEM
from data_access.database import Database
from data_access.models import Registry
from data_access.reference_data import ensure_registry
from portal import page_cache
from tests.conftest import make_settings, render_page
from tests.integration.test_login import PASSWORD, csrf_token

PAGE = ("/results/indicator", "?registry=stroke&indicator=thrombolysis")


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[flask.Flask]:
    app = create_app(make_settings(tmp_path, database_url, REQUIRE_TWO_FACTOR="false"))
    database: Database = app.extensions["database"]
    ensure_registry(database, "stroke", "Hjerneslag", "Stroke")
    yield app
    database.dispose()


def cached_pages(server: flask.Flask) -> dict[str, bytes]:
    return dict(server.extensions[page_cache.EXTENSION_KEY].pages)


def bump_data_version(server: flask.Flask) -> None:
    database: Database = server.extensions["database"]
    with database.transaction() as session:
        session.execute(update(Registry).values(data_version=Registry.data_version + 1))


def test_an_anonymous_page_is_kept_per_address_and_data_version(server: flask.Flask) -> None:
    client = server.test_client()
    first = render_page(client, *PAGE)
    assert len(cached_pages(server)) == 1
    assert render_page(client, *PAGE) == first
    assert len(cached_pages(server)) == 1  # the second reader was served the kept page

    render_page(client, PAGE[0], PAGE[1] + "&lang=en")
    assert len(cached_pages(server)) == 2  # another address is another page

    bump_data_version(server)
    render_page(client, *PAGE)
    assert len(cached_pages(server)) == 3  # new data: rendered again, never served stale


def test_a_cached_page_is_what_the_page_itself_renders(server: flask.Flask) -> None:
    client = server.test_client()
    rendered = render_page(client, *PAGE)
    page_cache.clear(server)
    assert cached_pages(server) == {}
    assert render_page(client, *PAGE) == rendered


def test_logged_in_readers_are_neither_served_nor_stored(server: flask.Flask) -> None:
    database: Database = server.extensions["database"]
    create_user(database, SYSTEM, "klinikar", "Klinikar", PASSWORD)
    grant(database, SYSTEM, "klinikar", "stroke", 100032, "clinician")
    anonymous = render_page(server.test_client(), *PAGE)

    client = server.test_client()
    form = {"username": "klinikar", "password": PASSWORD, "csrf_token": csrf_token(client)}
    assert client.post("/login", data=form).status_code == 302
    personal = render_page(client, *PAGE)
    assert personal != anonymous  # their name and menu are on it
    assert "Klinikar" in personal
    assert len(cached_pages(server)) == 1  # only the anonymous page


def test_pages_that_are_not_public_results_are_not_cached(server: flask.Flask) -> None:
    render_page(server.test_client(), "/my-unit", "")
    render_page(server.test_client(), "/registrations", "")
    assert cached_pages(server) == {}


def test_workers_share_pages_through_redis(tmp_path: Path) -> None:
    """Two applications on one database and one Redis (two workers): one renders, both
    serve the same page, and Redis holds it once."""
    url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    workers = [
        create_app(make_settings(tmp_path / name, url, CACHE_URL="redis://127.0.0.1:6379/12"))
        for name in ("one", "two")
    ]
    ensure_registry(workers[0].extensions["database"], "stroke", "Hjerneslag", "Stroke")
    try:
        first = render_page(workers[0].test_client(), *PAGE)
        second = render_page(workers[1].test_client(), *PAGE)
        assert second == first
        client = workers[0].config["PORTAL_SETTINGS"].redis()
        namespace = page_cache._namespace(workers[0])
        assert len(list(client.scan_iter(match=f"{namespace}*"))) == 1
        assert all(cached_pages(worker) == {} for worker in workers)  # nothing kept locally
    finally:
        page_cache.clear(workers[0])
        for worker in workers:
            worker.extensions["database"].dispose()
