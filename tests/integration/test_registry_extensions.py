"""Registry extensions (portal/extensions.py, docs/extensions.md): served under the portal's
access rules, and a broken one stops start-up naming the registry and the file.

The registries are the fixture folders `tests/fixtures/registries/alpha` (with an extension:
a public page, a page and a callback for registrars, a figure) and `beta` (none).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dash
import flask
import polars as pl
import pytest
from dash import _callback
from sqlalchemy import func, select

from app import create_app
from data_access.accounts import create_user, grant
from data_access.audit import SYSTEM
from data_access.database import Database
from data_access.models import AuditEvent
from portal.auth import guard
from portal.extensions import RegistryExtensionError, figure_function
from tests.conftest import (
    BACKENDS,
    callback_headers,
    fresh_database_url,
    make_settings,
    render_page,
)
from tests.integration.test_login import PASSWORD, log_in

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "registries"
PUBLIC_MARKER = "alpha-public-content"
REGISTRAR_MARKER = "alpha-registrar-only-content"
NATION = 1
USERS = {"alpha-registrar": "alpha", "beta-registrar": "beta"}


@dataclass(frozen=True)
class World:
    app: flask.Flask
    database: Database


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_available: bool,
) -> Iterator[World]:
    """Both fixture registries on one installation, with a registrar of each."""
    tmp_path = tmp_path_factory.mktemp("extensions")
    with fresh_database_url(request.param, tmp_path, postgres_available) as url:
        settings = make_settings(
            tmp_path, url, REGISTRIES_PATH=str(FIXTURES), REQUIRE_TWO_FACTOR="false"
        )
        server = create_app(settings)
        database: Database = server.extensions["database"]
        for username, registry in USERS.items():
            create_user(database, SYSTEM, username, username.title(), PASSWORD)
            grant(database, SYSTEM, username, registry, NATION, "registrar")
        yield World(server, database)
        database.dispose()


def _client(world: World, username: str | None) -> flask.testing.FlaskClient:
    client = world.app.test_client()
    if username is not None:
        assert log_in(client, username).status_code == 302
    return client


def test_a_public_extension_page_is_served_to_anyone(world: World) -> None:
    page = render_page(_client(world, None), "/registries/alpha/overview", "?lang=en")
    assert PUBLIC_MARKER in page
    assert '"Overview"' in json.dumps(json.loads(page)["response"]["_pages_store"])


@pytest.mark.parametrize(
    ("username", "shown", "refusal"),
    [
        (None, False, "login-prompt"),
        ("beta-registrar", False, "extension-not-allowed"),
        ("alpha-registrar", True, None),
    ],
)
def test_a_registrar_page_needs_a_registrar_of_its_registry(
    world: World, username: str | None, shown: bool, refusal: str | None
) -> None:
    page = render_page(_client(world, username), "/registries/alpha/workbench", "")
    assert (REGISTRAR_MARKER in page) is shown
    if refusal is not None:
        assert f'"id":"{refusal}"' in page.replace(" ", "")


def _echo_request(value: str) -> dict[str, object]:
    return {
        "output": "alpha-echo.children",
        "outputs": {"id": "alpha-echo", "property": "children"},
        "inputs": [{"id": "alpha-input", "property": "value", "value": value}],
        "changedPropIds": ["alpha-input.value"],
        "state": [],
    }


@pytest.mark.parametrize(
    ("username", "status"), [(None, 401), ("beta-registrar", 403), ("alpha-registrar", 200)]
)
def test_a_forged_extension_callback_follows_the_registry_grants(
    world: World, username: str | None, status: int
) -> None:
    client = _client(world, username)
    response = client.post(
        "/_dash-update-component", json=_echo_request("x"), headers=callback_headers(client)
    )
    assert response.status_code == status
    assert (REGISTRAR_MARKER in response.get_data(as_text=True)) is (status == 200)


def test_a_refused_callback_of_a_known_user_is_audited(world: World) -> None:
    client = _client(world, "beta-registrar")
    with world.database.reading() as session:  # the module's other tests refuse this user too
        before = session.scalar(select(func.max(AuditEvent.id))) or 0
    client.post(
        "/_dash-update-component", json=_echo_request("y"), headers=callback_headers(client)
    )
    with world.database.reading() as session:
        details = session.scalars(
            select(AuditEvent.details).where(
                AuditEvent.id > before,
                AuditEvent.action == "access.denied",
                AuditEvent.username == "beta-registrar",
            )
        ).all()
    assert {"path": "/_dash-update-component", "requirement": "alpha: registrar"} in details


def test_an_unknown_extension_page_is_not_found(world: World) -> None:
    page = render_page(_client(world, "alpha-registrar"), "/registries/beta/overview", "?lang=en")
    assert "Page not found" in page and PUBLIC_MARKER not in page


def test_figure_functions_are_found_by_registry_and_name(world: World) -> None:
    with world.app.app_context():
        figure = figure_function("alpha", "bars")([1.0, 2.0])
        with pytest.raises(KeyError, match="registry beta has no figure 'bars'"):
            figure_function("beta", "bars")
    assert list(figure.data[0].y) == [1.0, 2.0]


HOME = "portal.pages.home"
GOOD = (FIXTURES / "alpha" / "extension.py").read_text(encoding="utf-8")
PAGE = 'registry.page("overview", overview, title={"nb": "O", "en": "O"}, access="public")'
BROKEN = {
    "syntax error": ("def register(registry) -> None\n", "cannot be imported: SyntaxError"),
    "import error": ("import no_such_module_here\n", "cannot be imported: ModuleNotFoundError"),
    "no register": ("X = 1\n", "defines no register(registry) function"),
    "wrong signature": ("def register():\n    pass\n", "register must take one argument"),
    "exception in register": (
        "def register(registry):\n    raise RuntimeError('boom')\n",
        "register() failed: RuntimeError: boom",
    ),
    "duplicate path": (
        GOOD.replace('access="public")', 'access="public")\n    ' + PAGE),
        "page /registries/alpha/overview: the path is registered twice",
    ),
    "missing access": (
        GOOD.replace(', access="public")', ")"),
        "page /registries/alpha/overview: no access decision",
    ),
    "unguarded callback": (
        GOOD.replace(
            "    registry.figure(",
            '    dash.callback(Output("alpha-x", "children"), '
            'Input("alpha-input", "value"))(echo)\n    registry.figure(',
        ).replace("import plotly", "import dash\nimport plotly"),
        "registered a page or callback with Dash directly",
    ),
    "page of the portal replaced": (
        GOOD.replace(
            "    registry.figure(",
            '    dash.register_page(HOME, path="/", layout=html.Div())\n    registry.figure(',
        ).replace("from dash import", f"import dash\n\nHOME = {HOME!r}\nfrom dash import"),
        "registered a page or callback with Dash directly",
    ),
    "output of another component": (
        GOOD.replace('Output("alpha-echo"', 'Output("main-echo"').replace(
            "    registry.figure(",
            "    " + PAGE.replace('"overview"', '"half"') + "\n    registry.figure(",
        ),
        "output ids must begin with 'alpha-'",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_extension_fails_start_up_naming_registry_and_file(
    tmp_path: Path, case: str
) -> None:
    source, reason = BROKEN[case]
    registries = tmp_path / "registries"
    shutil.copytree(FIXTURES, registries)
    (registries / "alpha" / "extension.py").write_text(source, encoding="utf-8")
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}")
    with pytest.raises(RegistryExtensionError) as raised:
        create_app(settings.with_changes(registries_path=registries))
    message = str(raised.value)
    assert message.startswith(f"registry alpha: {registries / 'alpha' / 'extension.py'}: ")
    assert reason in message
    # Nothing of the broken extension stays behind, even what was handed to Dash before the
    # fault was found (the "output of another component" case).
    assert "/registries/alpha/half" not in {p["path"] for p in dash.page_registry.values()}
    assert "main-echo.children" not in guard.CALLBACK_ACCESS
    assert "main-echo.children" not in _callback.GLOBAL_CALLBACK_MAP
    assert callable(dash.page_registry[HOME]["layout"])  # the portal's, not the replacement


def test_the_hip_fracture_page_shows_no_suppressed_number(tmp_path: Path) -> None:
    """The shipped extension (registries/hipfracture/extension.py) on seeded demo data: a
    hospital the engine suppresses has no bar, every other hospital its public share."""
    from portal.public_data import units
    from portal.results_cache import cached_results
    from tests.conftest import find_component

    server = create_app(make_settings(tmp_path, f"sqlite:///{tmp_path / 'hip.sqlite3'}"))
    try:
        seeded = server.test_cli_runner().invoke(
            args=[
                "seed-demo",
                "--registrations",
                "2000",
                "--registry",
                "hipfracture",
                "--without-users",
            ]
        )
        assert seeded.exit_code == 0, seeded.output
        page = json.loads(
            render_page(server.test_client(), "/registries/hipfracture/tid-til-operasjon", "")
        )
        with server.test_request_context():
            registry = next(r for r in server.extensions["registries"] if r.key == "hipfracture")
            results = cached_results(
                server.config["PORTAL_SETTINGS"], server.extensions["database"], registry
            ).join(units().select("unit_id", "name"), on="unit_id")
    finally:
        server.extensions["database"].dispose()
    graph = find_component(page, "hipfracture-time-to-surgery")
    assert graph is not None
    bars = graph["props"]["figure"]["data"][0]
    names = graph["props"]["figure"]["layout"]["yaxis"]["ticktext"]
    shown = dict(zip((n.split(" <span")[0].rstrip(" *") for n in names), bars["x"], strict=True))
    caption = find_component(page, "hipfracture-time-to-surgery-caption")
    assert caption is not None
    year = int(caption["props"]["children"].rsplit(", ", 1)[1])  # the page's year
    engine = results.filter(
        (pl.col("indicator") == "surgery_48h")
        & (pl.col("level") == "hospital")
        & (pl.col("period") == year)
    )
    suppressed = engine.filter(pl.col("suppressed"))
    assert suppressed.height and engine.height > suppressed.height
    assert all(shown[name] is None for name in suppressed["name"])
    for row in engine.filter(~pl.col("suppressed")).iter_rows(named=True):
        assert shown[row["name"]] == pytest.approx(row["estimate"])
