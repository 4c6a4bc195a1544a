"""The admin pages over real HTTP on both databases: who may open them, what each action does.

Callbacks are called as Dash's renderer calls them (the forged request of `dash_call`,
built from the app's own callback map), so each test also covers the deny-by-default
guard in front of the callback and the check the callback makes itself.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_args

import flask
import pyotp
import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from app import create_app
from data_access.access import ROLES
from data_access.accounts import AccountErrorCode, create_user, grant, list_grants, list_users
from data_access.audit import SYSTEM, Actor
from data_access.database import Database
from data_access.models import UNIT_LEVELS, AuditEvent
from data_access.passwords import PasswordProblem
from data_access.reference_data import ensure_registry
from data_access.two_factor import begin_enrolment, confirm_enrolment, has_two_factor
from portal import ready_to_serve
from portal.auth.guard import CALLBACK_ACCESS, callback_requirement
from portal.components.admin_tables import LOCAL_TIME
from portal.i18n import translate
from tests.conftest import callback_headers, make_settings, render_page
from tests.integration.test_login import csrf_token

PASSWORD = "korrekt-hest-batteri-stift"
NEW_PASSWORD = "blå-elg-i-tåkete-skog"
NATION = 1
TRUST_FINNMARK = 983974880
HAMMERFEST = 100001  # department of Finnmarkssykehuset HF
ULLEVAL = 100032  # department of Oslo universitetssykehus HF, another region

# The first output of each admin callback (how the tests name them) and its requirement.
USERS_CREATE = "admin-users-create-status.children"
USERS_MANAGE = "admin-users-manage-status.children"
GRANTS_ADD = "admin-grants-add-status.children"
GRANTS_REVOKE = "admin-grants-list-status.children"
AUDIT_SHOW = "admin-audit-table.children"
AUDIT_EXPORT = "admin-audit-download.data"
ADMIN_CALLBACKS = {
    USERS_CREATE: "installation_admin",
    USERS_MANAGE: "installation_admin",
    GRANTS_ADD: "admin",
    GRANTS_REVOKE: "admin",
    AUDIT_SHOW: "installation_admin",
    AUDIT_EXPORT: "installation_admin",
}
PAGES = {
    "/admin/users": "installation_admin",
    "/admin/grants": "admin",
    "/admin/audit": "installation_admin",
}


# ---- the world ------------------------------------------------------------------------------


@pytest.fixture
def portal(tmp_path: Path, database_url: str) -> Iterator[flask.Flask]:
    """The application with two-factor login off, so admins log in with a password alone."""
    server = create_app(make_settings(tmp_path, database_url, REQUIRE_TWO_FACTOR="false"))
    database: Database = server.extensions["database"]
    for username, name in (
        ("root", "Rut Rot"),
        ("finnmark", "Finn Mark"),
        ("reader", "Rita Reader"),
        ("doctor", "Dora Doktor"),
        ("target", "Tor Target"),
    ):
        create_user(database, SYSTEM, username, name, PASSWORD)
    grant(database, SYSTEM, "root", "stroke", NATION, "admin")
    grant(database, SYSTEM, "finnmark", "stroke", TRUST_FINNMARK, "admin")
    grant(database, SYSTEM, "doctor", "stroke", ULLEVAL, "clinician")
    ready_to_serve(server)
    yield server
    database.dispose()


def db(server: flask.Flask) -> Database:
    database: Database = server.extensions["database"]
    return database


def post_form(client: FlaskClient, path: str, **form: str) -> TestResponse:
    """Submit one of the login views' forms, with the CSRF token its page holds."""
    return client.post(path, data={**form, "csrf_token": csrf_token(client, path)})


def log_in(server: flask.Flask, username: str | None) -> FlaskClient:
    """A client logged in as `username` (None: anonymous) that has loaded the page shell."""
    client = server.test_client()
    if username is not None:
        response = post_form(client, "/login", username=username, password=PASSWORD)
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
    client.get("/")
    return client


def callback_key(server: flask.Flask, first_output: str) -> str:
    """The callback map's key of the callback whose first output is `first_output`."""
    keys = [
        key
        for key in server.extensions["dash"].callback_map
        if key.strip(".").split("...")[0].split("@")[0] == first_output
    ]
    assert len(keys) == 1, (first_output, keys)
    return keys[0]


