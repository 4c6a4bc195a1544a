"""The data-entry form over real HTTP on both databases: render, live logic, saves, refusals.

Callbacks are posted as Dash's renderer posts them, pattern-matching ids included, so each
test also passes the deny-by-default guard and the callback's own scope check. Records are
then read back from the database itself: what the form claims is checked against what was
written and audited.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import flask
import polars as pl
import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from app import create_app
from data_access.accounts import create_user, grant
from data_access.audit import SYSTEM
from data_access.database import Database
from data_access.models import AuditEvent, Registration
from entry.dictionary_model import Dictionary
from entry.national_id import synthetic_national_ids
from entry.registry_folder import read_registry_folder
from portal import ready_to_serve
from tests.conftest import PROJECT_ROOT, callback_headers, make_settings, render_page
from tests.integration.test_admin_pages import PASSWORD, log_in, text_of

HAMMERFEST, KIRKENES = 100001, 100002
FINNMARK = 983974880  # the trust over both
NATIONAL_ID = synthetic_national_ids(pl.Series([date(1950, 5, 17)]), pl.Series(["female"]), 7)[0]
STROKE = read_registry_folder(PROJECT_ROOT / "registries" / "stroke")
DICTIONARY: Dictionary = STROKE.dictionary
NEW = f"?registry=stroke&form=admission&unit={HAMMERFEST}"
PATH = "/registrations/form"
ADMISSION = {
    "admission_date": "01.03.2025",
    "arrival_datetime": "01.03.2025 10:00",
    "onset_known": "0",
    "age": "74",
    "sex": "2",
    "stroke_type": "1",
    "thrombolysis": "1",
    "thrombolysis_datetime": "01.03.2025 10:35",
}
CONTEXT = {"registry": "stroke", "form": "admission", "unit": HAMMERFEST, "id": None}


@pytest.fixture
def portal(tmp_path: Path, database_url: str) -> Iterator[flask.Flask]:
    """The application with two-factor login off, and users of two units of one trust."""
    server = create_app(make_settings(tmp_path, database_url, REQUIRE_TWO_FACTOR="false"))
    database: Database = server.extensions["database"]
    for username, role, unit in (
        ("hammerfest", "registrar", HAMMERFEST),
        ("kirkenes", "registrar", KIRKENES),
        ("doctor", "clinician", HAMMERFEST),
    ):
        create_user(database, SYSTEM, username, username.title(), PASSWORD)
        grant(database, SYSTEM, username, "stroke", unit, role)
    ready_to_serve(server)
    yield server
    database.dispose()


def db(server: flask.Flask) -> Database:
    database: Database = server.extensions["database"]
    return database


# ---- posting the form's callbacks as the browser does --------------------------------------


def callback_key(server: flask.Flask, marker: str) -> str:
    keys = [str(key) for key in server.extensions["dash"].callback_map if marker in key]
    assert len(keys) == 1, (marker, keys)
    return keys[0]


def _pattern(kind: str, names: list[str], prop: str, values: Mapping[str, object]) -> list[Any]:
    return [
        {"id": {"name": n, "type": kind}, "property": prop, "value": values.get(n)} for n in names
    ]


def _form_names(form: str, *, kind: str = "input") -> list[str]:
    variables = DICTIONARY.in_form(form)
    if kind == "input":
        return [v.name for v in variables if v.type not in ("calculated", "descriptive")]
    if kind == "calculated":
        return [v.name for v in variables if v.type == "calculated"]
    if kind == "warning":
        return [v.name for v in variables if any(r.severity == "warning" for r in v.validations)]
    return [v.name for v in variables]


def live(
    client: FlaskClient,
    server: flask.Flask,
    values: Mapping[str, object],
    context: Mapping[str, object] = CONTEXT,
    others: Mapping[str, object] | None = None,
) -> TestResponse:
    form = str(context["form"])
    body = {
        "output": "rf-live.data",
        "outputs": {"id": "rf-live", "property": "data"},
        "inputs": [
            _pattern("rf-field", _form_names(form), "value", values),
            {"id": "rf-attempt", "property": "data", "value": {"required": False}},
        ],
        "state": [
            _pattern("rf-ack", _form_names(form, kind="warning"), "value", {}),
            {"id": "rf-context", "property": "data", "value": dict(context)},
            {"id": "rf-others", "property": "data", "value": dict(others or {})},
            {"id": "rf-language", "property": "data", "value": "en"},
        ],
        "changedPropIds": ['{"name":"stroke_type","type":"rf-field"}.value'],
    }
    return client.post("/_dash-update-component", json=body, headers=callback_headers(client))


def save(
    client: FlaskClient,
    server: flask.Flask,
    values: Mapping[str, object],
    status: str = "draft",
    *,
    context: Mapping[str, object] = CONTEXT,
    version: int | None = None,
    national_id: str | None = NATIONAL_ID,
    reason: str = "",
    acknowledged: Mapping[str, list[str]] | None = None,
) -> TestResponse:
    key = callback_key(server, "rf-status.children")
    outputs = [
        {"id": part.rsplit(".", 1)[0], "property": part.rsplit(".", 1)[1]}
        for part in key.strip(".").split("...")
    ]
    form = str(context["form"])
    body = {
        "output": key,
        "outputs": outputs,
        "inputs": [
            [
                {
                    "id": {"status": s, "type": "rf-save"},
                    "property": "n_clicks",
                    "value": int(s == status),
                }
                for s in ("draft", "complete", "locked")
            ]
        ],
        "state": [
            _pattern("rf-field", _form_names(form), "value", values),
            _pattern("rf-ack", _form_names(form, kind="warning"), "value", acknowledged or {}),
            {"id": "rf-national-id", "property": "value", "value": national_id},
            {"id": "rf-reason", "property": "value", "value": reason},
            {"id": "rf-context", "property": "data", "value": dict(context)},
            {"id": "rf-version", "property": "data", "value": version},
            {"id": "rf-language", "property": "data", "value": "en"},
        ],
        "changedPropIds": [
            json.dumps({"status": status, "type": "rf-save"}, separators=(",", ":")) + ".n_clicks"
        ],
    }
    return client.post("/_dash-update-component", json=body, headers=callback_headers(client))


def answer(result: TestResponse) -> dict[str, Any]:
    assert result.status_code == 200, result.get_data(as_text=True)[:800]
    payload: dict[str, Any] = json.loads(result.get_data(as_text=True))["response"]
    return payload


def found(payload: Mapping[str, Any]) -> dict[str, Any]:
    """What the live check found (the store the browser hands to the fields)."""
    live: dict[str, Any] = payload["rf-live"]["data"]
    return live


def registrations(database: Database) -> list[Registration]:
    with database.reading() as session:
        return list(session.scalars(select(Registration).order_by(Registration.id)))


def audit_events(database: Database, prefix: str = "registration.") -> list[AuditEvent]:
    with database.reading() as session:
        found = session.scalars(
            select(AuditEvent).where(AuditEvent.action.startswith(prefix)).order_by(AuditEvent.id)
        )
        return list(found)


def saved_id(database: Database) -> int:
    rows = registrations(database)
    assert len(rows) == 1
    return rows[0].id


# ---- who sees the form -----------------------------------------------------------------------


def test_the_new_admission_form_is_drawn_from_the_dictionary(portal: flask.Flask) -> None:
    page = render_page(log_in(portal, "hammerfest"), PATH, NEW)
    text = text_of(json.loads(page))
    for variable in DICTIONARY.in_form("admission"):
        assert variable.label.nb in text, variable.name
    assert '"id":"rf-national-id"' in page
    assert "Akuttbehandling" in text  # a section header
    assert "Datoen pasienten kom til sykehuset med hjerneslaget." in text  # a help text
    assert "mmol/L" in text  # a unit
    # thrombolysis is hidden until an ischaemic stroke is chosen; its time too
    hidden = wrappers_hidden(json.loads(page))
    assert set(hidden) == {v.name for v in DICTIONARY.in_form("admission")}
    assert {name for name, flag in hidden.items() if flag} == {
        "onset_datetime",
        "thrombolysis",
        "thrombolysis_datetime",
        "thrombectomy",
        "no_thrombolysis_reason",
    }


def wrappers_hidden(tree: object) -> dict[str, bool]:
    """Each field wrapper's `hidden` in a rendered page, by variable."""
    found: dict[str, bool] = {}
    if isinstance(tree, list):
        for item in tree:
            found |= wrappers_hidden(item)
    elif isinstance(tree, dict):
        props = tree.get("props")
        props = props if isinstance(props, dict) else {}
        identity = props.get("id")
        if isinstance(identity, dict) and identity.get("type") == "rf-wrap":
            found[identity["name"]] = bool(props.get("hidden"))
        for value in tree.values():
            found |= wrappers_hidden(value)
    return found


