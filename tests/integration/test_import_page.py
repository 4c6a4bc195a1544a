"""The import page over real HTTP on both databases: upload, preview, import, and refusals.

Callbacks are posted as Dash's renderer posts them (`dash_call`, from the app's own
callback map), so each call also passes the deny-by-default guard and the callback's own
scope check. The file is the command-line tests' file (tests/integration/test_import.py):
two good rows and three bad ones, and what the page claims is read back from the database.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import flask
import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from app import create_app
from data_access.accounts import create_user, grant
from data_access.audit import SYSTEM, verify_chain
from data_access.database import Database
from data_access.models import Registration
from entry.registry_folder import read_registry_folder
from portal import ready_to_serve
from portal.components import import_layout as ids
from tests.conftest import PROJECT_ROOT, find_component, make_settings, render_page
from tests.integration.test_admin_pages import (
    PASSWORD,
    dash_call,
    events,
    log_in,
    response_of,
    text_of,
)
from tests.integration.test_import import BAD, EXPECTED_PROBLEMS, GOOD, HAMMERFEST, IDS, KIRKENES
from tests.integration.test_import import _counts as counts
from tests.integration.test_import import _csv as csv_text

FINNMARK = 983974880  # the trust over both units
DICTIONARY = read_registry_folder(PROJECT_ROOT / "registries" / "stroke").dictionary
MAPPED = {
    "Innlagt": "admission_date",
    "Alder": "age",
    "Kjonn": "sex",
    "Utskrevet": "discharge_date",
}
COLUMNS = '{"name":["ALL"],"type":"import-column"}.value'
FIELDS = {
    "import-unit.value": HAMMERFEST,
    "import-source.value": "dips-nord",
    "import-national-id-column.value": "Fnr",
    "import-source-key-column.value": "Episode",
    "import-unit-column.value": "",
    COLUMNS: [{"id": {"name": c, "type": "import-column"}, "value": v} for c, v in MAPPED.items()],
}
USERS = (
    ("registrar", "registrar", HAMMERFEST),
    ("kirkenes", "registrar", KIRKENES),
    ("doctor", "clinician", HAMMERFEST),
    ("chief", "admin", FINNMARK),
)


def _world(server: flask.Flask) -> flask.Flask:
    database: Database = server.extensions["database"]
    for username, role, unit in USERS:
        create_user(database, SYSTEM, username, username.title(), PASSWORD)
        grant(database, SYSTEM, username, "stroke", unit, role)
    ready_to_serve(server)
    return server


@pytest.fixture
def portal(tmp_path: Path, database_url: str) -> Iterator[flask.Flask]:
    server = _world(create_app(make_settings(tmp_path, database_url, REQUIRE_TWO_FACTOR="false")))
    yield server
    server.extensions["database"].dispose()


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[flask.Flask]:
    """One SQLite application for the tests that only render pages."""
    tmp_path = tmp_path_factory.mktemp("import-pages")
    url = f"sqlite:///{tmp_path / 'pages.sqlite3'}"
    server = _world(create_app(make_settings(tmp_path, url, REQUIRE_TWO_FACTOR="false")))
    yield server
    server.extensions["database"].dispose()


def db(server: flask.Flask) -> Database:
    database: Database = server.extensions["database"]
    return database


def context(language: str = "en") -> dict[str, str]:
    return {"registry": "stroke", "language": language}


# ---- the page's callbacks, posted as the browser posts them ----------------------------------


def upload(client: FlaskClient, server: flask.Flask, rows: list[dict[str, str]]) -> dict[str, Any]:
    """Send a CSV file as dcc.Upload does (a data URL); the page's answer."""
    data = base64.b64encode(csv_text(rows).encode("utf-8")).decode("ascii")
    values = {
        "import-upload.contents": f"data:text/csv;base64,{data}",
        "import-upload.filename": "episodes.csv",
        "import-context.data": context(),
    }
    call = dash_call(client, server, "import-uploaded.data", values, "import-upload.contents")
    return response_of(call)


def preview(
    client: FlaskClient,
    server: flask.Flask,
    uploaded: object,
    language: str = "en",
) -> dict[str, Any]:
    values = {
        **FIELDS,
        "import-preview.n_clicks": 1,
        "import-context.data": context(language),
        "import-uploaded.data": uploaded,
        "import-record-status.value": "draft",
    }
    call = dash_call(
        client, server, "import-preview-area.children", values, "import-preview.n_clicks"
    )
    return response_of(call)


def confirm(
    client: FlaskClient, server: flask.Flask, previewed: object, mode: str
) -> dict[str, Any]:
    values = {
        "import-confirm.n_clicks": 1,
        "import-context.data": context(),
        "import-previewed.data": previewed,
        "import-mode.value": mode,
    }
    call = dash_call(client, server, "import-result.children", values, "import-confirm.n_clicks")
    return response_of(call)


def previewed_upload(
    client: FlaskClient, server: flask.Flask, rows: list[dict[str, str]]
) -> dict[str, Any]:
    """Upload `rows` and preview them; the preview's store, as the confirm button sends it."""
    uploaded = upload(client, server, rows)["import-uploaded"]["data"]
    store: dict[str, Any] = preview(client, server, uploaded)["import-previewed"]["data"]
    return store