def dash_call(
    client: FlaskClient,
    server: flask.Flask,
    first_output: str,
    values: Mapping[str, Any],
    changed: str | None = None,
) -> TestResponse:
    """POST what Dash's renderer posts for a callback: every input and state, by id.

    `values` maps "id.property" to a value; a pattern-matching input takes a list of
    `{"id": {...}, "value": ...}` under its pattern's "id.property". `changed` is the
    "id.property" that triggered the call (None: the call made when the page opens).
    """
    key = callback_key(server, first_output)
    spec = server.extensions["dash"].callback_map[key]

    def filled(dependency: Mapping[str, str]) -> dict[str, Any] | list[dict[str, Any]]:
        name = f"{dependency['id']}.{dependency['property']}"
        if dependency["id"].startswith("{"):
            return [
                {"id": item["id"], "property": dependency["property"], "value": item["value"]}
                for item in values.get(name, [])
            ]
        return {**dependency, "value": values.get(name)}

    outputs = []
    for output in key.strip(".").split("..."):
        component, prop = output.rsplit(".", 1)
        outputs.append({"id": component, "property": prop})
    body = {
        "output": key,
        "outputs": outputs,
        "inputs": [filled(d) for d in spec["inputs"]],
        "state": [filled(d) for d in spec["state"]],
        "changedPropIds": [changed] if changed else [],
    }
    return client.post("/_dash-update-component", json=body, headers=callback_headers(client))


def response_of(result: TestResponse) -> dict[str, Any]:
    assert result.status_code == 200, result.get_data(as_text=True)[:500]
    payload: dict[str, Any] = json.loads(result.get_data(as_text=True))["response"]
    return payload


def text_of(tree: object) -> str:
    """All the text in a rendered component tree (or any JSON), in document order."""
    if isinstance(tree, str):
        return tree
    if isinstance(tree, Mapping):
        props = tree.get("props")
        if isinstance(props, Mapping):
            return text_of(props.get("children"))
        return " ".join(text_of(value) for value in tree.values())
    if isinstance(tree, list):
        return " ".join(text_of(item) for item in tree)
    return "" if tree is None else str(tree)


def events(database: Database, action: str) -> list[AuditEvent]:
    with database.reading() as session:
        found = session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
        return list(found)


def event_count(database: Database) -> int:
    with database.reading() as session:
        return int(session.scalar(select(func.count(AuditEvent.id))) or 0)


def user_row(database: Database, username: str) -> dict[str, Any]:
    users = list_users(database)
    rows = users.filter(users["username"] == username).to_dicts()
    assert len(rows) == 1, username
    return rows[0]


# ---- who may open the pages and call the callbacks -----------------------------------------


def test_every_admin_callback_has_its_access_decision(portal: flask.Flask) -> None:
    keys = [key for key in portal.extensions["dash"].callback_map if "admin-" in key]
    assert len(keys) == len(ADMIN_CALLBACKS)
    for first_output, requirement in ADMIN_CALLBACKS.items():
        assert callback_requirement(callback_key(portal, first_output)) == requirement


@pytest.mark.parametrize("path", list(PAGES))
@pytest.mark.parametrize(
    ("username", "shown"),
    [(None, "login-prompt"), ("reader", "admin-not-allowed"), ("doctor", "admin-not-allowed")],
)
def test_outsiders_get_a_login_prompt_or_a_refusal(
    portal: flask.Flask, path: str, username: str | None, shown: str
) -> None:
    page = render_page(log_in(portal, username), path, "")
    assert f'"id":"{shown}"' in page
    assert "Tor Target" not in page and "Rut Rot" not in page  # no list of users leaks


@pytest.mark.parametrize(("path", "requirement"), list(PAGES.items()))
def test_a_trust_admin_opens_only_the_grants_page(
    portal: flask.Flask, path: str, requirement: str
) -> None:
    page = render_page(log_in(portal, "finnmark"), path, "")
    allowed = requirement == "admin"
    assert ('"id":"admin-not-allowed"' not in page) is allowed
    assert ("admin-grants-add" in page) is allowed


# Inputs that would do harm if a callback ran for someone not allowed to call it.
HARMFUL: dict[str, tuple[dict[str, Any], str | None]] = {
    USERS_CREATE: (
        {
            "admin-users-create.n_clicks": 1,
            "admin-users-new-username.value": "intruder",
            "admin-users-new-name.value": "In Truder",
            "admin-users-new-password.value": PASSWORD,
        },
        "admin-users-create.n_clicks",
    ),
    USERS_MANAGE: (
        {"admin-users-disable.n_clicks": 1, "admin-users-target.value": "root"},
        "admin-users-disable.n_clicks",
    ),
    GRANTS_ADD: (
        {
            "admin-grants-give-admin.n_clicks": 1,
            "admin-grants-registry.data": "stroke",
            "admin-grants-user.value": "reader",
            "admin-grants-unit.value": str(NATION),
        },
        "admin-grants-give-admin.n_clicks",
    ),
    GRANTS_REVOKE: ({}, None),  # filled in the test: needs a grant id
    AUDIT_SHOW: ({"admin-audit-show.n_clicks": 1}, "admin-audit-show.n_clicks"),
    AUDIT_EXPORT: ({"admin-audit-export.n_clicks": 1}, "admin-audit-export.n_clicks"),
}