@pytest.mark.parametrize(
    ("username", "search", "shown"),
    [
        (None, NEW, "login-prompt"),
        ("doctor", NEW, "rf-refusal"),  # a clinician reads but does not register
        ("kirkenes", NEW, "rf-refusal"),  # another unit's registrar
        ("hammerfest", "?registry=stroke&form=nonsense", "rf-refusal"),
    ],
)
def test_outsiders_get_no_form(
    portal: flask.Flask, username: str | None, search: str, shown: str
) -> None:
    page = render_page(log_in(portal, username), PATH, search)
    assert f'"id":"{shown}"' in page
    assert "rf-national-id" not in page and "rf-save" not in page


# ---- live logic ------------------------------------------------------------------------------


def test_logic_shows_fields_and_calculates_as_the_registrar_types(portal: flask.Flask) -> None:
    client = log_in(portal, "hammerfest")
    live_found = found(answer(live(client, portal, ADMISSION)))
    # onset not known; thrombolysis was given, so no reason for not giving it
    assert live_found["hidden"] == ["no_thrombolysis_reason", "onset_datetime"]
    assert live_found["calculated"] == {
        "onset_to_arrival_minutes": "",
        "door_to_needle_minutes": "35 min",
    }
    assert live_found["cleared"] == {}


def test_a_field_hidden_by_logic_is_cleared_and_saved_as_skipped(portal: flask.Flask) -> None:
    client = log_in(portal, "hammerfest")
    values = {**ADMISSION, "stroke_type": "2"}  # a haemorrhage: no thrombolysis
    cleared = found(answer(live(client, portal, values)))["cleared"]
    assert set(cleared) == {"thrombolysis", "thrombolysis_datetime"}  # drawn anew, empty
    assert cleared["thrombolysis_datetime"]["props"]["children"][1]["props"]["value"] == ""
    answer(save(client, portal, values))
    stored = registrations(db(portal))[0].values
    assert "thrombolysis" not in stored and "thrombolysis_datetime" not in stored
    assert {"thrombolysis", "thrombolysis_datetime", "thrombectomy"} <= set(stored["_skipped"])


