"""Analyst exports over real HTTP on both databases: contents, labels, scope, audit, progress.

A small demo registry is seeded, users log in with a password, and each file the download
route serves is read back with the tool an analyst would use (polars, openpyxl, pyreadstat)
and compared cell by cell with the registrations as the snapshot module types them, joined
with the patients' pseudonyms: a second, independent path to the same rows.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import flask
import openpyxl
import polars as pl
import pyreadstat
import pytest
from flask.testing import FlaskClient
from polars.testing import assert_frame_equal
from sqlalchemy import Integer, cast, extract, select

from data_access.accounts import create_user, grant
from data_access.audit import SYSTEM
from data_access.database import Database
from data_access.models import AuditEvent, Patient, Registration
from data_access.snapshot import registration_frame
from entry.export_columns import export_columns, flat_frame
from entry.registry_folder import read_registry_folder
from portal.export_formats import codebook
from portal.settings import PROJECT_ROOT
from tests.conftest import render_page, seeded_demo_app
from tests.integration.test_admin_pages import dash_call, response_of
from tests.integration.test_login import PASSWORD, csrf_token

STROKE = read_registry_folder(PROJECT_ROOT / "registries" / "stroke")
REGISTRATIONS = 240
VARIABLES = tuple(v.name for v in STROKE.dictionary.variables if v.type != "descriptive")
PREPARE = "export-variables-error.children"
POLL = "export-progress.children"
UNITS_KEY = '{"group":["ALL"],"type":"export-units"}.value'


@dataclass(frozen=True)
class World:
    app: flask.Flask
    database: Database
    unit_a: int  # the clinician's department
    unit_b: int  # another hospital's department


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[World]:
    with seeded_demo_app(
        tmp_path, REGISTRATIONS, seed=7, database_url=database_url, REQUIRE_TWO_FACTOR="false"
    ) as server:
        database: Database = server.extensions["database"]
        counts = (
            registration_frame(database, "stroke", STROKE.dictionary)
            .group_by("unit_id")
            .len()
            .sort(["len", "unit_id"], descending=True)
        )
        unit_a, unit_b = counts["unit_id"][0], counts["unit_id"][1]
        for username, role, unit in (
            ("analyst", "analyst", 1),
            ("clinician", "clinician", unit_a),
            ("admin", "admin", 1),
        ):
            create_user(database, SYSTEM, username, username.title(), PASSWORD)
            grant(database, SYSTEM, username, "stroke", unit, role)
        yield World(server, database, unit_a, unit_b)


def client_of(world: World, username: str | None) -> FlaskClient:
    client = world.app.test_client()
    if username is not None:
        form = {"username": username, "password": PASSWORD, "csrf_token": csrf_token(client)}
        assert client.post("/login", data=form).status_code == 302
    return client


def source_rows(database: Database, variables: tuple[str, ...] = VARIABLES) -> pl.DataFrame:
    """The registrations as the export should hold them, read by another path."""
    typed = registration_frame(database, "stroke", STROKE.dictionary)
    with database.reading() as session:
        people = session.execute(
            select(
                Registration.id,
                Patient.pseudonym,
                cast(extract("year", Patient.birth_date), Integer),
            ).join(Patient, Patient.id == Registration.patient_id)
        ).all()
    patients = pl.DataFrame(
        [tuple(p) for p in people],
        schema={"id": pl.Int64, "pseudonym": pl.String, "birth_year": pl.Int64},
        orient="row",
    )
    joined = typed.join(patients, on="id").rename({"id": "registration_id"})
    return flat_frame(joined.sort("registration_id"), export_columns(STROKE.dictionary, variables))


def export_url(fmt: str, **query: str) -> str:
    return f"/export/stroke.{fmt}?" + "&".join(
        f"{k}={v}" for k, v in {"variables": ",".join(VARIABLES), **query}.items()
    )


def export_events(database: Database) -> list[dict[str, Any]]:
    with database.reading() as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "export").order_by(AuditEvent.id)
        ).all()
    return [{"username": e.username, **e.details} for e in events]


def read_back(fmt: str, body: bytes, schema: pl.Schema, tmp_path: Path) -> pl.DataFrame:
    """The file as an analyst's tool reads it, in the source's column types."""
    if fmt == "csv":
        return pl.read_csv(io.BytesIO(body), schema=schema)
    if fmt == "parquet":
        return pl.read_parquet(io.BytesIO(body))
    if fmt == "xlsx":
        sheet = openpyxl.load_workbook(io.BytesIO(body), read_only=True).worksheets[0]
        rows = list(sheet.iter_rows(values_only=True))
        assert list(rows[0]) == list(schema)
        columns = {name: [row[i] for row in rows[1:]] for i, name in enumerate(schema)}
        return pl.DataFrame(
            {name: [_cell(v, schema[name]) for v in values] for name, values in columns.items()},
            schema=schema,
        )
    path = tmp_path / f"read.{fmt}"
    path.write_bytes(body)
    reader = pyreadstat.read_sav if fmt == "sav" else pyreadstat.read_dta
    frame, _meta = reader(str(path), output_format="polars")
    return frame.with_columns(pl.col(name).cast(dtype) for name, dtype in schema.items())


def _cell(value: object, dtype: pl.DataType) -> object:
    if isinstance(value, datetime) and dtype == pl.Date:
        return value.date()
    return value


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "parquet", "sav", "dta"])
def test_export_reads_back_as_the_source_rows_and_is_audited(
    world: World, fmt: str, tmp_path: Path
) -> None:
    client = client_of(world, "analyst")
    response = client.get(export_url(fmt))
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert "attachment" in response.headers["Content-Disposition"]
    expected = source_rows(world.database)
    assert expected.height == REGISTRATIONS
    got = read_back(fmt, response.get_data(), expected.schema, tmp_path)
    assert_frame_equal(got, expected)
    (event,) = export_events(world.database)
    assert event["username"] == "analyst"
    assert event["format"] == fmt and event["rows"] == REGISTRATIONS and event["completed"]
    assert event["filters"]["variables"] == list(VARIABLES)
    assert "pseudonym" in expected.columns and "national_id" not in "".join(expected.columns)


@pytest.mark.parametrize("fmt", ["sav", "dta"])
def test_spss_and_stata_carry_variable_and_value_labels(
    world: World, fmt: str, tmp_path: Path
) -> None:
    client = client_of(world, "analyst")
    response = client.get(export_url(fmt, lang="en"))
    path = tmp_path / f"labels.{fmt}"
    path.write_bytes(response.get_data())
    reader = pyreadstat.read_sav if fmt == "sav" else pyreadstat.read_dta
    _frame, meta = reader(str(path), metadataonly=True)
    labels = meta.column_names_to_labels
    assert labels["age"] == STROKE.dictionary.variable("age").label.en
    assert labels["pseudonym"] == "Patient pseudonym"
    values = meta.variable_value_labels
    sex = STROKE.dictionary.variable("sex")
    assert values["sex"] == {int(c.code): c.label.en for c in sex.choices}
    assert values["thrombolysis"] == {1: "Yes", 0: "No"}
    assert "age" not in values


def test_excel_has_a_codebook_sheet(world: World) -> None:
    client = client_of(world, "analyst")
    response = client.get(export_url("xlsx", lang="en"))
    workbook = openpyxl.load_workbook(io.BytesIO(response.get_data()), read_only=True)
    assert workbook.sheetnames == ["Records", "Codebook"]
    rows = list(workbook["Codebook"].iter_rows(values_only=True))
    entries = codebook(export_columns(STROKE.dictionary, VARIABLES), "en")
    assert rows[0] == ("Variable", "Label", "Kind", "Values")
    assert [(r[0], r[1]) for r in rows[1:]] == [(e.name, e.label) for e in entries]
    by_name = {r[0]: r for r in rows[1:]}
    assert by_name["thrombolysis"][3] == "1 = Yes\n0 = No"


def test_filters_period_status_and_expression(world: World) -> None:
    client = client_of(world, "analyst")
    query = {"from": "2022-01-01", "to": "31.12.2023", "status": "complete", "where": "age >= 75"}
    response = client.get(export_url("parquet", **query))
    assert response.status_code == 200
    got = pl.read_parquet(io.BytesIO(response.get_data()))
    expected = source_rows(world.database).filter(
        pl.col("event_date").is_between(date(2022, 1, 1), date(2023, 12, 31)),
        pl.col("status") == "complete",
        pl.col("age") >= 75,
    )
    assert expected.height > 0
    assert_frame_equal(got, expected)
    (event,) = export_events(world.database)
    assert event["filters"] == {
        "variables": list(VARIABLES),
        "from": "2022-01-01",
        "to": "2023-12-31",
        "statuses": ["complete"],
        "where": "age >= 75",
    }
    assert event["rows"] == expected.height


def test_a_bad_expression_is_refused_with_its_position(world: World) -> None:
    client = client_of(world, "analyst")
    response = client.get(export_url("csv", where="age >= 'old'", lang="en"))
    assert response.status_code == 400
    problems = response.get_json()["problems"]
    assert set(problems) == {"where"}
    assert "at character" in problems["where"]
    assert export_events(world.database) == []


def test_clinician_exports_only_own_unit_and_a_forged_unit_gives_nothing(world: World) -> None:
    client = client_of(world, "clinician")
    own = client.get(export_url("csv", variables="age"))
    frame = pl.read_csv(io.BytesIO(own.get_data()))
    expected = source_rows(world.database, ("age",)).filter(pl.col("unit_id") == world.unit_a)
    assert frame.height == expected.height > 0
    assert set(frame["unit_id"]) == {world.unit_a}
    forged = client.get(export_url("csv", variables="age", units=str(world.unit_b)))
    assert forged.status_code == 200
    assert forged.get_data(as_text=True).strip().splitlines() == [
        "registration_id,pseudonym,birth_year,unit_id,event_date,status,age"
    ]
    # Choosing the nation covers every unit below it, and still only the clinician's own.
    nation = client.get(export_url("csv", variables="age", units="1"))
    assert set(pl.read_csv(io.BytesIO(nation.get_data()))["unit_id"]) == {world.unit_a}
    own_event, forged_event, nation_event = export_events(world.database)
    assert own_event["rows"] == expected.height
    assert forged_event["rows"] == 0
    assert world.unit_b in forged_event["filters"]["unit_ids"]
    assert nation_event["rows"] == expected.height


@pytest.mark.parametrize("who", [None, "admin"])
def test_anonymous_and_users_without_export_rights_get_nothing(
    world: World, who: str | None
) -> None:
    client = client_of(world, who)
    response = client.get(export_url("csv"))
    assert response.status_code == (401 if who is None else 403)
    assert b"pseudonym" not in response.get_data()
    page = render_page(client, "/export", "?registry=stroke")
    assert "export-prepare" not in page
    assert ("login-prompt" in page) if who is None else ("export-not-allowed" in page)
    assert export_events(world.database) == []


def _prepare_values(world: World, **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "export-prepare.n_clicks": 1,
        "export-settings.data": {"registry": "stroke", "language": "en"},
        '{"form":["ALL"],"type":"export-variables"}.value': [
            {"id": {"type": "export-variables", "form": form.key}, "value": []}
            for form in STROKE.forms
        ],
        "export-from.value": "",
        "export-to.value": "",
        UNITS_KEY: [],
        "export-status.value": ["complete", "locked"],
        "export-where.value": "",
        "export-format.value": "csv",
    }
    values.update(changes)
    return values


def _variables_value(names: list[str]) -> list[dict[str, Any]]:
    first, *others = STROKE.forms
    return [{"id": {"type": "export-variables", "form": first.key}, "value": names}] + [
        {"id": {"type": "export-variables", "form": form.key}, "value": []} for form in others
    ]


def test_the_page_shows_problems_next_to_their_fields(world: World) -> None:
    client = client_of(world, "analyst")
    values = _prepare_values(
        world, **{"export-from.value": "31.02.2024", "export-where.value": "age >"}
    )
    result = response_of(dash_call(client, world.app, PREPARE, values, "export-prepare.n_clicks"))
    errors = {key: value["children"] for key, value in result.items() if key.endswith("-error")}
    assert "Choose at least one variable" in errors["export-variables-error"]
    assert "2025-03-31" in errors["export-from-error"]
    assert "at character" in errors["export-where-error"]
    assert errors["export-to-error"] == ""
    assert result["export-download"]["children"] is None


def test_prepare_count_download_and_progress(world: World) -> None:
    client = client_of(world, "clinician")
    variables = {'{"form":["ALL"],"type":"export-variables"}.value': _variables_value(["age"])}
    chosen = [{"id": {"type": "export-units", "group": world.unit_a}, "value": [world.unit_b]}]
    forged = _prepare_values(world, **variables, **{UNITS_KEY: chosen})
    result = response_of(dash_call(client, world.app, PREPARE, forged, "export-prepare.n_clicks"))
    assert "Ready: 0 registrations" in json.dumps(result)
    values = _prepare_values(world, **variables)
    result = response_of(dash_call(client, world.app, PREPARE, values, "export-prepare.n_clicks"))
    link = result["export-download"]["children"]["props"]
    job = result["export-job"]["data"]
    expected = source_rows(world.database, ("age",)).filter(
        pl.col("unit_id") == world.unit_a, pl.col("status").is_in(["complete", "locked"])
    )
    assert f"Ready: {expected.height} registrations" in json.dumps(result)
    assert parse_qs(urlsplit(link["href"]).query)["job"] == [job]
    assert urlsplit(link["href"]).path == "/export/stroke.csv"
    downloaded = client.get(link["href"])
    assert pl.read_csv(io.BytesIO(downloaded.get_data())).height == expected.height
    poll_values = {
        "export-poll.n_intervals": 1,
        "export-job.data": job,
        "export-settings.data": {"registry": "stroke", "language": "en"},
    }
    progress = response_of(
        dash_call(client, world.app, POLL, poll_values, "export-poll.n_intervals")
    )
    assert f"Done: {expected.height} rows" in json.dumps(progress)
    assert progress["export-poll"]["disabled"] is True
    # Another user cannot read the job's progress.
    other = response_of(
        dash_call(
            client_of(world, "analyst"), world.app, POLL, poll_values, "export-poll.n_intervals"
        )
    )
    assert "Done" not in json.dumps(other)
