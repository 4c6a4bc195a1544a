"""The access matrix: every route and every Dash callback, called as every kind of user.

Each is called with forged inputs that name other units, records, users and the other
registry. Nothing outside the caller's scope may come back: no route or callback without an
access decision, no protected callback for someone who lacks the right, and no marker of
another unit's or another registry's patients in any response (both registries hold
patients at the same units, so only the registry tells them apart). Adding a route or
callback without a decision fails here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dash
import flask
import polars as pl
import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from data_access.access import scope_for_user
from data_access.accounts import create_user, find_user_id, grant
from data_access.api_tokens import create_token
from data_access.audit import SYSTEM
from data_access.database import Database
from data_access.models import Patient, Registration, Registry
from data_access.patient_identity import NationalIdCipher, pseudonym
from data_access.reference_data import ensure_registry
from entry.national_id import mask_national_id, synthetic_national_ids
from portal import ready_to_serve
from portal.auth.guard import callback_requirement, route_requirement, satisfies
from tests.conftest import callback_headers, make_settings
from tests.integration.test_login import PASSWORD, csrf_token

UNIT_A = 100032  # Ullevål, Oslo universitetssykehus
UNIT_B = 100024  # Haukeland, Helse Bergen
REGISTRIES = ("stroke", "hipfracture")
PERSONAS = {
    "anonymous": None,
    "clinician_a": ("clinician", UNIT_A, "stroke"),
    "clinician_b": ("clinician", UNIT_B, "stroke"),
    "registrar_a": ("registrar", UNIT_A, "stroke"),
    "analyst": ("analyst", 1, "stroke"),
    "admin": ("admin", 1, "stroke"),
    "hip_registrar_a": ("registrar", UNIT_A, "hipfracture"),
    "hip_analyst": ("analyst", 1, "hipfracture"),
}


@dataclass(frozen=True)
class World:
    app: flask.Flask
    database: Database
    markers: dict[tuple[str, int], list[str]]  # (registry, unit) -> what names its patients


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[World]:
    from app import create_app

    settings = make_settings(tmp_path, database_url, REQUIRE_TWO_FACTOR="false")
    server = create_app(settings)
    database: Database = server.extensions["database"]
    for registry in REGISTRIES:  # installed ones are there already; this names the others
        ensure_registry(database, registry, registry, registry)
    for name, role in PERSONAS.items():
        if role is not None:
            create_user(database, SYSTEM, name.replace("_", "-"), name.title(), PASSWORD)
            grant(database, SYSTEM, name.replace("_", "-"), role[2], role[1], role[0])
    markers = _patients(database, settings.national_id_key, settings.pseudonym_key)
    yield World(server, database, markers)
    database.dispose()


def _patients(
    database: Database, id_key: bytes, link_key: bytes
) -> dict[tuple[str, int], list[str]]:
    births = pl.Series([date(1950, 3, 4), date(1961, 7, 8), date(1944, 1, 2), date(1939, 9, 10)])
    ids = synthetic_national_ids(births, pl.Series(["female", "male"] * 2), seed=3)
    places = [(registry, unit) for registry in REGISTRIES for unit in (UNIT_A, UNIT_B)]
    cipher = NationalIdCipher(id_key)
    markers: dict[tuple[str, int], list[str]] = {}
    with database.transaction() as session:
        for (registry, unit), national_id, born in zip(places, ids, births, strict=True):
            patient = Patient(
                pseudonym=pseudonym(national_id, link_key),
                national_id_encrypted=cipher.encrypt(national_id),
                birth_date=born,
                sex="female",
            )
            session.add(patient)
            session.flush()
            session.add(
                Registration(
                    registry_id=session.query(Registry.id).filter_by(key=registry).scalar(),
                    unit_id=unit,
                    patient_id=patient.id,
                    event_date=date(2025, 5, 1),
                    status="complete",
                    values={"admission_date": "2025-05-01", "nihss_admission": 17},
                )
            )
            markers[(registry, unit)] = [
                mask_national_id(national_id),
                national_id,
                patient.pseudonym,
            ]
    return markers


def _client(world: World, persona: str) -> FlaskClient:
    client = world.app.test_client()
    if PERSONAS[persona] is not None:
        form = {
            "username": persona.replace("_", "-"),
            "password": PASSWORD,
            "csrf_token": csrf_token(client),
        }
        assert client.post("/login", data=form).status_code == 302
    return client


def _forbidden_markers(world: World, persona: str) -> list[str]:
    """Markers of every patient this persona may not see: all of them outside the units
    whose records it reads, but an analyst's export carries the pseudonyms of its units."""
    role = PERSONAS[persona]
    if role is None:
        return [m for values in world.markers.values() for m in values]
    user_id = find_user_id(world.database, persona.replace("_", "-"))
    scope = scope_for_user(world.database, user_id)
    forbidden = []
    for (registry, unit), (masked, national_id, linked) in world.markers.items():
        if not scope.may_read_records(registry, unit):
            forbidden += [masked, national_id]
            if unit not in scope.units(registry, "analyst"):
                forbidden.append(linked)
    return forbidden