# Everyone who may not call each callback; a trust admin may call the grants callbacks, whose
# check of each unit is tested further down.
OUTSIDERS = [
    (first_output, username)
    for first_output, requirement in ADMIN_CALLBACKS.items()
    for username in (None, "reader", "doctor", "finnmark")
    if not (username == "finnmark" and requirement == "admin")
]


@pytest.mark.parametrize(("first_output", "username"), OUTSIDERS)
def test_admin_callbacks_refuse_outsiders(
    portal: flask.Flask, first_output: str, username: str | None
) -> None:
    database = db(portal)
    values, changed = HARMFUL[first_output]
    if first_output == GRANTS_REVOKE:
        values, changed = _revoke_press(_grant_id(database, "doctor", ULLEVAL))
    before = event_count(database)
    grants_before = list_grants(database).height
    result = dash_call(log_in(portal, username), portal, first_output, values, changed)
    assert result.status_code == (401 if username is None else 403)
    assert "target" not in result.get_data(as_text=True)
    # Nothing happened: no new account, no grant given or taken; only the login and, for a
    # logged-in outsider, the refusal itself are written down.
    assert "intruder" not in list_users(database)["username"].to_list()
    assert user_row(database, "root")["is_active"]
    assert list_grants(database).height == grants_before
    new_actions = {e.action for e in events_since(database, before)}
    expected = set() if username is None else {"login.success", "access.denied"}
    assert new_actions == expected


# What each callback says when it runs for someone its own check refuses.
OWN_CHECK = {
    USERS_CREATE: ("admin-users-create-status", "You do not have access"),
    USERS_MANAGE: ("admin-users-manage-status", "You do not have access"),
    GRANTS_ADD: ("admin-grants-add-status", "only give grants on units you administer"),
    GRANTS_REVOKE: ("admin-grants-list-status", "No such grant"),
    AUDIT_SHOW: ("admin-audit-status", "You do not have access"),
    AUDIT_EXPORT: ("admin-audit-status", "You do not have access"),
}


@pytest.mark.parametrize("first_output", list(OWN_CHECK))
def test_callbacks_check_the_scope_themselves(
    portal: flask.Flask, monkeypatch: pytest.MonkeyPatch, first_output: str
) -> None:
    """Were the guard's decision too lax, each callback would still refuse on its own."""
    database = db(portal)
    monkeypatch.setitem(CALLBACK_ACCESS, callback_key(portal, first_output), "authenticated")
    values, changed = HARMFUL[first_output]
    if first_output == GRANTS_REVOKE:
        values, changed = _revoke_press(_grant_id(database, "doctor", ULLEVAL))
    client = log_in(portal, "reader")
    before, grants_before = event_count(database), list_grants(database).height
    result = response_of(dash_call(client, portal, first_output, values | LANGUAGE_EN, changed))
    status, message = OWN_CHECK[first_output]
    assert message in text_of(result[status])
    assert "admin-audit-download" not in result
    assert not result.get("admin-audit-table", {}).get("children")
    assert "intruder" not in list_users(database)["username"].to_list()
    assert user_row(database, "root")["is_active"]
    assert list_grants(database).height == grants_before
    assert event_count(database) == before


LANGUAGE_EN = {f"admin-{page}-language.data": "en" for page in ("users", "grants", "audit")}


def test_a_password_alone_is_not_enough_for_an_admin(app: flask.Flask) -> None:
    """With two-factor login required, a password-only session is anonymous to the admin pages."""
    database = db(app)
    create_user(database, SYSTEM, "root", "Rut Rot", PASSWORD)
    grant(database, SYSTEM, "root", "stroke", NATION, "admin")
    client = app.test_client()
    response = post_form(client, "/login", username="root", password=PASSWORD)
    assert response.headers["Location"].startswith("/login/enrol")
    client.get("/")
    assert '"id":"login-prompt"' in render_page(client, "/admin/users", "")
    values, changed = HARMFUL[USERS_CREATE]
    assert dash_call(client, app, USERS_CREATE, values, changed).status_code == 401