def test_messages_and_warnings_appear_next_to_their_fields(portal: flask.Flask) -> None:
    client = log_in(portal, "hammerfest")
    values = {**ADMISSION, "thrombolysis_datetime": "01.03.2025 09:00", "age": "104", "sex": "x"}
    live_found = found(answer(live(client, portal, values)))
    messages = {k: text_of(v) for k, v in live_found["messages"].items()}
    assert "Thrombolysis cannot start before arrival" in messages["thrombolysis_datetime"]
    assert messages["age"].startswith("Warning:") and "check the date of birth" in messages["age"]
    assert "Error:" in messages["sex"]
    assert messages["stroke_type"] == ""
    assert live_found["warned"] == ["age"]


def test_the_other_forms_values_take_part_in_the_logic(portal: flask.Flask) -> None:
    client = log_in(portal, "hammerfest")
    context = {**CONTEXT, "form": "discharge", "id": 1, "status": "draft"}
    payload = answer(
        live(
            client,
            portal,
            {"discharge_date": "28.02.2025"},
            context,
            {"admission_date": "2025-03-01"},
        )
    )
    messages = found(payload)["messages"]
    assert "cannot be before the date of admission" in text_of(messages["discharge_date"])


# ---- saving ----------------------------------------------------------------------------------


def test_a_draft_is_saved_with_the_patient_and_audited_without_the_id(portal: flask.Flask) -> None:
    database = db(portal)
    payload = answer(save(log_in(portal, "hammerfest"), portal, ADMISSION))
    assert "Saved as draft (version 1)" in text_of(payload["rf-status"]["children"])
    assert payload["rf-version"]["data"] == 1
    assert payload["rf-context"]["data"]["id"] == saved_id(database)
    assert payload["rf-patient"]["children"] == f"National identity number: {NATIONAL_ID[:6]} *****"
    [row] = registrations(database)
    assert (row.status, row.unit_id, row.event_date) == ("draft", HAMMERFEST, date(2025, 3, 1))
    assert row.values["thrombolysis_datetime"] == "2025-03-01T10:35:00"
    [event] = audit_events(database)
    assert event.action == "registration.create" and event.object_id == str(row.id)
    with database.reading() as session:
        every_event = session.scalars(select(AuditEvent)).all()
        assert all(NATIONAL_ID not in json.dumps(e.details) for e in every_event)