def _callbacks(app: flask.Flask) -> dict[str, dict[str, object]]:
    dash_app: dash.Dash = app.extensions["dash"]
    ready_to_serve(app)
    return dict(dash_app.callback_map)


def _forged_value(prop: str) -> object:
    """A value that names something out of scope, shaped for the property."""
    if prop in {"n_clicks", "n_submit"}:
        return 1
    if prop in {"pathname"}:
        return "/admin/users"
    if prop in {"search"}:
        return f"?registry=hipfracture&unit={UNIT_B}&registration=2&user=1"
    if prop in {"start_date", "end_date", "date"}:
        return "2025-01-01"
    return UNIT_B


def _forged_request(output: str, spec: dict[str, object]) -> dict[str, object]:
    def items(key: str) -> list[dict[str, object]]:
        entries = spec.get(key) or []
        assert isinstance(entries, list)
        return [
            {"id": e["id"], "property": e["property"], "value": _forged_value(str(e["property"]))}
            for e in entries
        ]

    inputs = items("inputs")
    outputs = [
        {"id": part.split(".")[0], "property": part.split(".")[1]}
        for part in output.strip(".").split("...")
    ]
    return {
        "output": output,
        # As Dash's renderer sends it: a list for a multi-output callback (`..a.b...c.d..`),
        # a single object otherwise (a list there makes Dash fail with a 500).
        "outputs": outputs if output.startswith("..") else outputs[0],
        "inputs": inputs,
        "state": items("state"),
        "changedPropIds": [f"{i['id']}.{i['property']}" for i in inputs[:1]],
    }


def test_every_route_has_an_access_decision(world: World) -> None:
    missing = [
        rule.rule
        for rule in world.app.url_map.iter_rules()
        if route_requirement(world.app, rule.endpoint) is None
    ]
    assert missing == []


def test_every_callback_has_an_access_decision(world: World) -> None:
    missing = [o for o in _callbacks(world.app) if callback_requirement(o) is None]
    assert missing == []


@pytest.mark.parametrize("persona", list(PERSONAS))
def test_every_callback_with_forged_inputs(world: World, persona: str) -> None:
    client = _client(world, persona)
    headers = callback_headers(client)
    forbidden = _forbidden_markers(world, persona)
    scope_is_anonymous = PERSONAS[persona] is None
    for output, spec in _callbacks(world.app).items():
        if spec.get("clientside_function") or output == "_pages_dummy.children":
            continue  # runs in the browser only; the server has nothing to answer
        response = client.post(
            "/_dash-update-component", json=_forged_request(output, spec), headers=headers
        )
        requirement = callback_requirement(output)
        assert requirement is not None
        body = response.get_data(as_text=True)
        assert response.status_code != 500, (persona, output, body[:300])
        for marker in forbidden:
            assert marker not in body, (persona, output, marker)
        if requirement != "public" and scope_is_anonymous:
            assert response.status_code == 401, (persona, output)


@pytest.mark.parametrize("persona", list(PERSONAS))
def test_every_page_with_forged_query(world: World, persona: str) -> None:
    client = _client(world, persona)
    headers = callback_headers(client)
    forbidden = _forbidden_markers(world, persona)
    for page in dash.page_registry.values():
        for search in (
            "",
            f"?unit={UNIT_B}&registration=2",
            f"?lang=en&unit={UNIT_A}",
            f"?registry=hipfracture&unit={UNIT_A}&registration=3",
        ):
            request = _forged_request(
                ".._pages_content.children..._pages_store.data..",
                {
                    "inputs": [
                        {"id": "_pages_location", "property": "pathname"},
                        {"id": "_pages_location", "property": "search"},
                    ]
                },
            )
            request["inputs"][0]["value"] = page["path"]  # type: ignore[index]
            request["inputs"][1]["value"] = search  # type: ignore[index]
            response = client.post("/_dash-update-component", json=request, headers=headers)
            body = response.get_data(as_text=True)
            assert response.status_code == 200, (persona, page["path"], body[:300])
            for marker in forbidden:
                assert marker not in body, (persona, page["path"], marker)


