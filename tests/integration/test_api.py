"""The REST API: its OpenAPI document, public reads, scoped registrations and their errors.

Runs on SQLite and PostgreSQL (`database_url`). Registrations are made through the same
commands the forms use; the callers are API tokens and logged-in sessions.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import flask
import polars as pl
import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from data_access.access import scope_for_user
from data_access.accounts import create_user, find_user_id, grant
from data_access.api_tokens import create_token
from data_access.audit import SYSTEM
from data_access.database import Database
from data_access.models import AuditEvent, Registration
from data_access.record_commands import IdentityKeys, create_registration
from entry.national_id import mask_national_id, synthetic_national_ids
from portal.api.spec import ENDPOINTS, PREFIX
from tests.conftest import callback_headers, make_settings
from tests.integration.test_login import PASSWORD, log_in

UNIT_A = 100032  # Nevrologisk avdeling, Ullevål
UNIT_B = 100024  # Nevrologisk avdeling, Haukeland
NUMBER_COLUMNS = (
    "numerator", "denominator", "estimate", "lower", "upper", "achievement", "coverage",
    "observed", "expected", "oe_ratio", "oe_lower", "oe_upper", "risk_standardised",
    "funnel_lower_95", "funnel_upper_95", "funnel_lower_998", "funnel_upper_998",
    "funnel_position",
)  # fmt: skip
IDS = synthetic_national_ids(
    pl.Series([date(1950, 3, 4), date(1961, 7, 8), date(1972, 1, 2)]),
    pl.Series(["female", "male", "female"]),
    seed=11,
)
DRAFT = {"admission_date": "2025-03-01"}


@dataclass
class World:
    app: flask.Flask
    database: Database
    tokens: dict[str, str]  # name -> secret
    registrations: dict[int, int]  # unit -> a registration id there

    def client(self, token: str | None = None) -> FlaskClient:
        client = self.app.test_client()
        if token is not None:
            client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {self.tokens[token]}"
        return client


def make_world(app: flask.Flask) -> World:
    database: Database = app.extensions["database"]
    settings = app.config["PORTAL_SETTINGS"]
    moment = datetime.now(UTC)
    tokens: dict[str, str] = {}
    for username, role, unit in (
        ("registrar-a", "registrar", UNIT_A),
        ("registrar-b", "registrar", UNIT_B),
        ("clinician-a", "clinician", UNIT_A),
    ):
        create_user(database, SYSTEM, username, username.title(), PASSWORD)
        grant(database, SYSTEM, username, "stroke", unit, role)
        tokens[username] = create_token(
            database, None, SYSTEM, name=f"{username} token", registry_key="stroke", role=role,
            unit_ids=[unit], expires_at=moment + timedelta(days=30),
            owner_user_id=find_user_id(database, username), moment=moment,
        ).secret  # fmt: skip
    tokens["system-a"] = create_token(
        database, None, SYSTEM, name="EPJ Oslo", registry_key="stroke", role="registrar",
        unit_ids=[UNIT_A], expires_at=moment + timedelta(days=30), owner_user_id=None,
        moment=moment,
    ).secret  # fmt: skip
    keys = IdentityKeys(settings.national_id_key, settings.pseudonym_key)
    registry = next(r for r in app.extensions["registries"] if r.key == "stroke")
    registrations = {}
    for unit, national_id, username in (
        (UNIT_A, IDS[0], "registrar-a"),
        (UNIT_B, IDS[1], "registrar-b"),
    ):
        scope = scope_for_user(database, find_user_id(database, username))
        saved = create_registration(
            database, scope, "stroke", unit, national_id, DRAFT, registry.dictionary, keys,
            event_date_variable=registry.event_date_variable,
        )  # fmt: skip
        registrations[unit] = saved.registration_id
    return World(app, database, tokens, registrations)


def api_world(tmp_path: Path, database_url: str) -> Iterator[World]:
    """The app (no second factor, so sessions log in with a password) with tokens and records."""
    from app import create_app

    server = create_app(make_settings(tmp_path, database_url, REQUIRE_TWO_FACTOR="false"))
    yield make_world(server)
    server.extensions["database"].dispose()


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[World]:
    yield from api_world(tmp_path, database_url)


def _count(database: Database, action: str) -> int:
    with database.reading() as session:
        return int(session.scalar(select(func.count()).where(AuditEvent.action == action)) or 0)


def _version(database: Database, registration_id: int) -> int:
    with database.reading() as session:
        registration = session.get(Registration, registration_id)
        assert registration is not None
        return registration.version


# --- the document --------------------------------------------------------------------------


def test_openapi_document_is_valid_and_lists_every_route(world: World) -> None:
    document = world.client().get(f"{PREFIX}/openapi.json").get_json()
    assert document["openapi"].startswith("3.1")
    assert {"title", "version"} <= set(document["info"])
    schemas = document["components"]["schemas"]
    documented = set()
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            documented.add((method.upper(), PREFIX + path))
            assert operation["operationId"] and operation["responses"]
            for name in {p["name"] for p in operation["parameters"] if p["in"] == "path"}:
                assert "{" + name + "}" in path
            for answer in operation["responses"].values():
                for body in answer.get("content", {}).values():
                    _check_refs(body["schema"], schemas)
            if "requestBody" in operation:
                _check_refs(operation["requestBody"]["content"]["application/json"], schemas)
    routes = {
        (method, rule.rule.replace("<string:", "{").replace("<int:", "{").replace(">", "}"))
        for rule in world.app.url_map.iter_rules()
        if rule.endpoint.startswith("api.")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert routes == documented
    assert len(routes) == len(ENDPOINTS)


def _check_refs(node: Any, schemas: dict[str, Any]) -> None:
    """Every $ref points into components/schemas, and to a schema that is there."""
    if isinstance(node, dict):
        if "$ref" in node:
            prefix, _, name = node["$ref"].rpartition("/")
            assert prefix == "#/components/schemas" and name in schemas, node["$ref"]
        for value in node.values():
            _check_refs(value, schemas)
    elif isinstance(node, list):
        for value in node:
            _check_refs(value, schemas)


def test_docs_page_lists_every_endpoint_without_scripts(world: World) -> None:
    response = world.client().get(f"{PREFIX}/docs?lang=en")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "<script" not in page
    for endpoint in ENDPOINTS:
        assert f"{endpoint.method} {PREFIX}{endpoint.path}" in page
    assert "RegistrationCreate" in page and "Quality registry API" in page


# --- public reads --------------------------------------------------------------------------


def test_public_endpoints_answer_without_authentication(world: World) -> None:
    client = world.client()
    registries = client.get(f"{PREFIX}/registries").get_json()["registries"]
    assert [r["key"] for r in registries] == ["stroke", "hipfracture"]  # by position
    indicators = client.get(f"{PREFIX}/registries/stroke/indicators").get_json()["indicators"]
    assert {i["key"] for i in indicators} == set(registries[0]["indicators"])
    codebook = client.get(f"{PREFIX}/registries/stroke/codebook").get_json()
    assert "admission_date" in {v["name"] for v in codebook["variables"]}
    missing = client.get(f"{PREFIX}/registries/nope/codebook?lang=en")
    assert missing.status_code == 404
    assert missing.get_json()["error"] == {
        "message": "No such registry.", "field": "registry", "code": "not_found",
        "current_version": None, "issues": [],
    }  # fmt: skip


def test_bad_query_parameters_name_the_parameter(world: World) -> None:
    client = world.client()
    for query, field in (("limit=0", "limit"), ("level=moon", "level"), ("period=x", "period")):
        response = client.get(f"{PREFIX}/registries/stroke/results?{query}")
        assert response.status_code == 400, query
        assert response.get_json()["error"]["field"] == field
    unknown = client.get(f"{PREFIX}/registries/stroke/results?indicator=nope")
    assert unknown.status_code == 404 and unknown.get_json()["error"]["field"] == "indicator"


# --- registrations ---------------------------------------------------------------------------


def test_registrations_need_authentication(world: World) -> None:
    client = world.client()
    assert client.get(f"{PREFIX}/registries/stroke/registrations").status_code == 401
    assert (
        client.get(
            f"{PREFIX}/registries/stroke/registrations/{world.registrations[UNIT_A]}"
        ).status_code
        == 401
    )
    created = client.post(f"{PREFIX}/registries/stroke/registrations", json={})
    assert created.status_code == 401
    assert created.get_json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("token", ["registrar-a", "system-a"])
def test_a_token_of_unit_a_gets_nothing_of_unit_b(world: World, token: str) -> None:
    client = world.client(token)
    listed = client.get(f"{PREFIX}/registries/stroke/registrations").get_json()
    assert [r["id"] for r in listed["registrations"]] == [world.registrations[UNIT_A]]
    forged = client.get(f"{PREFIX}/registries/stroke/registrations?unit={UNIT_B}").get_json()
    assert forged["registrations"] == []
    b_id = world.registrations[UNIT_B]
    read = client.get(f"{PREFIX}/registries/stroke/registrations/{b_id}")
    absent = client.get(f"{PREFIX}/registries/stroke/registrations/999999")
    a_id = world.registrations[UNIT_A]
    other_registry = client.get(f"{PREFIX}/registries/hipfracture/registrations/{a_id}")
    assert read.status_code == absent.status_code == other_registry.status_code == 404
    assert read.get_json()["error"]["message"] == absent.get_json()["error"]["message"]
    assert other_registry.get_json()["error"] == absent.get_json()["error"]  # paths name it
    assert mask_national_id(IDS[1]) not in read.get_data(as_text=True)
    changed = client.patch(
        f"{PREFIX}/registries/stroke/registrations/{b_id}",
        json={"version": 1, "values": {"nihss_admission": 3}},
    )
    assert changed.status_code == 404 and _version(world.database, b_id) == 1
    created = client.post(
        f"{PREFIX}/registries/stroke/registrations",
        json={"unit_id": UNIT_B, "national_id": IDS[2], "values": DRAFT},
    )
    assert created.status_code == 403 and created.get_json()["error"]["field"] == "unit_id"
    with world.database.reading() as session:
        assert session.scalar(select(func.count()).select_from(Registration)) == 2


def test_create_read_update_and_stale_update(world: World) -> None:
    client = world.client("registrar-a")
    created = client.post(
        f"{PREFIX}/registries/stroke/registrations",
        json={"unit_id": UNIT_A, "national_id": IDS[2], "values": {**DRAFT, "nihss_admission": 4}},
    )
    assert created.status_code == 201, created.get_json()
    saved = created.get_json()
    assert saved["version"] == 1 and saved["status"] == "draft"
    location = created.headers["Location"]
    assert location == f"{PREFIX}/registries/stroke/registrations/{saved['id']}"
    record = client.get(location).get_json()
    assert record["values"]["nihss_admission"] == 4 and record["editable"] is True
    assert record["national_id_masked"] == mask_national_id(IDS[2])

    first = client.patch(location, json={"version": 1, "values": {"nihss_admission": 5}})
    assert first.status_code == 200 and first.get_json()["version"] == 2
    stale = client.patch(location, json={"version": 1, "values": {"nihss_admission": 9}})
    assert stale.status_code == 409
    assert stale.get_json()["error"]["code"] == "stale"
    assert stale.get_json()["error"]["current_version"] == 2
    assert stale.get_json()["error"]["field"] == "version"
    after = client.get(location).get_json()
    assert after["version"] == 2 and after["values"]["nihss_admission"] == 5


def test_list_filters_and_pages(world: World) -> None:
    client = world.client("registrar-a")
    for national_id, day in ((IDS[1], "2025-04-01"), (IDS[2], "2025-05-01")):
        response = client.post(
            f"{PREFIX}/registries/stroke/registrations",
            json={"unit_id": UNIT_A, "national_id": national_id,
                  "values": {"admission_date": day}},
        )  # fmt: skip
        assert response.status_code == 201
    url = f"{PREFIX}/registries/stroke/registrations"
    first = client.get(f"{url}?limit=2").get_json()
    assert [r["event_date"] for r in first["registrations"]] == ["2025-05-01", "2025-04-01"]
    assert first["next_offset"] == 2
    rest = client.get(f"{url}?limit=2&offset=2").get_json()
    assert len(rest["registrations"]) == 1 and rest["next_offset"] is None
    april = client.get(f"{url}?from=2025-04-01&to=2025-04-30").get_json()
    assert [r["event_date"] for r in april["registrations"]] == ["2025-04-01"]
    assert client.get(f"{url}?status=complete").get_json()["registrations"] == []


@pytest.mark.parametrize(
    ("headers", "query", "expected"),
    [
        ({}, "?lang=en", "The value cannot be read as a whole number."),
        ({"Accept-Language": "en-GB,en;q=0.8"}, "", "The value cannot be read as a whole number."),
        ({"Accept-Language": "nb-NO"}, "", "Verdien kan ikke leses som et heltall."),
    ],
)
def test_rejected_values_name_the_field_in_the_callers_language(
    world: World, headers: dict[str, str], query: str, expected: str
) -> None:
    client = world.client("registrar-a")
    response = client.post(
        f"{PREFIX}/registries/stroke/registrations{query}",
        json={"unit_id": UNIT_A, "national_id": IDS[2],
              "values": {**DRAFT, "nihss_admission": "abc"}},
        headers=headers,
    )  # fmt: skip
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["field"] == "values.nihss_admission" and error["code"] == "rejected"
    assert error["issues"][0]["message"] == expected


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"unit_id": UNIT_A, "national_id": "12345678901", "values": DRAFT}, "national_id"),
        ({"unit_id": UNIT_A, "national_id": IDS[2], "values": {}}, "values.admission_date"),
        ({"unit_id": UNIT_A, "values": DRAFT}, "national_id"),
        ({"unit_id": "x", "national_id": IDS[2]}, "unit_id"),
        ({"unit_id": UNIT_A, "national_id": IDS[2], "surprise": 1}, "surprise"),
    ],
)
def test_errors_name_the_field(world: World, body: dict[str, object], field: str) -> None:
    response = world.client("registrar-a").post(
        f"{PREFIX}/registries/stroke/registrations", json=body
    )
    assert response.status_code in {400, 422}
    assert response.get_json()["error"]["field"] == field
    assert set(response.get_json()["error"]) == {
        "message", "field", "code", "current_version", "issues"
    }  # fmt: skip


def test_complete_record_change_needs_a_reason(world: World) -> None:
    client = world.client("registrar-a")
    url = f"{PREFIX}/registries/stroke/registrations/{world.registrations[UNIT_A]}"
    complete = {
        "admission_date": "2025-03-01", "arrival_datetime": "2025-03-01T10:00",
        "onset_known": "0", "age": "74", "sex": "2", "stroke_type": "1",
        "thrombolysis": "1", "thrombolysis_datetime": "2025-03-01 10:35",
        "discharge_date": "2025-03-08", "died_in_hospital": "0",
    }  # fmt: skip
    done = client.patch(url, json={"version": 1, "values": complete, "status": "complete"})
    assert done.status_code == 200, done.get_json()
    refused = client.patch(url, json={"version": 2, "values": {"age": "75"}})
    assert refused.status_code == 422 and refused.get_json()["error"]["field"] == "reason"
    assert _version(world.database, world.registrations[UNIT_A]) == 2


def test_a_clinician_token_reads_but_may_not_write(world: World) -> None:
    client = world.client("clinician-a")
    url = f"{PREFIX}/registries/stroke/registrations/{world.registrations[UNIT_A]}"
    assert client.get(url).get_json()["editable"] is False
    refused = client.patch(url, json={"version": 1, "values": {"nihss_admission": 2}})
    assert refused.status_code == 403
    assert _version(world.database, world.registrations[UNIT_A]) == 1


# --- sessions and CSRF -------------------------------------------------------------------------


def test_session_writes_need_the_csrf_header_and_token_writes_do_not(world: World) -> None:
    client = world.app.test_client()
    assert log_in(client, "registrar-a").status_code == 302
    body = {"unit_id": UNIT_A, "national_id": IDS[2], "values": DRAFT}
    url = f"{PREFIX}/registries/stroke/registrations"
    before = _count(world.database, "request.csrf_refused")
    forged = client.post(url, json=body)
    assert forged.status_code == 400 and forged.get_json()["error"]["code"] == "csrf"
    assert _count(world.database, "request.csrf_refused") == before + 1
    wrong = client.post(url, json=body, headers={"X-CSRFToken": "forged"})
    assert wrong.status_code == 400
    with world.database.reading() as session:
        assert session.scalar(select(func.count()).select_from(Registration)) == 2
    allowed = client.post(url, json=body, headers=callback_headers(client))
    assert allowed.status_code == 201, allowed.get_json()
    # Reads by session need no header; the token client needs none for writes either.
    assert client.get(url).status_code == 200
    by_token = world.client("registrar-a").post(url, json={**body, "national_id": IDS[1]})
    assert by_token.status_code == 201


def test_an_invalid_bearer_token_is_refused_even_on_public_routes(world: World) -> None:
    client = world.app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = "Bearer nkr_not-a-real-token"
    response = client.get(f"{PREFIX}/registries")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "invalid_token"
    assert response.get_json()["error"]["field"] == "Authorization"
    document = world.client().get(f"{PREFIX}/openapi.json").get_json()
    for methods in document["paths"].values():
        assert all("401" in operation["responses"] for operation in methods.values())


# --- Flask's own errors ----------------------------------------------------------------------


def _error(response: Any, status: int) -> dict[str, Any]:
    """The error of a JSON answer with `status`, checked to have the API's whole shape."""
    assert response.status_code == status and response.mimetype == "application/json"
    error: dict[str, Any] = response.get_json()["error"]
    assert set(error) == {"message", "field", "code", "current_version", "issues"}
    return error