@pytest.mark.parametrize(
    ("national_id", "message"),
    [
        ("", "Enter the patient's national identity number"),
        (NATIONAL_ID[:-1] + str((int(NATIONAL_ID[-1]) + 1) % 10), "check digit does not match"),
        ("1234", "must have 11 digits"),
    ],
)
def test_an_invalid_national_id_is_refused_without_echo(
    portal: flask.Flask, national_id: str, message: str
) -> None:
    result = save(log_in(portal, "hammerfest"), portal, ADMISSION, national_id=national_id)
    body = result.get_data(as_text=True)
    assert message in text_of(answer(result)["rf-national-id-message"]["children"])
    assert national_id == "" or national_id not in body
    assert registrations(db(portal)) == []


def test_completion_needs_every_form_and_a_changed_complete_record_a_reason(
    portal: flask.Flask,
) -> None:
    database, client = db(portal), log_in(portal, "hammerfest")
    refused = answer(save(client, portal, ADMISSION, "complete"))
    summary = text_of(refused["rf-summary"]["children"])
    assert "Date of discharge: The field is required. (Discharge)" in summary
    assert refused["rf-attempt"]["data"] == {"required": True}
    assert registrations(database) == []

    answer(save(client, portal, ADMISSION))
    registration_id = saved_id(database)
    discharge = {**CONTEXT, "form": "discharge", "id": registration_id, "status": "draft"}
    done = answer(
        save(
            client, portal, {"discharge_date": "08.03.2025", "died_in_hospital": "0"}, "complete",
            context=discharge, version=1, national_id=None,
        )
    )  # fmt: skip
    assert "Saved as complete (version 2)" in text_of(done["rf-status"]["children"])
    assert done["rf-reason-wrap"]["hidden"] is False

    complete = {**discharge, "status": "complete"}
    change = {"discharge_date": "09.03.2025", "died_in_hospital": "0"}
    asked = answer(save(client, portal, change, "complete", context=complete, version=2))
    assert "enter a reason" in text_of(asked["rf-status"]["children"])
    assert registrations(database)[0].values["discharge_date"] == "2025-03-08"

    changed = answer(
        save(client, portal, change, "complete", context=complete, version=2, reason="Typo")
    )
    assert changed["rf-version"]["data"] == 3
    update = audit_events(database)[-1]
    assert update.details["reason"] == "Typo"
    assert update.details["changes"]["discharge_date"] == {
        "old": "2025-03-08",
        "new": "2025-03-09",
    }


def test_a_warning_must_be_acknowledged_to_complete(portal: flask.Flask) -> None:
    client, database = log_in(portal, "hammerfest"), db(portal)
    values = {**ADMISSION, "age": "104"}
    answer(save(client, portal, values))
    context = {**CONTEXT, "id": saved_id(database), "status": "draft"}
    refused = answer(save(client, portal, values, "complete", context=context, version=1))
    assert "Age over 100 years" in text_of(refused["rf-summary"]["children"])
    acknowledged = {"age": ["age:rule1"]}
    discharge = {**context, "form": "discharge"}
    answer(
        save(client, portal, {"discharge_date": "08.03.2025", "died_in_hospital": "0"},
             context=discharge, version=1)
    )  # fmt: skip
    done = answer(
        save(
            client,
            portal,
            values,
            "complete",
            context=context,
            version=2,
            acknowledged=acknowledged,
        )
    )
    assert "Saved as complete" in text_of(done["rf-status"]["children"])
    assert registrations(database)[0].values["_acknowledged"] == ["age:rule1"]


def test_the_second_save_of_a_stale_version_is_refused(portal: flask.Flask) -> None:
    database = db(portal)
    first, second = log_in(portal, "hammerfest"), log_in(portal, "hammerfest")
    answer(save(first, portal, ADMISSION))
    context = {**CONTEXT, "id": saved_id(database), "status": "draft"}
    answer(save(first, portal, {**ADMISSION, "age": "75"}, context=context, version=1))
    refused = answer(save(second, portal, {**ADMISSION, "age": "76"}, context=context, version=1))
    assert "someone else changed the registration" in text_of(refused["rf-status"]["children"])
    assert "rf-version" not in refused and "rf-summary" not in refused
    assert "rf-field" not in json.dumps(refused)  # the typed values are left as they are
    assert registrations(database)[0].values["age"] == 75
    assert registrations(database)[0].version == 2


# ---- forged requests -------------------------------------------------------------------------