def test_a_two_factor_admin_reaches_the_pages(app: flask.Flask) -> None:
    """The whole login with TOTP (the default setting) opens the admin pages."""
    database = db(app)
    create_user(database, SYSTEM, "root", "Rut Rot", PASSWORD)
    grant(database, SYSTEM, "root", "stroke", NATION, "admin")
    client = app.test_client()
    post_form(client, "/login", username="root", password=PASSWORD)
    token = csrf_token(client, "/login/enrol")  # opening the page makes the secret
    with client.session_transaction() as cookie_session:
        secret = cookie_session["totp_enrolment_secret"]
    code = pyotp.TOTP(secret).now()
    client.post("/login/enrol", data={"code": code, "csrf_token": token})
    client.get("/")
    assert "admin-users-create" in render_page(client, "/admin/users", "")


# ---- users ----------------------------------------------------------------------------------


def create_values(username: str, name: str, password: str, email: str = "") -> dict[str, Any]:
    return {
        "admin-users-create.n_clicks": 1,
        "admin-users-new-username.value": username,
        "admin-users-new-name.value": name,
        "admin-users-new-email.value": email,
        "admin-users-new-password.value": password,
        "admin-users-language.data": "en",
    }


def test_admin_creates_a_user_who_can_log_in(portal: flask.Flask) -> None:
    client = log_in(portal, "root")
    result = response_of(
        dash_call(
            client,
            portal,
            USERS_CREATE,
            create_values(" Nina ", "Nina Ny", PASSWORD, "nina@example.no"),
            "admin-users-create.n_clicks",
        )
    )
    status = text_of(result["admin-users-create-status"]["children"])
    assert "The user nina has been created" in status
    assert "nina@example.no" in text_of(result["admin-users-table"]["children"])
    assert result["admin-users-new-password"]["value"] == ""
    suggested = [option["props"]["value"] for option in result["admin-users-names"]["children"]]
    assert "nina" in suggested
    created = events(db(portal), "user.create")[-1]
    assert (created.username, created.details["username"]) == ("root", "nina")
    log_in(portal, "nina")  # the initial password works


@pytest.mark.parametrize(
    ("username", "name", "password", "email", "message"),
    [
        ("Ab", "Kort Navn", PASSWORD, "", "The user name must be 3 to 80 characters"),
        ("target", "Tor Igjen", PASSWORD, "", "The user name is already taken."),
        ("nina", "Nina Ny", "kort", "", "shorter than 12 characters"),
        ("nina", "Nina Ny", "nina", "", "it is the same as the user name"),
        ("nina", "Nina Ny", PASSWORD, "ikke-en-adresse", "The e-mail address must have"),
        ("nina", "   ", PASSWORD, "", "The name must be 1 to 200 characters."),
    ],
)
def test_refused_new_users_say_why(
    portal: flask.Flask, username: str, name: str, password: str, email: str, message: str
) -> None:
    client = log_in(portal, "root")
    before = len(events(db(portal), "user.create"))
    values = create_values(username, name, password, email)
    result = response_of(
        dash_call(client, portal, USERS_CREATE, values, "admin-users-create.n_clicks")
    )
    assert message in text_of(result["admin-users-create-status"]["children"])
    assert "admin-users-table" not in result
    assert len(events(db(portal), "user.create")) == before


def manage(
    client: FlaskClient, server: flask.Flask, button: str, username: str, **extra: Any
) -> str:
    values = {
        f"{button}.n_clicks": 1,
        "admin-users-target.value": username,
        "admin-users-language.data": "en",
        **extra,
    }
    result = response_of(dash_call(client, server, USERS_MANAGE, values, f"{button}.n_clicks"))
    return text_of(result["admin-users-manage-status"]["children"])


def test_disable_and_enable_are_audited_and_take_effect(portal: flask.Flask) -> None:
    database = db(portal)
    victim = log_in(portal, "target")
    root = log_in(portal, "root")
    assert "is disabled" in manage(root, portal, "admin-users-disable", "target")
    assert not user_row(database, "target")["is_active"]
    assert events(database, "user.disable")[-1].username == "root"
    # The disabled user's open session is over at once.
    assert '"id":"login-prompt"' in render_page(victim, "/admin/users", "")
    assert "was disabled already" in manage(root, portal, "admin-users-disable", "target")
    assert "can log in again" in manage(root, portal, "admin-users-enable", "target")
    assert user_row(database, "target")["is_active"]
    assert events(database, "user.enable")[-1].details["username"] == "target"
    log_in(portal, "target")


def test_an_admin_cannot_disable_itself(portal: flask.Flask) -> None:
    root = log_in(portal, "root")
    assert "your own user" in manage(root, portal, "admin-users-disable", "root")
    assert user_row(db(portal), "root")["is_active"]


