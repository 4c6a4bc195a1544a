"""Public pages come from the page cache for anonymous readers, rendered once per results
version; a page of older results is served while it is rendered anew."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import flask
import pytest
from flask.testing import FlaskClient
from sqlalchemy import update
from werkzeug.test import TestResponse

from app import create_app
from data_access.accounts import create_user, grant
from data_access.audit import SYSTEM
from data_access.database import Database
from data_access.models import Registry
from data_access.reference_data import ensure_registry
from portal import page_cache
from portal.catalogue import find_registry, installed_registries
from portal.public_data import public_frame
from portal.results_cache import served_results_versions
from tests.conftest import (
    callback_headers,
    complete_to_draft,
    make_settings,
    page_router_body,
    render_page,
    seeded_demo_app,
)
from tests.integration.test_login import PASSWORD, csrf_token
from tests.integration.test_snapshot import STROKE

PAGE = ("/results/indicator", "?registry=stroke&indicator=thrombolysis")
OVERVIEW = ("/results", "?registry=stroke&level=hospital")


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[flask.Flask]:
    app = create_app(make_settings(tmp_path, database_url, REQUIRE_TWO_FACTOR="false"))
    database: Database = app.extensions["database"]
    ensure_registry(database, "stroke", "Hjerneslag", "Stroke")
    yield app
    database.dispose()


def cached_pages(server: flask.Flask) -> dict[str, bytes]:
    return dict(server.extensions[page_cache.EXTENSION_KEY].pages)


def kept_tag(server: flask.Flask, pathname: str, search: str) -> bytes:
    """The results versions the address's kept page was rendered from."""
    address = page_cache.page_address(page_router_body(pathname, search), date.today())
    assert address is not None
    return cached_pages(server)[address].partition(b"\n")[0]


def new_results(server: flask.Flask) -> None:
    """Move every registry's data version on, and wait for its results, as a reader of
    results does (a reader who has a page kept for him does not wait)."""
    database: Database = server.extensions["database"]
    with database.transaction() as session:
        session.execute(update(Registry).values(data_version=Registry.data_version + 1))
    with server.test_request_context("/"):
        settings = server.config["PORTAL_SETTINGS"]
        served_results_versions(settings, database, installed_registries())


def page_request(client: FlaskClient, pathname: str, search: str) -> TestResponse:
    """The page router's answer, left open: what runs after it has been sent has not run."""
    return client.post(
        "/_dash-update-component",
        json=page_router_body(pathname, search),
        headers=callback_headers(client),
    )


def test_an_anonymous_page_is_kept_per_address_and_results_version(server: flask.Flask) -> None:
    client = server.test_client()
    first = render_page(client, *PAGE)
    assert len(cached_pages(server)) == 1
    assert render_page(client, *PAGE) == first
    assert len(cached_pages(server)) == 1  # the second reader was served the kept page
    rendered_from = kept_tag(server, *PAGE)

    english = (PAGE[0], PAGE[1] + "&lang=en")
    render_page(client, *english)
    assert len(cached_pages(server)) == 2  # another address is another page

    new_results(server)
    with page_request(client, *PAGE) as stale:
        assert stale.get_data(as_text=True) == first  # served at once, from the old results
        assert kept_tag(server, *PAGE) == rendered_from  # not rendered anew before it was sent
    assert len(cached_pages(server)) == 2  # one page per address, whatever its versions
    assert kept_tag(server, *PAGE) != rendered_from  # then rendered anew, and kept
    assert kept_tag(server, *english) == rendered_from  # the other address awaits a reader
    render_page(client, *english)
    assert kept_tag(server, *english) != rendered_from


def test_a_page_of_new_results_replaces_the_old_one_from_its_second_reader(
    tmp_path: Path, database_url: str
) -> None:
    """A real change of the numbers: a reader who has a page kept for him is given it at
    once; the first reader after the new results are stored is given the page of the old
    ones, the second the page of the new ones, which is what the page renders when nothing
    is kept."""
    with seeded_demo_app(tmp_path, 300, database_url=database_url) as server:
        client = server.test_client()
        old = render_page(client, *OVERVIEW)
        complete_to_draft(server.extensions["database"], STROKE)
        assert render_page(client, *OVERVIEW) == old  # nor does its reader wait for them
        with server.test_request_context("/"):
            registry = find_registry("stroke")
            assert registry is not None
            public_frame(registry)  # a reader of results waits for them (as tests do)
        assert render_page(client, *OVERVIEW) == old
        new = render_page(client, *OVERVIEW)
        assert new != old
        page_cache.clear(server)
        assert render_page(client, *OVERVIEW) == new


def test_a_stale_page_is_rendered_anew_once_however_many_read_it(server: flask.Flask) -> None:
    client = server.test_client()
    render_page(client, *PAGE)
    old_tag = kept_tag(server, *PAGE)
    new_results(server)
    first, second = page_request(client, *PAGE), page_request(client, *PAGE)
    second.close()  # it found the replay taken by the first
    assert kept_tag(server, *PAGE) == old_tag
    first.close()
    assert kept_tag(server, *PAGE) != old_tag


def test_a_replay_is_marked_in_the_environ_which_no_request_can_set(server: flask.Flask) -> None:
    """The mark that makes the cache render instead of serve is an environ key: a header of
    the same name arrives as HTTP_..., so a reader cannot make every page render anew."""
    client = server.test_client()
    render_page(client, *PAGE)
    address = page_cache.page_address(page_router_body(*PAGE), date.today())
    assert address is not None
    kept = cached_pages(server)[address]
    doctored = kept.partition(b"\n")[0] + b'\n{"doctored": true}'  # current, but not rendered
    server.extensions[page_cache.EXTENSION_KEY].pages[address] = doctored
    headers = {**callback_headers(client), page_cache.REPLAY_MARK: "1"}
    with client.post(
        "/_dash-update-component", json=page_router_body(*PAGE), headers=headers
    ) as answer:
        assert answer.status_code == 200
        assert answer.get_data() == b'{"doctored": true}'  # served as kept, not rendered
    assert cached_pages(server)[address] == doctored


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