def problem_rows(payload: Mapping[str, Any]) -> set[tuple[int, str, str]]:
    """(row, file column, field) of each line of the preview's table of problems."""
    table = find_component(payload["import-preview-area"]["children"], "import-problems")
    assert table is not None
    body = next(p for p in table["props"]["children"] if p["type"] == "Tbody")
    found = set()
    for line in body["props"]["children"]:
        cells = [text_of(cell) for cell in line["props"]["children"]]
        found.add((int(cells[0]), cells[1], cells[2]))
    return found


def without_audit(found: dict[str, int]) -> dict[str, int]:
    """Records, patients, import keys and the data version (refusals are audited)."""
    return {name: number for name, number in found.items() if name != "audit"}


def uploads(server: flask.Flask) -> list[Path]:
    folder = server.config["PORTAL_SETTINGS"].instance_path / "import_uploads"
    return sorted(folder.glob("*/*")) if folder.exists() else []


def registrations(database: Database) -> list[Registration]:
    with database.reading() as session:
        return list(session.scalars(select(Registration).order_by(Registration.id)))


# ---- who gets the page -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "shown", "menu"),
    [
        (None, "login-prompt", False),
        ("doctor", "import-not-allowed", False),  # a clinician reads but does not register
        ("chief", "import-not-allowed", False),  # an admin without the registrar role
        ("registrar", ids.UPLOAD, True),
    ],
)
def test_only_registrars_get_the_page(
    pages: flask.Flask, username: str | None, shown: str, menu: bool
) -> None:
    page = render_page(log_in(pages, username), "/import", "?registry=stroke")
    assert f'"id":"{shown}"' in page
    assert (f'"id":"{ids.UPLOAD}"' in page) == (shown == ids.UPLOAD)
    assert ('"href":"\\u002fimport"' in page) == menu  # the menu's entry


def test_the_upload_is_a_labelled_button(pages: flask.Flask) -> None:
    tree = json.loads(render_page(log_in(pages, "registrar"), "/import", ""))
    upload_box = find_component(tree, ids.UPLOAD)
    assert upload_box is not None
    chooser = upload_box["props"]["children"]
    assert chooser["type"] == "Button" and chooser["props"]["type"] == "button"
    assert chooser["props"]["children"] == "Velg fil …"
    assert chooser["props"]["aria-describedby"] == ids.UPLOAD_HINT
    assert find_component(tree, ids.UPLOAD_HINT) is not None


# ---- preview and import ----------------------------------------------------------------------


def test_the_preview_lists_every_bad_row_and_writes_nothing(portal: flask.Flask) -> None:
    database, client = db(portal), log_in(portal, "registrar")
    before = counts(database)
    uploaded = upload(client, portal, GOOD + BAD)
    stored = uploaded["import-uploaded"]["data"]
    assert stored["columns"] == list(GOOD[0])
    assert "Uploaded episodes.csv: 5 rows, 7 columns." in text_of(uploaded["import-upload-status"])
    assert uploaded["import-upload"]["contents"] is None  # the browser keeps no copy
    [kept] = uploads(portal)
    assert IDS[0].encode() not in kept.read_bytes() and b"Episode" not in kept.read_bytes()

    payload = preview(client, portal, stored)
    columns = {variable: column for column, variable in MAPPED.items()} | {
        "national_id": "Fnr",
        "source_key": "Episode",
    }
    names = {"national_id": "National identity number", "source_key": "Source key"}
    assert problem_rows(payload) == {
        (row, columns[field], names.get(field) or DICTIONARY.variable(field).label.en)
        for row, field, _rule in EXPECTED_PROBLEMS
    }
    text = text_of(payload["import-preview-area"]["children"])
    assert "The value cannot be read as a whole number." in text
    assert "create 2 and update up to 0" in text
    assert "Rows: 5. Valid: 2. With problems: 3." in text_of(payload["import-mapping-status"])
    assert payload["import-confirm-area"]["hidden"] is False
    assert counts(database) == before

    norwegian = preview(client, portal, stored, language="nb")
    assert "Verdien kan ikke leses som et heltall." in text_of(norwegian["import-preview-area"])


def test_valid_only_imports_exactly_the_good_rows_and_reimport_updates(
    portal: flask.Flask,
) -> None:
    database, client = db(portal), log_in(portal, "registrar")
    before = counts(database)
    result = confirm(client, portal, previewed_upload(client, portal, GOOD + BAD), "valid_only")
    assert "Created: 2. Updated: 0. Unchanged: 0. Skipped (problems): 3." in text_of(
        result["import-result"]
    )
    assert result["import-uploaded"]["data"] is None
    assert uploads(portal) == []  # imported, so deleted
    assert counts(database)["registrations"] == before["registrations"] + 2
    stored = {r.values["age"]: r for r in registrations(database)}
    assert set(stored) == {74, 61} and {r.unit_id for r in stored.values()} == {HAMMERFEST}
    [run] = events(database, "import.run")
    assert (run.username, run.details["bad_rows"], run.details["mode"]) == (
        "registrar",
        [4, 5, 6],
        "valid_only",
    )
    creates = events(database, "registration.create")
    assert {e.details["import"]["source_key"] for e in creates} == {"E1", "E2"}

    changed = [{**GOOD[0], "Alder": "75"}, GOOD[1]]
    again = confirm(client, portal, previewed_upload(client, portal, changed), "valid_only")
    assert "Created: 0. Updated: 1. Unchanged: 1." in text_of(again["import-result"])
    assert sorted(r.values["age"] for r in registrations(database)) == [61, 75]
    [update] = events(database, "registration.update")
    assert update.details["changes"] == {"age": {"old": 74, "new": 75}}
    assert verify_chain(database).ok