def test_reset_password(portal: flask.Flask) -> None:
    database = db(portal)
    root = log_in(portal, "root")
    differ = manage(
        root,
        portal,
        "admin-users-reset-password",
        "target",
        **{
            "admin-users-password.value": NEW_PASSWORD,
            "admin-users-password-repeat.value": NEW_PASSWORD + "x",
        },
    )
    assert "differ" in differ and not events(database, "password.reset")
    weak = manage(
        root,
        portal,
        "admin-users-reset-password",
        "target",
        **{"admin-users-password.value": "target", "admin-users-password-repeat.value": "target"},
    )
    assert "cannot be used" in weak and "same as the user name" in weak
    done = manage(
        root,
        portal,
        "admin-users-reset-password",
        "target",
        **{
            "admin-users-password.value": NEW_PASSWORD,
            "admin-users-password-repeat.value": NEW_PASSWORD,
        },
    )
    assert "has a new password" in done
    reset = events(database, "password.reset")[-1]
    assert (reset.username, reset.details["username"]) == ("root", "target")
    assert NEW_PASSWORD not in json.dumps(reset.details)
    login = post_form(portal.test_client(), "/login", username="target", password=NEW_PASSWORD)
    assert login.status_code == 302


def test_reset_two_factor(portal: flask.Flask) -> None:
    database = db(portal)
    target = user_row(database, "target")["user_id"]
    enrolment = begin_enrolment("target", "test")
    key = portal.config["PORTAL_SETTINGS"].national_id_key
    moment = datetime.now(UTC)
    code = pyotp.TOTP(enrolment.secret).at(moment)
    actor = Actor(user_id=target, username="target")
    confirm_enrolment(database, actor, target, enrolment.secret, code, key, moment)
    assert user_row(database, "target")["has_two_factor"]
    root = log_in(portal, "root")
    assert "has been reset" in manage(root, portal, "admin-users-reset-two-factor", "target")
    assert not has_two_factor(database, target)
    reset = events(database, "totp.reset")[-1]
    assert (reset.username, reset.object_id) == ("root", str(target))


def test_unknown_user_is_named_as_such(portal: flask.Flask) -> None:
    root = log_in(portal, "root")
    before = event_count(db(portal))
    assert "There is no user" in manage(root, portal, "admin-users-disable", "nobody")
    assert {e.action for e in events_since(db(portal), before)} == set()


def test_the_user_table_shows_no_secrets(portal: flask.Flask) -> None:
    page = render_page(log_in(portal, "root"), "/admin/users", "")
    assert "Tor Target" in page
    assert "$argon2" not in page and "password_hash" not in page and "totp" not in page


# ---- grants ---------------------------------------------------------------------------------


def add(
    client: FlaskClient,
    server: flask.Flask,
    username: str,
    unit: object,
    role: str,
    registry: str = "stroke",
) -> str:
    """Press the button that gives `role` (a forged one for a role without a button)."""
    pressed = f"admin-grants-give-{role}.n_clicks"
    values = {
        pressed: 1,
        "admin-grants-registry.data": registry,
        "admin-grants-user.value": username,
        "admin-grants-unit.value": unit,
        "admin-grants-language.data": "en",
    }
    result = response_of(dash_call(client, server, GRANTS_ADD, values, pressed))
    return text_of(result["admin-grants-add-status"]["children"])


def _grant_id(database: Database, username: str, unit_id: int) -> int:
    grants = list_grants(database, "stroke")
    rows = grants.filter((grants["username"] == username) & (grants["unit_id"] == unit_id))
    assert rows.height == 1
    return int(rows["grant_id"][0])


def _revoke_press(grant_id: int | str) -> tuple[dict[str, Any], str]:
    button = {"grant": grant_id, "type": "admin-grants-revoke"}
    values = {
        '{"grant":["ALL"],"type":"admin-grants-revoke"}.n_clicks': [{"id": button, "value": 1}],
        "admin-grants-registry.data": "stroke",
        "admin-grants-language.data": "en",
    }
    return values, json.dumps(button, sort_keys=True, separators=(",", ":")) + ".n_clicks"


def revoke_status(client: FlaskClient, server: flask.Flask, grant_id: int | str) -> str:
    values, changed = _revoke_press(grant_id)
    result = response_of(dash_call(client, server, GRANTS_REVOKE, values, changed))
    return text_of(result["admin-grants-list-status"]["children"])


