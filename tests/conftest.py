"""Shared fixtures: a fresh application per test on a real SQLite file or PostgreSQL database.

Every data-layer test takes `database_url`, which runs it once on SQLite and once on
PostgreSQL. Under CI=true a PostgreSQL that cannot be reached fails the run instead of
skipping, so a broken service can never turn the suite silently green.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import flask
import hypothesis
import pytest
import redis
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from app import create_app
from data_access.access import AccessScope
from data_access.audit import SYSTEM
from data_access.database import Database
from data_access.models import Registration
from data_access.record_commands import update_registration
from entry.registry_folder import RegistryFolder
from portal.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REFERENCE = PROJECT_ROOT.parent / "shared" / "reference"
POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = ("sqlite", "postgresql")

# CI runs the same hypothesis examples every time (a red CI run then names a defect of the
# change it tests, not an example drawn that day); a developer's run draws new ones, which
# is where a new counterexample (like the suppression test's, session 5) is found.
hypothesis.settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI", "").lower() == "true":
    hypothesis.settings.load_profile("ci")


def _postgres_problem() -> str | None:
    try:
        engine = create_engine(POSTGRES_ADMIN_URL)
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as error:  # any failure to connect means the same thing here
        return f"PostgreSQL at {POSTGRES_ADMIN_URL} is not reachable: {error}"
    return None


@pytest.fixture(scope="session")
def postgres_available() -> bool:
    problem = _postgres_problem()
    if problem is None:
        return True
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(problem + " (CI=true: PostgreSQL is required)")
    return False


def reachable_redis(url: str) -> redis.Redis:
    """A client of the Redis at `url`: the test is skipped when none answers, and fails
    instead under CI=true, as for PostgreSQL."""
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.ConnectionError as error:
        client.close()
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Redis at {url} is not reachable: {error} (CI=true)")
        pytest.skip(f"Redis at {url} is not running")
    return client


@contextmanager
def fresh_database_url(backend: str, directory: Path, postgres_available: bool) -> Iterator[str]:
    """An empty database of `backend` ("sqlite" or "postgresql") for as long as the block runs.

    SQLite gets a file in `directory`; PostgreSQL a database of its own, dropped on the way
    out even with connections still open. One recipe, so that fixtures of every scope (the
    per-test `database_url`, a module's seeded world) create and drop databases the same way.
    """
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'test.sqlite3'}"
        return
    if not postgres_available:
        pytest.skip("PostgreSQL is not running (set CI=true to make this a failure)")
    name = f"test_{uuid.uuid4().hex[:16]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_available: bool
) -> Iterator[str]:
    """An empty database of each kind; PostgreSQL gets a database of its own per test."""
    with fresh_database_url(request.param, tmp_path, postgres_available) as url:
        yield url


def make_settings(tmp_path: Path, database_url: str, **overrides: str) -> Settings:
    environ = {
        "PORTAL_ENV": "test",
        "DATABASE_URL": database_url,
        "AUTO_MIGRATE": "true",
        "SEED_DEMO": "false",
        "LOG_LEVEL": "WARNING",
        # A test reads what it has just written: the reader waits for the recomputation.
        # Production's default (a wait of at most 500 ms, and none after a long computation)
        # has tests of its own in test_results_cache.py and test_workers.py.
        "RESULTS_WAIT_MS": "120000",
        "RESULTS_REST_FACTOR": "0",  # nor rests between its writes' recomputations
        **overrides,
    }
    return Settings.from_environ(environ, instance_path=tmp_path / "instance")


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """A migrated, empty database (no application around it)."""
    from data_access import migrate

    db = Database(database_url)
    migrate.upgrade(db)
    yield db
    db.dispose()


@pytest.fixture
def app(tmp_path: Path, database_url: str) -> Iterator[flask.Flask]:
    """The whole application on a migrated database with the organisation tree loaded."""
    server = create_app(make_settings(tmp_path, database_url))
    yield server
    server.extensions["database"].dispose()


@pytest.fixture(scope="module")
def sqlite_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[flask.Flask]:
    """One read-only application per module, for page tests that never write."""
    tmp_path = tmp_path_factory.mktemp("app")
    server = create_app(make_settings(tmp_path, f"sqlite:///{tmp_path / 'pages.sqlite3'}"))
    yield server
    server.extensions["database"].dispose()


@contextmanager
def seeded_demo_app(
    tmp_path: Path,
    registrations: int,
    *,
    seed: int | None = None,
    database_url: str | None = None,
    **overrides: str,
) -> Iterator[flask.Flask]:
    """The application with `registrations` demo registrations (and no demo users) seeded by
    the `seed-demo` command, as an operator would; disposed of when the block ends.

    The database is a SQLite file in `tmp_path` unless `database_url` is given; `overrides`
    are settings, as for `make_settings`. Page tests seed once per module and only read.
    """
    url = database_url or f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    server = create_app(make_settings(tmp_path, url, **overrides))
    seed_option = [] if seed is None else ["--seed", str(seed)]
    result = server.test_cli_runner().invoke(
        args=["seed-demo", "--registrations", str(registrations), *seed_option, "--without-users"]
    )
    assert result.exit_code == 0, result.output
    try:
        yield server
    finally:
        server.extensions["database"].dispose()


def complete_to_draft(database: Database, registry: RegistryFolder) -> None:
    """A registrar of its unit takes the first complete registration back to draft: it
    leaves the results, which so change for real, and the data version moves."""
    with database.reading() as session:
        registration = session.scalars(
            select(Registration).where(Registration.status == "complete").order_by(Registration.id)
        ).first()
    assert registration is not None
    roles = {registry.key: {"registrar": frozenset({registration.unit_id})}}
    update_registration(
        database,
        AccessScope(actor=SYSTEM, roles=roles),
        registration.id,
        registration.version,
        {},
        registry.dictionary,
        event_date_variable=registry.event_date_variable,
        status="draft",
        reason="Mangler opplysninger",
    )


PAGE_ROUTER = ".._pages_content.children..._pages_store.data.."


def callback_headers(client: flask.testing.FlaskClient) -> dict[str, str]:
    """What Dash's renderer sends: the `_csrf_token` cookie back as the X-CSRFToken header."""
    if client.get_cookie("_csrf_token") is None:
        client.get("/")
    cookie = client.get_cookie("_csrf_token")
    assert cookie is not None
    return {"X-CSRFToken": cookie.value}


def page_router_body(pathname: str, search: str) -> dict[str, Any]:
    """What the browser posts to Dash's page-routing callback to be given a page."""
    return {
        "output": PAGE_ROUTER,
        "outputs": [
            {"id": "_pages_content", "property": "children"},
            {"id": "_pages_store", "property": "data"},
        ],
        "inputs": [
            {"id": "_pages_location", "property": "pathname", "value": pathname},
            {"id": "_pages_location", "property": "search", "value": search},
        ],
        "changedPropIds": ["_pages_location.pathname"],
        "state": [],
    }


def render_page(client: flask.testing.FlaskClient, pathname: str, search: str) -> str:
    """Ask Dash's page-routing callback for a page, as the browser does, and return its JSON."""
    with client.post(  # closed as a server closes it: what runs after the answer runs
        "/_dash-update-component",
        json=page_router_body(pathname, search),
        headers=callback_headers(client),
    ) as response:
        assert response.status_code == 200, response.data[:500]
        return response.get_data(as_text=True)


def find_component(tree: object, component_id: str) -> dict[str, Any] | None:
    """The rendered component with `component_id`, anywhere in Dash's JSON (depth first)."""
    if isinstance(tree, dict):
        props = tree.get("props")
        if isinstance(props, dict) and props.get("id") == component_id:
            return tree
        for value in tree.values():
            found = find_component(value, component_id)
            if found is not None:
                return found
    if isinstance(tree, list):
        for item in tree:
            found = find_component(item, component_id)
            if found is not None:
                return found
    return None