def test_unknown_paths_and_methods_answer_json_in_the_callers_language(world: World) -> None:
    client = world.client("registrar-a")
    unknown = _error(client.get(f"{PREFIX}/nope?lang=en"), 404)
    assert unknown["code"] == "not_found" and unknown["message"] == "The API has no such path."
    # Not an id: the portal's catch-all page would take it, but not under the API's prefix.
    not_an_id = client.get(
        f"{PREFIX}/registries/stroke/registrations/abc", headers={"Accept-Language": "nb"}
    )
    assert _error(not_an_id, 404)["message"] == "API-et har ingen slik adresse."
    assert _error(client.post(f"{PREFIX}/nope"), 404)["code"] == "not_found"

    refused = client.delete(f"{PREFIX}/registries/stroke/registrations?lang=en")
    error = _error(refused, 405)
    assert refused.headers["Allow"] == "GET, HEAD, POST, OPTIONS"
    assert error["code"] == "method_not_allowed"
    assert error["message"] == (
        "The method DELETE is not available for this path. Allowed: GET, HEAD, POST, OPTIONS."
    )
    assert client.put(f"{PREFIX}/registries").headers["Allow"] == "GET, HEAD, OPTIONS"

    too_big = _error(client.get(f"{PREFIX}/registries/stroke/registrations/{2**31}"), 400)
    assert too_big["field"] == "registration_id"
    anonymous = _error(
        world.client().get(f"{PREFIX}/registries/stroke/registrations/1?lang=en"), 401
    )
    assert anonymous["message"] == "Send a valid API token, or log in (with the second factor)."

    page = world.client().get("/nope")  # pages keep their own (HTML) answer
    assert page.mimetype == "text/html"