def test_installation_admin_grants_and_revokes(portal: flask.Flask) -> None:
    database = db(portal)
    root = log_in(portal, "root")
    status = add(root, portal, "target", f"Ullevål ({ULLEVAL})", "registrar")
    assert "target has been given the role Registrar" in status
    grant_id = _grant_id(database, "target", ULLEVAL)
    created = events(database, "grant.create")[-1]
    assert (created.username, created.object_id) == ("root", str(grant_id))
    assert created.details["role"] == "registrar"
    assert "already has this role" in add(root, portal, "target", ULLEVAL, "registrar")
    assert "has been revoked" in revoke_status(root, portal, grant_id)
    revoked = events(database, "grant.revoke")[-1]
    assert (revoked.username, revoked.object_id) == ("root", str(grant_id))
    assert list_grants(database).filter(list_grants(database)["grant_id"] == grant_id).is_empty()


@pytest.mark.parametrize(
    ("username", "unit", "role", "message"),
    [
        ("", HAMMERFEST, "clinician", "Enter the user name."),
        ("target", "Hammerfest", "clinician", "Pick a unit from the list."),
        ("target", HAMMERFEST, "superuser", "Choose a role."),
        ("nobody", HAMMERFEST, "clinician", "There is no user with that user name."),
        ("target", 999999999, "clinician", "only give grants on units you administer"),
    ],
)
def test_refused_grants_say_why(
    portal: flask.Flask, username: str, unit: object, role: str, message: str
) -> None:
    assert message in add(log_in(portal, "finnmark"), portal, username, unit, role)
    assert not events(db(portal), "grant.create")[3:]  # only the three of the fixture


def test_trust_admin_grants_on_its_own_units_only(portal: flask.Flask) -> None:
    database = db(portal)
    finnmark = log_in(portal, "finnmark")
    assert "has been given" in add(finnmark, portal, "target", HAMMERFEST, "clinician")
    given = events(database, "grant.create")[-1]
    assert (given.username, given.details["unit_id"]) == ("finnmark", HAMMERFEST)
    before = len(events(database, "grant.create"))
    for forged in (ULLEVAL, f"Ullevål ({ULLEVAL})", NATION, TRUST_FINNMARK + 1):
        assert "only give grants on units you administer" in add(
            finnmark, portal, "target", forged, "admin"
        )
    assert "only give grants" in add(finnmark, portal, "target", HAMMERFEST, "admin", "hip")
    assert len(events(database, "grant.create")) == before


def test_an_admin_cannot_revoke_its_own_admin_grant(portal: flask.Flask) -> None:
    root = log_in(portal, "root")
    own = _grant_id(db(portal), "root", NATION)
    assert "cannot revoke your own" in revoke_status(root, portal, own)
    assert _grant_id(db(portal), "root", NATION) == own


def test_trust_admin_cannot_revoke_elsewhere_or_see_other_trusts(portal: flask.Flask) -> None:
    database = db(portal)
    finnmark = log_in(portal, "finnmark")
    elsewhere = _grant_id(database, "doctor", ULLEVAL)
    for forged in (elsewhere, str(elsewhere), 10**9, 10**30, -1, "x", "١٢"):
        assert "No such grant" in revoke_status(finnmark, portal, forged)
    assert _grant_id(database, "doctor", ULLEVAL) == elsewhere
    assert not events(database, "grant.revoke")
    page = json.loads(render_page(finnmark, "/admin/grants", ""))
    listed = text_of(find_component(page, "admin-grants-table"))
    assert "finnmark" in listed and "doctor" not in listed and "root" not in listed
    # A registry the admin does not administer in the address shows one it does.
    page = json.loads(render_page(finnmark, "/admin/grants", "?registry=hip"))
    assert find_component(page, "admin-grants-registry")["props"]["data"] == "stroke"


def test_registries_are_links_that_keep_the_language(portal: flask.Flask) -> None:
    database = db(portal)
    ensure_registry(database, "hip", "Hofteprotese", "Hip replacement")
    grant(database, SYSTEM, "root", "hip", NATION, "admin")
    page = json.loads(render_page(log_in(portal, "root"), "/admin/grants", "?lang=en"))
    menu = next(c for c in components(page) if c["props"].get("className") == "registry-menu")
    entries = [c for c in components(menu["props"]) if c["type"] in ("Link", "Span")]
    assert entries[0]["props"]["aria-current"] == "page"  # hip: the first in order
    assert entries[1]["props"]["href"] == "/admin/grants?lang=en&registry=stroke"


def test_unit_suggestions_are_the_admins_units(portal: flask.Flask) -> None:
    page = json.loads(render_page(log_in(portal, "finnmark"), "/admin/grants", ""))
    datalist = find_component(page, "admin-grants-unit-names")
    assert datalist is not None
    offered = [option["props"]["value"] for option in datalist["props"]["children"]]
    ids = {int(re.findall(r"\((\d+)\)$", value)[0]) for value in offered}
    assert TRUST_FINNMARK in ids and HAMMERFEST in ids
    assert ULLEVAL not in ids and NATION not in ids
    assert offered[0].endswith(f"({TRUST_FINNMARK})")  # the top of the admin's tree first