def test_forged_callbacks_for_another_units_record_get_nothing(portal: flask.Flask) -> None:
    database = db(portal)
    answer(save(log_in(portal, "hammerfest"), portal, ADMISSION))
    registration_id = saved_id(database)
    intruder = log_in(portal, "kirkenes")
    before = len(audit_events(database, ""))

    # Naming the record with the intruder's own unit: the command checks the record's unit.
    own_unit = {**CONTEXT, "unit": KIRKENES, "id": registration_id, "status": "draft"}
    refused = answer(save(intruder, portal, {"age": "1"}, context=own_unit, version=1))
    assert "do not have access" in text_of(refused["rf-status"]["children"])
    # Naming the record's real unit: refused before anything is computed.
    real_unit = {**own_unit, "unit": HAMMERFEST}
    refused = answer(save(intruder, portal, {"age": "1"}, context=real_unit, version=1))
    assert "do not have access" in text_of(refused["rf-status"]["children"])
    assert set(refused) == {"rf-status"}
    assert live(intruder, portal, ADMISSION, real_unit).status_code == 204
    # A new record at another unit.
    refused = answer(save(intruder, portal, ADMISSION))
    assert "do not have access" in text_of(refused["rf-status"]["children"])

    [row] = registrations(database)
    assert (row.version, row.values["age"]) == (1, 74)
    new = [e.action for e in audit_events(database, "")[before:]]
    assert "registration.update" not in new and "registration.view" not in new

    page = render_page(intruder, PATH, f"?registry=stroke&form=admission&id={registration_id}")
    assert '"id":"rf-refusal"' in page and NATIONAL_ID[:6] not in page


def test_an_anonymous_callback_is_refused_by_the_guard(portal: flask.Flask) -> None:
    anonymous = portal.test_client()
    assert live(anonymous, portal, ADMISSION).status_code == 401
    assert save(anonymous, portal, ADMISSION).status_code == 401
    assert registrations(db(portal)) == []


# ---- units and locked records ------------------------------------------------------------------


def test_a_registrar_of_several_units_chooses_one(portal: flask.Flask) -> None:
    create_user(db(portal), SYSTEM, "trust", "Trust", PASSWORD)
    grant(db(portal), SYSTEM, "trust", "stroke", FINNMARK, "registrar")
    page = render_page(log_in(portal, "trust"), PATH, "?registry=stroke&form=admission")
    assert '"id":"rf-units-heading"' in page and "rf-national-id" not in page
    assert f"unit={HAMMERFEST}" in page and f"unit={KIRKENES}" in page
    single = render_page(log_in(portal, "hammerfest"), PATH, "?registry=stroke&form=admission")
    assert '"id":"rf-national-id"' in single  # one unit: the form at once


def test_a_locked_record_changes_only_by_an_admin(portal: flask.Flask) -> None:
    database = db(portal)
    create_user(database, SYSTEM, "boss", "Boss", PASSWORD)
    for role in ("registrar", "admin"):
        grant(database, SYSTEM, "boss", "stroke", HAMMERFEST, role)
    registrar, boss = log_in(portal, "hammerfest"), log_in(portal, "boss")
    answer(save(registrar, portal, ADMISSION))
    registration_id = saved_id(database)
    context = {**CONTEXT, "id": registration_id, "status": "draft"}
    discharge = {"discharge_date": "08.03.2025", "died_in_hospital": "0"}
    answer(save(registrar, portal, discharge, context={**context, "form": "discharge"}, version=1))
    answer(save(registrar, portal, ADMISSION, "complete", context=context, version=2))

    search = f"?registry=stroke&form=admission&id={registration_id}"
    assert '"type":"rf-save","status":"locked"' not in render_page(registrar, PATH, search)
    assert '"type":"rf-save","status":"locked"' in render_page(boss, PATH, search)
    locked = {**context, "status": "complete"}
    answer(save(boss, portal, ADMISSION, "locked", context=locked, version=3))
    assert registrations(database)[0].status == "locked"

    page = render_page(registrar, PATH, search)
    assert "rf-save" not in page and "You can read" not in page  # bokmål page, read-only
    assert "men ikke endre den" in text_of(json.loads(page))
    refused = answer(save(registrar, portal, ADMISSION, "complete", context=locked, version=4))
    assert "do not have access" in text_of(refused["rf-status"]["children"])
    changed = {**ADMISSION, "age": "75"}
    asked = answer(
        save(boss, portal, changed, "locked", context={**locked, "status": "locked"}, version=4)
    )
    assert "enter a reason" in text_of(asked["rf-status"]["children"])
    answer(
        save(boss, portal, changed, "locked", context={**locked, "status": "locked"}, version=4,
             reason="Corrected after audit")
    )  # fmt: skip
    assert registrations(database)[0].values["age"] == 75