def test_all_or_nothing_with_a_bad_row_writes_nothing(portal: flask.Flask) -> None:
    database, client = db(portal), log_in(portal, "registrar")
    before = counts(database)
    previewed = previewed_upload(client, portal, GOOD + BAD)
    refused = confirm(client, portal, previewed, "all_or_nothing")
    assert "Nothing was imported: 3 rows have problems." in text_of(refused["import-result"])
    assert "import-uploaded" not in refused  # the file stays for another choice
    assert counts(database) == before
    # The same preview, now only the valid rows: the kept file is still there.
    done = confirm(client, portal, previewed, "valid_only")
    assert "Created: 2." in text_of(done["import-result"])


# ---- forged requests -------------------------------------------------------------------------


def test_forged_callbacks_without_the_registrar_grant_get_nothing(portal: flask.Flask) -> None:
    database = db(portal)
    registrar = log_in(portal, "registrar")
    uploaded = upload(registrar, portal, GOOD)["import-uploaded"]["data"]
    previewed = preview(registrar, portal, uploaded)["import-previewed"]["data"]
    before, denied = counts(database), len(events(database, "access.denied"))

    doctor = log_in(portal, "doctor")  # a clinician of the same unit, with the stores forged
    for payload, region in (
        (upload(doctor, portal, GOOD), "import-upload-status"),
        (preview(doctor, portal, uploaded), "import-mapping-status"),
        (confirm(doctor, portal, previewed, "valid_only"), "import-result"),
    ):
        assert text_of(payload[region]) == "You may not import into this registry."
        assert "import-previewed" not in payload or payload["import-previewed"]["data"] is None
        assert "Rows:" not in json.dumps(payload)
    refusals = events(database, "access.denied")[denied:]
    assert [(e.username, e.details["page"]) for e in refusals] == [("doctor", "import")] * 3

    # Another unit's registrar with the first one's token: the file is not theirs to open.
    kirkenes = log_in(portal, "kirkenes")
    stolen = confirm(kirkenes, portal, previewed, "valid_only")
    assert "The file is no longer on the server" in text_of(stolen["import-result"])
    asked = preview(kirkenes, portal, uploaded)  # and the unit chosen is not theirs either
    assert "no registrar access at the chosen unit" in text_of(asked["import-mapping-status"])
    assert without_audit(counts(database)) == without_audit(before)
    assert len(uploads(portal)) == 1  # the registrar's own, untouched


# ---- mappings per source ---------------------------------------------------------------------


def test_a_mapping_is_saved_per_source_and_fills_the_fields(portal: flask.Flask) -> None:
    client = log_in(portal, "registrar")
    uploaded = upload(client, portal, GOOD)["import-uploaded"]["data"]
    values = {**FIELDS, "import-save.n_clicks": 1, "import-context.data": context()}
    saved = response_of(
        dash_call(client, portal, "import-saved.options", values, "import-save.n_clicks")
    )
    assert "saved for the source dips-nord" in text_of(saved["import-mapping-status"])
    assert [o["value"] for o in saved["import-saved"]["options"]] == [ids.NEW_MAPPING, "dips-nord"]
    path = portal.config["PORTAL_SETTINGS"].instance_path / "import_mappings/stroke/dips-nord.yaml"
    assert "Innlagt: admission_date" in path.read_text(encoding="utf-8")
    assert f"unit: {HAMMERFEST}" in path.read_text(encoding="utf-8")

    values = {"import-uploaded.data": uploaded, "import-saved.value": "dips-nord"}
    drawn = response_of(
        dash_call(
            client,
            portal,
            "import-mapping.hidden",
            {**values, "import-context.data": context()},
            "import-saved.value",
        )
    )
    assert drawn["import-mapping"]["hidden"] is False
    assert (drawn["import-source"]["value"], drawn["import-national-id-column"]["value"]) == (
        "dips-nord",
        "Fnr",
    )
    filled = {
        inputs["props"]["id"]["name"]: inputs["props"]["value"]
        for inputs in _inputs(drawn["import-columns"]["children"])
    }
    assert filled == {column: MAPPED.get(column, "") for column in GOOD[0]}


def _inputs(tree: object) -> list[dict[str, Any]]:
    if isinstance(tree, list):
        return [found for item in tree for found in _inputs(item)]
    if not isinstance(tree, dict):
        return []
    own = [tree] if tree.get("type") == "Input" else []
    return own + [found for value in tree.values() for found in _inputs(value)]