# ---- audit log ------------------------------------------------------------------------------


def audit_values(**filters: str) -> dict[str, Any]:
    fields = {"user": "user", "action": "action", "start": "from", "end": "to", "object": "object"}
    values: dict[str, Any] = {"admin-audit-language.data": "en"}
    for name, text in filters.items():
        values[f"admin-audit-{fields[name]}.value"] = text
    return values


def show(client: FlaskClient, server: flask.Flask, **filters: str) -> dict[str, Any]:
    values = audit_values(**filters) | {"admin-audit-show.n_clicks": 1}
    return response_of(dash_call(client, server, AUDIT_SHOW, values, "admin-audit-show.n_clicks"))


def shown_actions(result: Mapping[str, Any]) -> list[str]:
    """The action column of the events table, top to bottom."""
    body = next(c for c in components(result["admin-audit-table"]) if c["type"] == "Tbody")
    rows = [c for c in components(body["props"]) if c["type"] == "Tr"]
    cells = [row["props"]["children"] for row in rows]
    return [text_of(row[4]) for row in cells if isinstance(row, list) and len(row) > 4]


def test_the_log_opens_with_the_newest_events_and_records_the_view(portal: flask.Flask) -> None:
    database = db(portal)
    root = log_in(portal, "root")
    result = response_of(dash_call(root, portal, AUDIT_SHOW, audit_values()))  # page opens
    actions = shown_actions(result)
    assert actions[0] == "login.success" and "user.create" in actions
    assert "Showing" in text_of(result["admin-audit-status"])
    view = events(database, "audit.view")[-1]
    assert view.username == "root"
    assert view.details == {"filters": {}, "rows": len(events_before(database, view.id))}


def events_before(database: Database, event_id: int) -> list[AuditEvent]:
    with database.reading() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.id < event_id)))


def events_since(database: Database, count: int) -> list[AuditEvent]:
    with database.reading() as session:
        found = session.scalars(select(AuditEvent).order_by(AuditEvent.id).offset(count))
        return list(found)


# The admin's calendar day: periods are whole days of Oslo time.
TODAY = datetime.now(LOCAL_TIME).date()
FILTER_KEYS = {"user": "username", "action": "action", "start": "from", "end": "to"}


@pytest.mark.parametrize(
    ("filters", "wanted"),
    [
        ({"user": "root"}, lambda e, _: e.username == "root"),
        ({"user": " ROOT "}, lambda e, _: e.username == "root"),
        ({"action": "grant"}, lambda e, _: e.action.startswith("grant.")),
        ({"action": "user.create"}, lambda e, _: e.action == "user.create"),
        ({"object": "{target}"}, lambda e, target: e.object_id == target),
        ({"start": str(TODAY)}, lambda e, _: True),
        ({"start": f"{TODAY + timedelta(days=1):%d.%m.%Y}"}, lambda e, _: False),
        ({"end": str(TODAY - timedelta(days=1))}, lambda e, _: False),
        (
            {"action": "login", "start": f"{TODAY:%d.%m.%Y}", "end": str(TODAY)},
            lambda e, _: e.action.startswith("login."),
        ),
    ],
)
def test_filters(
    portal: flask.Flask, filters: dict[str, str], wanted: Callable[[AuditEvent, str], bool]
) -> None:
    database = db(portal)
    root = log_in(portal, "root")
    target = str(user_row(database, "target")["user_id"])
    filters = {name: text.format(target=target) for name, text in filters.items()}
    with database.reading() as session:
        every = list(session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())))
    result = show(root, portal, **filters)
    assert shown_actions(result) == [e.action for e in every if wanted(e, target)]
    view = events(database, "audit.view")[-1]
    assert view.details["rows"] == len(shown_actions(result))
    assert set(view.details["filters"]) == {FILTER_KEYS.get(k, "object_id") for k in filters}


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"start": "31.02.2025"}, "The from date is not a date."),
        ({"end": "yesterday"}, "The to date is not a date."),
        ({"start": "2025-03-02", "end": "2025-03-01"}, "The to date is before the from date."),
    ],
)
def test_bad_dates_are_refused_without_a_search(
    portal: flask.Flask, filters: dict[str, str], message: str
) -> None:
    root = log_in(portal, "root")
    before = len(events(db(portal), "audit.view"))
    result = show(root, portal, **filters)
    assert message in text_of(result["admin-audit-status"])
    assert len(events(db(portal), "audit.view")) == before


