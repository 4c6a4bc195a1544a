"""FHIR R4 bundles through the REST API into draft registrations, on SQLite and PostgreSQL.

The callers are the API tokens of `test_api`'s world: registrars of unit A (the example
bundle's unit, Ullevål's neurology department) and of unit B, and a clinician of unit A. One
world per database serves the module; each test sends stays of its own (`_stay`) and counts
what its requests wrote.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from data_access.models import AuditEvent, Registration
from data_access.models_import import ImportKey
from entry.national_id import mask_national_id
from portal.api.spec import PREFIX
from tests.conftest import BACKENDS, fresh_database_url
from tests.integration.test_api import UNIT_A, World, api_world

URL = f"{PREFIX}/fhir/Bundle"
EXAMPLE: dict[str, Any] = json.loads(
    (
        Path(__file__).resolve().parents[2] / "registries/stroke/examples/fhir_bundle.json"
    ).read_text()
)
NATIONAL_ID = "17854826816"
STORED = {
    "admission_date": "2025-03-01", "arrival_datetime": "2025-03-01T09:40:00",
    "discharge_date": "2025-03-08", "sex": 2, "age": 76, "died_in_hospital": 0,
    "discharge_destination": 1, "stroke_type": 1, "atrial_fibrillation": 1, "thrombolysis": 1,
    "thrombolysis_datetime": "2025-03-01T10:15:00", "nihss_admission": 8,
    "glucose_admission": 7.4,
    # calculated by the dictionary from the values above
    "length_of_stay": 7, "door_to_needle_minutes": 35, "alive_30_days": 1,
}  # fmt: skip


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_available: bool,
) -> Iterator[World]:
    tmp_path = tmp_path_factory.mktemp("api-fhir")
    with fresh_database_url(request.param, tmp_path, postgres_available) as url:
        yield from api_world(tmp_path, url)


def _stay(name: str) -> dict[str, Any]:
    """The example bundle as another stay (its own Encounter and Bundle identifiers)."""
    bundle = copy.deepcopy(EXAMPLE)
    bundle["identifier"]["value"] = f"B-{name}"
    bundle["entry"][2]["resource"]["identifier"][0]["value"] = f"E-{name}"
    return bundle


def _key(name: str) -> str:
    return f"https://ehr.example.no/fhir/episode|E-{name}"


def _post(client: FlaskClient, bundle: dict[str, Any], query: str = "?lang=en") -> Any:
    return client.post(URL + query, data=json.dumps(bundle), content_type="application/fhir+json")


def _counts(world: World) -> tuple[int, int, int]:
    """Registrations, import keys, and create/update audit events: what a write leaves."""
    with world.database.reading() as session:
        registrations = session.scalar(select(func.count()).select_from(Registration))
        keys = session.scalar(select(func.count()).select_from(ImportKey))
        events = session.scalar(
            select(func.count()).where(
                AuditEvent.action.in_(["registration.create", "registration.update"])
            )
        )
    return int(registrations or 0), int(keys or 0), int(events or 0)


def test_the_example_bundle_becomes_the_expected_draft(world: World) -> None:
    client = world.client("registrar-a")
    response = _post(client, EXAMPLE)
    key = _key("2025-000123")
    assert response.status_code == 201, response.get_json()
    saved = response.get_json()
    assert (saved["status"], saved["version"], saved["created"]) == ("draft", 1, True)
    assert saved["source_key"] == key and saved["registry"] == "stroke"
    # A draft may lack what completion needs: reported, not refused.
    assert [issue["rule"] for issue in saved["errors"]] == ["onset_known:required"]
    assert response.headers["Location"] == f"{PREFIX}/registries/stroke/registrations/{saved['id']}"

    record = client.get(response.headers["Location"]).get_json()
    assert record["values"] == STORED
    assert (record["unit_id"], record["event_date"], record["status"]) == (
        UNIT_A, "2025-03-01", "draft",
    )  # fmt: skip
    assert record["national_id_masked"] == mask_national_id(NATIONAL_ID)
    with world.database.reading() as session:
        stored = session.scalars(select(ImportKey).where(ImportKey.source_key == key)).one()
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "registration.create")
            .order_by(AuditEvent.id.desc())
        ).first()  # fmt: skip
    assert (stored.source, stored.registration_id) == ("fhir", saved["id"])
    assert event is not None and event.details["import"] == {
        "source": "fhir", "source_key": key, "bundle_id": "example-stroke-stay",
    }  # fmt: skip
    assert NATIONAL_ID not in json.dumps(event.details)


def test_posting_the_stay_again_updates_the_same_draft(world: World) -> None:
    client = world.client("registrar-a")
    first = _post(client, _stay("repost")).get_json()
    assert first["created"] is True and first["source_key"] == _key("repost")
    before = _counts(world)

    again = _stay("repost")
    again["identifier"]["value"] = "B-another"  # a new bundle about the same stay
    again["entry"][6]["resource"]["valueInteger"] = 10
    updated = _post(client, again)
    assert updated.status_code == 200, updated.get_json()
    body = updated.get_json()
    assert (body["id"], body["version"], body["created"], body["changed"]) == (
        first["id"], 2, False, True,
    )  # fmt: skip
    record = client.get(f"{PREFIX}/registries/stroke/registrations/{first['id']}").get_json()
    assert record["values"] == {**STORED, "nihss_admission": 10}
    assert _counts(world) == (before[0], before[1], before[2] + 1)  # one update, no new record

    same = _post(client, again).get_json()
    assert (same["version"], same["changed"]) == (2, False)
    assert _counts(world) == (before[0], before[1], before[2] + 1)


def test_a_completed_registration_is_not_overwritten_by_a_repost(world: World) -> None:
    client = world.client("registrar-a")
    saved = _post(client, _stay("completed")).get_json()
    url = f"{PREFIX}/registries/stroke/registrations/{saved['id']}"
    done = client.patch(
        url, json={"version": 1, "values": {"onset_known": "0"}, "status": "complete"}
    )
    assert done.status_code == 200, done.get_json()
    refused = _post(client, _stay("completed"))
    assert refused.status_code == 409
    assert refused.get_json()["error"]["code"] == "not_draft"
    assert refused.get_json()["error"]["field"] == "Bundle.entry[2].resource.identifier[0]"
    assert client.get(url).get_json()["version"] == 2


@pytest.mark.parametrize(
    ("token", "status", "field"),
    [
        ("registrar-b", 403, "Bundle.entry[1].resource.identifier[0].value"),  # not A's registrar
        ("clinician-a", 403, "Bundle.entry[1].resource.identifier[0].value"),  # reads, no writes
    ],
)
def test_a_token_without_a_registrar_grant_on_the_unit_writes_nothing(
    world: World, token: str, status: int, field: str
) -> None:
    before = _counts(world)
    response = _post(world.client(token), _stay(token))
    assert response.status_code == status
    assert response.get_json()["error"]["field"] == field
    assert _counts(world) == before
    assert _post(world.app.test_client(), _stay(token)).status_code == 401
    assert _counts(world) == before


def test_a_repost_from_another_units_token_cannot_touch_the_draft(world: World) -> None:
    """Unit B's registrar, naming its own unit, with unit A's stay key: refused, unchanged."""
    saved = _post(world.client("registrar-a"), _stay("forged")).get_json()
    before = _counts(world)
    forged = _stay("forged")
    forged["entry"][1]["resource"]["identifier"] = [
        {"system": "urn:oid:2.16.578.1.12.4.1.4.102", "value": "100024"}  # unit B
    ]
    response = _post(world.client("registrar-b"), forged)
    assert response.status_code == 403
    assert _counts(world) == before
    record = (
        world.client("registrar-a")
        .get(f"{PREFIX}/registries/stroke/registrations/{saved['id']}")
        .get_json()
    )
    assert record["version"] == 1 and record["unit_id"] == UNIT_A


def _unknown_code(bundle: dict[str, Any]) -> None:
    bundle["entry"][4]["resource"]["code"]["coding"][0]["code"] = "J18.9"


def _invalid_date(bundle: dict[str, Any]) -> None:
    bundle["entry"][0]["resource"]["birthDate"] = "1948-13-17"


def _thrombolysis_for_a_haemorrhage(bundle: dict[str, Any]) -> None:
    # The form asks about thrombolysis only for ischaemic strokes: the value would be lost.
    bundle["entry"][3]["resource"]["code"]["coding"] = [
        {"system": "urn:oid:2.16.578.1.12.4.1.1.7110", "code": "I61.0"}
    ]


def _unknown_org_number(bundle: dict[str, Any]) -> None:
    bundle["entry"][1]["resource"]["identifier"] = [
        {"system": "urn:oid:2.16.578.1.12.4.1.4.101", "value": "999999999"}
    ]


@pytest.mark.parametrize(
    ("change", "field", "rule", "message"),
    [
        (_unknown_code, "Bundle.entry[4].resource.code", "fhir:unknown_code",
         "Condition/atrial-fibrillation (entry 4): A code the registry does not know: "
         "http://hl7.org/fhir/sid/icd-10|J18.9."),
        (_invalid_date, "Bundle.entry[0].resource.birthDate", "fhir:invalid",
         "Patient/patient-1 (entry 0): Not valid FHIR R4: Value error, Date value string does "
         "not match spec regex."),
        (_thrombolysis_for_a_haemorrhage, "Bundle.entry[5].resource.medicationCodeableConcept",
         "fhir:hidden", "MedicationStatement/alteplase (entry 5): The form's logic hides "
         "thrombolysis (shown when stroke_type = 1), so the value would be lost."),
        (_unknown_org_number, "Bundle.entry[1].resource.identifier[0].value",
         "fhir:unknown_unit",
         "Organization/ullevaal-nevro (entry 1): No unit has this organisation number."),
    ],
)  # fmt: skip
def test_an_invalid_bundle_writes_nothing_and_names_the_fault(
    world: World, change: Any, field: str, rule: str, message: str
) -> None:
    bundle = _stay(f"invalid-{rule}")
    change(bundle)
    before = _counts(world)
    response = _post(world.client("registrar-a"), bundle)
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert (error["code"], error["field"]) == ("invalid_bundle", field)
    first = error["issues"][0]
    assert (first["field"], first["rule"], first["message"]) == (field, rule, message)
    assert {issue["rule"] for issue in error["issues"]} == {rule}
    assert _counts(world) == before


def test_the_organisation_number_of_a_unit_finds_it(world: World) -> None:
    """Ullevål hospital's organisation number names the hospital, above unit A: a registrar of
    unit A has no grant there, so the number is found and the write refused by scope."""
    bundle = _stay("hospital")
    bundle["entry"][1]["resource"]["identifier"] = [
        {"system": "urn:oid:2.16.578.1.12.4.1.4.101", "value": "974589095"}
    ]
    before = _counts(world)
    response = _post(world.client("registrar-a"), bundle)
    assert response.status_code == 403, response.get_json()
    assert _counts(world) == before


def test_the_endpoint_is_described_and_needs_a_bundle(world: World) -> None:
    client = world.client("registrar-a")
    operation = client.get(f"{PREFIX}/openapi.json").get_json()["paths"]["/fhir/Bundle"]["post"]
    assert set(operation["requestBody"]["content"]) == {"application/fhir+json", "application/json"}
    assert {"200", "201", "403", "409", "422"} <= set(operation["responses"])
    not_bundle = client.post(URL, json={"resourceType": "Patient"})
    assert not_bundle.status_code == 400
    assert not_bundle.get_json()["error"]["field"] == "resourceType"
    unknown = _post(client, _stay("nope"), "?registry=nope")
    assert unknown.status_code == 404 and unknown.get_json()["error"]["field"] == "registry"