def test_a_fault_is_a_json_500_that_tells_nothing_of_the_code(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from portal.auth.guard import route_access

    @route_access("public")
    def broken(**_: object) -> flask.Response:
        raise RuntimeError("connection string postgresql://secret@db")

    monkeypatch.setitem(world.app.view_functions, "api.list_registries", broken)
    response = world.client().get(f"{PREFIX}/registries?lang=en")
    error = _error(response, 500)
    assert error == {
        "message": "An error occurred on the server.", "field": None, "code": "server_error",
        "current_version": None, "issues": [],
    }  # fmt: skip
    assert "secret" not in response.get_data(as_text=True)


# --- results -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A seeded demo registry (SQLite): the results come from the cache, not from SQL."""
    from app import create_app
    from portal.demo import seed_demo

    tmp_path = tmp_path_factory.mktemp("api-demo")
    server = create_app(make_settings(tmp_path, f"sqlite:///{tmp_path / 'api.sqlite3'}"))
    with server.app_context():
        registry = server.extensions["registries"][0]
        seed_demo(server.extensions["database"], server.config["PORTAL_SETTINGS"], registry,
                  1500, 5)  # fmt: skip
    yield make_world(server)
    server.extensions["database"].dispose()


def _all_results(client: FlaskClient) -> list[dict[str, Any]]:
    response = client.get(f"{PREFIX}/registries/stroke/results?limit=10000")
    assert response.status_code == 200
    body = response.get_json()
    assert body["total"] == len(body["results"]) > 0
    return list(body["results"])


def test_public_results_never_hold_a_suppressed_number(demo_world: World) -> None:
    rows = _all_results(demo_world.client())
    suppressed = [row for row in rows if row["suppressed"]]
    assert suppressed, "the demo has small units, so some rows must be suppressed"
    for row in suppressed:
        assert all(row[column] is None for column in NUMBER_COLUMNS), row
        assert row["note"] in {":"} or row["note"].startswith("<")
    assert not any(row["confidential"] for row in rows)
    shown = [row for row in rows if not row["suppressed"]]
    assert shown and all(row["denominator"] is not None for row in shown)


def test_own_units_results_are_unsuppressed_and_only_they(demo_world: World) -> None:
    rows = _all_results(demo_world.client("clinician-a"))
    own = {UNIT_A}  # a department: no units below it
    for row in rows:
        if row["unit_id"] in own:
            assert row["denominator"] is not None and row["note"] is None
            assert row["confidential"] == row["suppressed"]
        elif row["suppressed"]:
            assert all(row[column] is None for column in NUMBER_COLUMNS), row
            assert row["confidential"] is False
    assert any(row["unit_id"] == UNIT_A for row in rows)


def test_results_filters(demo_world: World) -> None:
    client = demo_world.client()
    everything = _all_results(client)
    indicator, period = everything[0]["indicator"], everything[0]["period"]
    url = f"{PREFIX}/registries/stroke/results"
    narrowed = client.get(f"{url}?indicator={indicator}&period={period}&level=region").get_json()
    assert narrowed["results"] and all(
        (r["indicator"], r["period"], r["level"]) == (indicator, period, "region")
        for r in narrowed["results"]
    )
    page = client.get(f"{url}?limit=5&offset=5").get_json()
    assert [r["unit_id"] for r in page["results"]] == [r["unit_id"] for r in everything[5:10]]
    assert json.dumps(page)  # plain JSON: no NaN