@pytest.mark.parametrize("persona", list(PERSONAS))
def test_every_route_as_every_persona(world: World, persona: str) -> None:
    client = _client(world, persona)
    forbidden = _forbidden_markers(world, persona)
    for rule in world.app.url_map.iter_rules():
        if "<" in rule.rule or "GET" not in (rule.methods or set()):
            continue
        response = client.get(rule.rule)
        body = response.get_data()  # bytes: some routes serve images
        assert response.status_code in {200, 302, 401, 403, 404, 405}, (persona, rule.rule)
        for marker in forbidden:
            assert marker.encode() not in body, (persona, rule.rule, marker)


def test_the_matrix_refuses_an_undecided_callback(world: World) -> None:
    """A callback registered without `guarded_callback` is refused for everyone."""
    client = _client(world, "admin")
    body = _forged_request("made-up-output.children", {"inputs": []})
    response = client.post("/_dash-update-component", json=body, headers=callback_headers(client))
    assert response.status_code == 403
    assert json.loads(response.get_data(as_text=True)) == {
        "error": "no access decision for this callback"
    }


@pytest.mark.parametrize(
    ("persona", "requirement", "allowed"),
    [
        ("anonymous", "authenticated", False),
        ("clinician_a", "authenticated", True),
        ("clinician_a", "admin", False),
        ("analyst", "installation_admin", False),
        ("admin", "admin", True),
        ("admin", "installation_admin", True),
    ],
)
def test_requirements_follow_the_grants(
    world: World, persona: str, requirement: str, allowed: bool
) -> None:
    from data_access.access import ANONYMOUS

    scope = (
        ANONYMOUS
        if PERSONAS[persona] is None
        else scope_for_user(world.database, find_user_id(world.database, persona.replace("_", "-")))
    )
    assert satisfies(scope, requirement) is allowed  # type: ignore[arg-type]


def test_a_refused_logged_in_user_is_audited(world: World) -> None:
    from sqlalchemy import select

    from data_access.models import AuditEvent

    client = _client(world, "clinician_a")
    admin_callbacks = [o for o in _callbacks(world.app) if callback_requirement(o) == "admin"]
    assert admin_callbacks, "the admin pages register admin callbacks"
    output = admin_callbacks[0]
    request = _forged_request(output, _callbacks(world.app)[output])
    response = client.post(
        "/_dash-update-component", json=request, headers=callback_headers(client)
    )
    assert response.status_code == 403
    with world.database.reading() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "access.denied")
        ).one()
    assert event.username == "clinician-a" and event.details["requirement"] == "admin"


@pytest.mark.parametrize("persona", list(PERSONAS))
def test_registry_routes_as_every_persona(world: World, persona: str) -> None:
    """Exports and the API name their registry in the path: a grant on one registry opens
    nothing of the other, whichever registry the address names."""
    client = _client(world, persona)
    forbidden = _forbidden_markers(world, persona)
    with world.database.reading() as session:
        ids = session.scalars(select(Registration.id)).all()
    addresses = [
        f"/export/{registry}.{fmt}?variables=admission_date&pseudonyms=1"
        for registry in REGISTRIES
        for fmt in ("csv", "parquet")
    ] + [f"/api/v1/registries/{r}/registrations/{i}" for r in REGISTRIES for i in ids]
    for registry in REGISTRIES:
        addresses += [
            f"/api/v1/registries/{registry}/{what}" for what in ("registrations", "results")
        ]
    role = PERSONAS[persona]
    if role is not None and role[0] != "admin":  # its own API token: own registry and units
        moment = datetime.now(UTC)
        token = create_token(
            world.database, None, SYSTEM, name=f"{persona} token", registry_key=role[2],
            role=role[0], unit_ids=[role[1]], expires_at=moment + timedelta(days=1),
            owner_user_id=find_user_id(world.database, persona.replace("_", "-")), moment=moment,
        ).secret  # fmt: skip
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    for address in addresses:
        response = client.get(address)
        assert response.status_code in {200, 400, 401, 403, 404}, (persona, address)
        body = response.get_data()
        for marker in forbidden:
            assert marker.encode() not in body, (persona, address, marker)