def test_csv_export_holds_the_filtered_events_and_is_recorded(portal: flask.Flask) -> None:
    database = db(portal)
    root = log_in(portal, "root")
    values = audit_values(action="user", end=str(TODAY)) | {"admin-audit-export.n_clicks": 1}
    result = response_of(
        dash_call(root, portal, AUDIT_EXPORT, values, "admin-audit-export.n_clicks")
    )
    download = result["admin-audit-download"]["data"]
    assert download["filename"].startswith("audit-") and download["filename"].endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(download["content"])))
    assert [row["action"] for row in rows] == ["user.create"] * 5
    assert {row["username"] for row in rows} == {"system"}
    assert all(row["occurred_at"].endswith("Z") for row in rows)
    assert "Downloaded 5 events" in text_of(result["admin-audit-status"])
    exported = events(database, "audit.export")[-1]
    assert exported.username == "root"
    assert exported.details == {
        "filters": {"action": "user", "to": TODAY.isoformat()},
        "rows": 5,
    }


def test_pages_speak_the_readers_language(portal: flask.Flask) -> None:
    client = log_in(portal, "root")
    for path, nb, en in (
        ("/admin/users", "Opprett bruker", "Create user"),
        ("/admin/grants", "Gi rollen kliniker", "Give the clinician role"),
        ("/admin/audit", "Last ned CSV", "Download CSV"),
    ):
        assert nb in render_page(client, path, "") and en not in render_page(client, path, "")
        assert en in render_page(client, path, "?lang=en")


@pytest.mark.parametrize("language", ["nb", "en"])
def test_every_refusal_and_name_has_a_translation(language: str) -> None:
    """A new error code, password rule, role or level fails here until it is translated."""
    keys = [
        *(f"admin.error.{code}" for code in get_args(AccountErrorCode)),
        *(f"admin.password.{problem}" for problem in get_args(PasswordProblem)),
        *(f"admin.role.{role}" for role in ROLES),
        *(f"admin.grants.give_{role}" for role in ROLES),
        *(f"admin.level.{level}" for level in UNIT_LEVELS),
    ]
    assert all(translate(key, language) for key in keys)


# ---- structure that assistive technology relies on -----------------------------------------


def components(tree: object) -> Iterator[dict[str, Any]]:
    if isinstance(tree, dict):
        if "type" in tree and "props" in tree:
            yield tree
        for value in tree.values():
            yield from components(value)
    elif isinstance(tree, list):
        for item in tree:
            yield from components(item)


def find_component(tree: object, component_id: str) -> dict[str, Any] | None:
    return next((c for c in components(tree) if c["props"].get("id") == component_id), None)


@pytest.mark.parametrize("path", list(PAGES))
def test_fields_tables_and_messages_are_accessible(portal: flask.Flask, path: str) -> None:
    page = json.loads(render_page(log_in(portal, "root"), path, ""))
    main = next(c for c in components(page) if c["type"] == "Main")
    found = list(components(main["props"]))
    labelled = {c["props"].get("htmlFor") for c in found if c["type"] == "Label"}
    fields = [c for c in found if str(c["props"].get("id", "")).startswith("admin-")]
    inputs = [c["props"]["id"] for c in fields if c["type"] == "Input"]
    assert inputs and set(inputs) <= labelled
    radios = [c for c in found if c["type"] == "Fieldset"]
    assert all(any(k["type"] == "Legend" for k in components(r["props"])) for r in radios)
    buttons = [c for c in found if c["type"] == "Button"]
    assert buttons and all(b["props"]["type"] == "button" for b in buttons)
    assert not [c for c in found if c["type"] in ("Form", "Dropdown")]
    live = [c for c in found if c["props"].get("role") == "status"]
    assert live and all(c["props"]["aria-live"] == "polite" for c in live)
    for table in (c for c in found if c["type"] == "Table"):
        kinds = [c["type"] for c in components(table["props"])]
        assert "Caption" in kinds
        heads = [c for c in components(table["props"]) if c["type"] == "Th"]
        assert {h["props"]["scope"] for h in heads} <= {"col", "row"}


def test_the_admin_menu_lists_what_the_user_may_open(portal: flask.Flask) -> None:
    root = json.loads(render_page(log_in(portal, "root"), "/admin/grants", ""))
    finnmark = json.loads(render_page(log_in(portal, "finnmark"), "/admin/grants", ""))

    def menu(tree: object) -> list[str]:
        nav = next(c for c in components(tree) if c["props"].get("className") == "admin-menu")
        return [text_of(item) for item in components(nav["props"]) if item["type"] == "Li"]

    assert menu(root) == ["Brukere", "Tilganger", "Logg", "Last opp indikatordata"]
    assert menu(finnmark) == ["Tilganger"]
