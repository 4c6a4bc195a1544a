"""The access policy and the scoped reads of patient-level records, on SQLite and PostgreSQL.

One small world: the shipped unit tree, registries "stroke" and "hip", registrations at
departments in two trusts of Helse Nord and one in Oslo, and users granted at department,
hospital, trust, region and nation level, in one registry or the other. Every test asks
what a user may do or see, and checks that nothing outside the grants comes back, forged
ids included, and that every read is in the audit log with the ids shown.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import polars as pl
import psycopg
import pytest
from sqlalchemy import event, func, select

from data_access.access import ANONYMOUS, AccessDenied, AccessScope, Role, scope_for_user
from data_access.audit import Actor, verify_chain
from data_access.database import Database
from data_access.models import AuditEvent, Grant, Patient, Registration, User
from data_access.org_tree import ancestors, read_unit_tree
from data_access.patient_identity import NationalIdCipher, generate_key, pseudonym
from data_access.reference_data import ensure_registry, read_units, sync_units
from data_access.registrations import (
    LIST_SCHEMA,
    PSEUDONYMISED_SCHEMA,
    get_registration,
    list_registrations,
    pseudonymised_registrations,
)
from data_access.request_identity import identify
from data_access.user_sessions import start_session
from entry.national_id import mask_national_id, synthetic_national_ids

NATION = 1
REGION_NORD = 883658752
TRUST_FINNMARK = 983974880
HOSPITAL_HAMMERFEST = 974795833
HAMMERFEST = 100001  # department, Finnmark HF
KIRKENES = 100002  # department, Finnmark HF, another hospital
TRUST_UNN = 983974899
HARSTAD = 100003  # department, UNN HF
ULLEVAL = 100032  # department, Oslo universitetssykehus HF (Helse Sør-Øst)

SESSION_START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
EIGHT_HOURS = timedelta(hours=8)
NATIONAL_ID_KEY = generate_key()
PSEUDONYM_KEY = generate_key()

# label: (registry, unit, event date, status)
REGISTRATIONS: dict[str, tuple[str, int, date, str]] = {
    "stroke_hammerfest_1": ("stroke", HAMMERFEST, date(2024, 5, 1), "draft"),
    "stroke_hammerfest_2": ("stroke", HAMMERFEST, date(2025, 3, 1), "complete"),
    "stroke_kirkenes": ("stroke", KIRKENES, date(2025, 1, 15), "complete"),
    "stroke_harstad_1": ("stroke", HARSTAD, date(2025, 2, 1), "locked"),
    "stroke_harstad_2": ("stroke", HARSTAD, date(2025, 6, 30), "complete"),
    "stroke_ulleval": ("stroke", ULLEVAL, date(2025, 4, 4), "complete"),
    "hip_harstad": ("hip", HARSTAD, date(2025, 5, 5), "complete"),
    "hip_hammerfest": ("hip", HAMMERFEST, date(2025, 5, 6), "draft"),
}

# username: (is_active, [(registry, role, unit)])
USERS: dict[str, tuple[bool, list[tuple[str, Role, int]]]] = {
    "clin_hammerfest": (True, [("stroke", "clinician", HAMMERFEST)]),
    "clin_harstad": (True, [("stroke", "clinician", HARSTAD)]),
    "reg_hammerfest_hospital": (True, [("stroke", "registrar", HOSPITAL_HAMMERFEST)]),
    "clin_finnmark": (True, [("stroke", "clinician", TRUST_FINNMARK)]),
    "analyst_nation": (True, [("stroke", "analyst", NATION)]),
    "analyst_nord": (True, [("stroke", "analyst", REGION_NORD)]),
    "admin_nation": (True, [("stroke", "admin", NATION)]),
    "admin_unn": (True, [("stroke", "admin", TRUST_UNN)]),
    "reg_hip": (True, [("hip", "registrar", NATION)]),
    "mixed": (
        True,
        [("stroke", "clinician", TRUST_UNN), ("stroke", "registrar", HARSTAD)],
    ),
    "disabled": (False, [("stroke", "registrar", NATION), ("stroke", "admin", NATION)]),
    "no_grants": (True, []),
}


@dataclass(frozen=True)
class World:
    database: Database
    users: Mapping[str, int]
    registrations: Mapping[str, int]
    national_ids: Mapping[str, str]  # registration label -> the patient's national id

    def scope(self, username: str, remote_addr: str | None = "192.0.2.7") -> AccessScope:
        return scope_for_user(self.database, self.users[username], remote_addr)


@pytest.fixture
def world(database: Database) -> World:
    sync_units(database, read_unit_tree())
    registry_ids = {
        "stroke": ensure_registry(database, "stroke", "Hjerneslag", "Stroke"),
        "hip": ensure_registry(database, "hip", "Hofte", "Hip"),
    }
    labels = list(REGISTRATIONS)
    birth_dates = pl.Series([date(1940 + 3 * i, 1 + i, 10 + i) for i in range(len(labels))])
    sexes = pl.Series(["female" if i % 2 else "male" for i in range(len(labels))])
    national_ids = synthetic_national_ids(birth_dates, sexes, seed=3).to_list()
    cipher = NationalIdCipher(NATIONAL_ID_KEY)
    with database.transaction() as session:
        users = {}
        for username, (is_active, grants) in USERS.items():
            user = User(username=username, display_name=username, is_active=is_active)
            session.add(user)
            session.flush()
            users[username] = user.id
            for registry_key, role, unit_id in grants:
                session.add(
                    Grant(
                        user_id=user.id,
                        registry_id=registry_ids[registry_key],
                        unit_id=unit_id,
                        role=role,
                    )
                )
        registrations = {}
        for i, (label, (registry_key, unit_id, event_date, status)) in enumerate(
            REGISTRATIONS.items()
        ):
            patient = Patient(
                pseudonym=pseudonym(national_ids[i], PSEUDONYM_KEY),
                national_id_encrypted=cipher.encrypt(national_ids[i]),
                birth_date=birth_dates[i],
                sex=sexes[i],
            )
            session.add(patient)
            session.flush()
            registration = Registration(
                registry_id=registry_ids[registry_key],
                unit_id=unit_id,
                patient_id=patient.id,
                event_date=event_date,
                status=status,
                values={"nihss_admission": i, "label": label},
            )
            session.add(registration)
            session.flush()
            registrations[label] = registration.id
    return World(database, users, registrations, dict(zip(labels, national_ids, strict=True)))


def _audit_events(database: Database, action: str) -> list[AuditEvent]:
    with database.reading() as session:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            )
        )


def _labels(world: World, ids: list[int]) -> set[str]:
    by_id = {registration_id: label for label, registration_id in world.registrations.items()}
    return {by_id[registration_id] for registration_id in ids}


# --- The access matrix -------------------------------------------------------------------

GRID_UNITS = (
    NATION,
    REGION_NORD,
    TRUST_FINNMARK,
    HOSPITAL_HAMMERFEST,
    HAMMERFEST,
    KIRKENES,
    TRUST_UNN,
    HARSTAD,
    ULLEVAL,
)
STROKE_FINNMARK = {HAMMERFEST, KIRKENES, TRUST_FINNMARK, HOSPITAL_HAMMERFEST}
STROKE_UNN = {TRUST_UNN, HARSTAD}
NORD = {REGION_NORD, *STROKE_FINNMARK, *STROKE_UNN}


def _cells(registry: str, units: set[int], *permissions: str) -> dict[tuple[str, int], set[str]]:
    return {(registry, unit): set(permissions) for unit in units}


# username -> {(registry, unit): permissions}; every cell of the grid not named allows nothing.
# Exports and installation admin are per registry / per installation, listed apart.
MATRIX: dict[str, dict[tuple[str, int], set[str]]] = {
    "clin_hammerfest": _cells("stroke", {HAMMERFEST}, "read"),
    "clin_harstad": _cells("stroke", {HARSTAD}, "read"),
    "reg_hammerfest_hospital": _cells("stroke", {HOSPITAL_HAMMERFEST, HAMMERFEST}, "read", "edit"),
    "clin_finnmark": _cells("stroke", STROKE_FINNMARK, "read"),
    "analyst_nation": {},
    "analyst_nord": {},
    "admin_nation": _cells("stroke", set(GRID_UNITS), "administer"),
    "admin_unn": _cells("stroke", STROKE_UNN, "administer"),
    "reg_hip": _cells("hip", set(GRID_UNITS), "read", "edit"),
    "mixed": {**_cells("stroke", {TRUST_UNN}, "read"), ("stroke", HARSTAD): {"read", "edit"}},
    "disabled": {},
    "no_grants": {},
}
EXPORTS = {"analyst_nation": {"stroke"}, "analyst_nord": {"stroke"}}
ADMIN_ANYWHERE = {"admin_nation": {"stroke"}, "admin_unn": {"stroke"}}
INSTALLATION_ADMINS = {"admin_nation"}


@pytest.mark.parametrize("username", list(USERS))
def test_access_matrix(world: World, username: str) -> None:
    assert_matrix(world, username, world.scope(username))


def assert_matrix(world: World, username: str, scope: AccessScope) -> None:
    """`scope` allows exactly what MATRIX and the tables under it say `username` may do."""
    actual = {}
    for registry in ("stroke", "hip"):
        for unit in GRID_UNITS:
            allowed = {
                name
                for name, check in (
                    ("read", scope.may_read_records),
                    ("edit", scope.may_edit_records),
                    ("administer", scope.may_administer),
                )
                if check(registry, unit)
            }
            if allowed:
                actual[(registry, unit)] = allowed
    assert actual == MATRIX[username]
    assert {r for r in ("stroke", "hip", "none") if scope.may_export(r)} == EXPORTS.get(
        username, set()
    )
    assert {r for r in ("stroke", "hip") if scope.may_administer(r)} == ADMIN_ANYWHERE.get(
        username, set()
    )
    assert scope.is_installation_admin() == (username in INSTALLATION_ADMINS)
    assert scope.authenticated == (username != "disabled")
    assert scope.actor == Actor(world.users[username], username, "192.0.2.7")


def test_matrix_names_every_user() -> None:
    assert set(MATRIX) == set(USERS)


@pytest.mark.parametrize(
    "grant_unit", [NATION, REGION_NORD, TRUST_FINNMARK, HOSPITAL_HAMMERFEST, HAMMERFEST]
)
def test_a_grant_covers_exactly_the_subtree_of_its_unit(world: World, grant_unit: int) -> None:
    """The recursive CTE agrees with the polars ancestor table for every level of grant."""
    stroke_id = ensure_registry(world.database, "stroke", "Hjerneslag", "Stroke")
    with world.database.transaction() as session:
        user = User(username="probe", display_name="probe")
        session.add(user)
        session.flush()
        session.add(
            Grant(user_id=user.id, registry_id=stroke_id, unit_id=grant_unit, role="clinician")
        )
        user_id = user.id
    tree = ancestors(read_units(world.database))
    expected = set(tree.filter(pl.col("ancestor_id") == grant_unit)["unit_id"])
    scope = scope_for_user(world.database, user_id)
    assert scope.units("stroke", "clinician") == expected
    assert grant_unit in expected


def test_a_trust_grant_covers_its_departments_not_a_sibling_trusts(world: World) -> None:
    units = world.scope("clin_finnmark").units("stroke", "clinician")
    assert {HAMMERFEST, KIRKENES, HOSPITAL_HAMMERFEST, TRUST_FINNMARK} <= units
    assert not {HARSTAD, TRUST_UNN, REGION_NORD, NATION, ULLEVAL} & units


def test_grants_in_another_registry_give_nothing_here(world: World) -> None:
    scope = world.scope("reg_hip")
    assert set(scope.roles) == {"hip"}
    assert scope.units("stroke", "clinician", "registrar", "analyst", "admin") == frozenset()
    frame = list_registrations(
        world.database, scope, "stroke", national_id_key=NATIONAL_ID_KEY, unit_ids=[HARSTAD]
    )
    assert frame.is_empty()
    for label in ("stroke_harstad_1", "stroke_hammerfest_1"):
        found = get_registration(world.database, scope, world.registrations[label], NATIONAL_ID_KEY)
        assert found is None
    hip = list_registrations(world.database, scope, "hip", national_id_key=NATIONAL_ID_KEY)
    assert _labels(world, hip["id"].to_list()) == {"hip_harstad", "hip_hammerfest"}


def test_a_disabled_user_gets_nothing_but_is_still_named_in_the_log(world: World) -> None:
    scope = world.scope("disabled")
    assert scope.roles == {} and not scope.authenticated
    assert scope.actor.user_id == world.users["disabled"]
    assert scope.actor.username == "disabled"
    frame = list_registrations(world.database, scope, "stroke", national_id_key=NATIONAL_ID_KEY)
    assert frame.is_empty()
    registration_id = world.registrations["stroke_hammerfest_1"]
    assert get_registration(world.database, scope, registration_id, NATIONAL_ID_KEY) is None
    with pytest.raises(AccessDenied):
        pseudonymised_registrations(world.database, scope, "stroke")
    [event] = _audit_events(world.database, "registration.list")
    assert event.user_id == world.users["disabled"] and event.username == "disabled"
    assert event.details["registration_ids"] == []


@pytest.mark.parametrize("username", sorted(set(USERS) - {"disabled"}))
def test_a_session_token_reads_the_same_scope_in_at_most_two_statements(
    world: World, username: str
) -> None:
    """The access guard's one read per logged-in request (data_access.request_identity):
    the session, the user and a scope allowing exactly what the access matrix says, in two
    statements, and one for a user without grants."""
    user_id = world.users[username]
    token = start_session(world.database, user_id, "192.0.2.7", SESSION_START, EIGHT_HOURS, True)
    statements: list[str] = []
    count = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(world.database.engine, "before_cursor_execute", count)
    try:
        found = identify(world.database, token, SESSION_START, EIGHT_HOURS, "192.0.2.7")
    finally:
        event.remove(world.database.engine, "before_cursor_execute", count)
    assert found is not None
    assert (found.session.user_id, found.session.two_factor_done) == (user_id, True)
    assert found.session.expires_at == SESSION_START + EIGHT_HOURS
    assert (found.user.username, found.user.is_active) == (username, True)
    assert found.user.has_grants == bool(USERS[username][1])
    assert_matrix(world, username, found.scope)
    queries = [text for text in statements if not text.startswith("BEGIN")]  # SQLite's own
    assert len(queries) == (1 if username == "no_grants" else 2)


def test_a_lookup_on_postgresql_runs_outside_a_transaction(database: Database) -> None:
    """No BEGIN and no ROLLBACK around the guard's read: two of its five round trips."""
    if database.dialect != "postgresql":
        pytest.skip("SQLite's round trips stay in the process")
    with database.lookup() as session:
        session.execute(select(func.count(User.id)))
        status = session.connection().connection.dbapi_connection.info.transaction_status
    assert status == psycopg.pq.TransactionStatus.IDLE
    with database.reading() as session:  # as against a reading session's
        session.execute(select(func.count(User.id)))
        status = session.connection().connection.dbapi_connection.info.transaction_status
    assert status == psycopg.pq.TransactionStatus.INTRANS


def test_an_unknown_user_is_anonymous(world: World) -> None:
    scope = scope_for_user(world.database, 987_654, "198.51.100.1")
    assert scope.roles == {} and not scope.authenticated
    assert scope.actor == Actor(None, None, "198.51.100.1")
    assert dataclasses.replace(scope, actor=ANONYMOUS.actor) == ANONYMOUS


# --- Listing registrations ---------------------------------------------------------------

STROKE_LABELS = {label for label, spec in REGISTRATIONS.items() if spec[0] == "stroke"}


@pytest.mark.parametrize(
    ("username", "unit_ids", "expected"),
    [
        ("clin_hammerfest", None, {"stroke_hammerfest_1", "stroke_hammerfest_2"}),
        ("clin_hammerfest", [HAMMERFEST], {"stroke_hammerfest_1", "stroke_hammerfest_2"}),
        # forged ids of other units: dropped, so nothing of theirs comes back
        ("clin_hammerfest", [HARSTAD, ULLEVAL, KIRKENES], set()),
        ("clin_hammerfest", [HARSTAD, HAMMERFEST], {"stroke_hammerfest_1", "stroke_hammerfest_2"}),
        ("clin_hammerfest", [], set()),
        ("clin_hammerfest", [TRUST_FINNMARK, NATION], set()),
        ("clin_harstad", [HAMMERFEST, 999_999_999, -1], set()),
        ("clin_harstad", None, {"stroke_harstad_1", "stroke_harstad_2"}),
        (
            "clin_finnmark",
            None,
            {"stroke_hammerfest_1", "stroke_hammerfest_2", "stroke_kirkenes"},
        ),
        ("clin_finnmark", [KIRKENES, HARSTAD], {"stroke_kirkenes"}),
        ("reg_hammerfest_hospital", None, {"stroke_hammerfest_1", "stroke_hammerfest_2"}),
        ("mixed", None, {"stroke_harstad_1", "stroke_harstad_2"}),
        ("analyst_nation", None, set()),
        ("admin_nation", None, set()),
        ("admin_nation", [HAMMERFEST, HARSTAD], set()),
        ("no_grants", [HAMMERFEST], set()),
    ],
)
def test_list_shows_only_units_in_scope(
    world: World, username: str, unit_ids: list[int] | None, expected: set[str]
) -> None:
    frame = list_registrations(
        world.database,
        world.scope(username),
        "stroke",
        national_id_key=NATIONAL_ID_KEY,
        unit_ids=unit_ids,
    )
    assert frame.schema == pl.Schema(LIST_SCHEMA)
    assert _labels(world, frame["id"].to_list()) == expected


def test_anonymous_lists_nothing(world: World) -> None:
    frame = list_registrations(world.database, ANONYMOUS, "stroke", national_id_key=NATIONAL_ID_KEY)
    assert frame.is_empty()
    [event] = _audit_events(world.database, "registration.list")
    assert event.user_id is None and event.details["registration_ids"] == []


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"statuses": ["complete"]}, {"stroke_hammerfest_2", "stroke_kirkenes"}),
        ({"statuses": ["draft", "locked"]}, {"stroke_hammerfest_1"}),
        (
            {"period": (date(2025, 1, 1), date(2025, 3, 1))},
            {"stroke_hammerfest_2", "stroke_kirkenes"},
        ),
        ({"period": (date(2025, 3, 2), date(2025, 12, 31))}, set()),
        ({"limit": 1}, {"stroke_hammerfest_2"}),  # newest event first
        (
            {"limit": 2, "statuses": ["complete", "draft"]},
            {"stroke_hammerfest_2", "stroke_kirkenes"},
        ),
    ],
)
def test_list_filters(world: World, filters: dict[str, object], expected: set[str]) -> None:
    frame = list_registrations(
        world.database,
        world.scope("clin_finnmark"),
        "stroke",
        national_id_key=NATIONAL_ID_KEY,
        **filters,  # type: ignore[arg-type]
    )
    assert _labels(world, frame["id"].to_list()) == expected


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"statuses": ["deleted"]}, "unknown status"),
        ({"period": (date(2025, 2, 1), date(2025, 1, 1))}, "starts"),
        ({"limit": 0}, "limit"),
        ({"limit": 100_000}, "limit"),
    ],
)
def test_list_refuses_bad_filters(world: World, filters: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        list_registrations(
            world.database,
            world.scope("clin_finnmark"),
            "stroke",
            national_id_key=NATIONAL_ID_KEY,
            **filters,  # type: ignore[arg-type]
        )
    assert _audit_events(world.database, "registration.list") == []


def test_list_shows_national_ids_masked_only(world: World) -> None:
    frame = list_registrations(
        world.database, world.scope("clin_finnmark"), "stroke", national_id_key=NATIONAL_ID_KEY
    )
    assert frame.height == 3
    by_id = {registration_id: label for label, registration_id in world.registrations.items()}
    for row in frame.iter_rows(named=True):
        national_id = world.national_ids[by_id[row["id"]]]
        assert row["national_id_masked"] == mask_national_id(national_id)
        assert row["national_id_masked"].endswith("*****")
        assert json.loads(row["values"])["label"] == by_id[row["id"]]
    text = frame.write_csv()
    for national_id in world.national_ids.values():
        assert national_id not in text


def test_list_is_audited_with_filters_and_ids_shown(world: World) -> None:
    scope = world.scope("clin_hammerfest")
    frame = list_registrations(
        world.database,
        scope,
        "stroke",
        national_id_key=NATIONAL_ID_KEY,
        unit_ids=[HAMMERFEST, HARSTAD],
        statuses=["draft", "complete"],
        period=(date(2024, 1, 1), date(2025, 12, 31)),
    )
    list_registrations(
        world.database, scope, "stroke", national_id_key=NATIONAL_ID_KEY, unit_ids=[ULLEVAL]
    )
    first, second = _audit_events(world.database, "registration.list")
    assert first.user_id == world.users["clin_hammerfest"]
    assert first.username == "clin_hammerfest" and first.remote_addr == "192.0.2.7"
    assert first.object_type == "registration"
    assert first.registry_id is not None
    assert sorted(first.details["registration_ids"]) == sorted(frame["id"].to_list())
    assert len(first.details["registration_ids"]) == 2
    assert first.details["filters"] == {
        "unit_ids": sorted([HAMMERFEST, HARSTAD]),
        "statuses": ["complete", "draft"],
        "period": ["2024-01-01", "2025-12-31"],
        "limit": 500,
    }
    assert second.details["registration_ids"] == []
    assert second.details["filters"]["unit_ids"] == [ULLEVAL]  # a forged id is on record
    logged = json.dumps([first.details, second.details])
    for national_id in world.national_ids.values():
        assert national_id[:6] not in logged  # ids of records, never their contents
    assert verify_chain(world.database).ok


# --- Viewing one registration ------------------------------------------------------------

VISIBLE = {
    "clin_hammerfest": {"stroke_hammerfest_1", "stroke_hammerfest_2"},
    "clin_harstad": {"stroke_harstad_1", "stroke_harstad_2"},
    "clin_finnmark": {"stroke_hammerfest_1", "stroke_hammerfest_2", "stroke_kirkenes"},
    "reg_hammerfest_hospital": {"stroke_hammerfest_1", "stroke_hammerfest_2"},
    "mixed": {"stroke_harstad_1", "stroke_harstad_2"},
    "reg_hip": {"hip_harstad", "hip_hammerfest"},
}
EDITABLE = {
    "reg_hammerfest_hospital": {"stroke_hammerfest_1", "stroke_hammerfest_2"},
    "mixed": {"stroke_harstad_1", "stroke_harstad_2"},
    "reg_hip": {"hip_harstad", "hip_hammerfest"},
}


@pytest.mark.parametrize("username", list(USERS))
def test_get_returns_exactly_the_records_in_scope(world: World, username: str) -> None:
    scope = world.scope(username)
    visible = set()
    for label, registration_id in world.registrations.items():
        record = get_registration(world.database, scope, registration_id, NATIONAL_ID_KEY)
        if record is None:
            continue
        visible.add(label)
        registry_key, unit_id, event_date, status = REGISTRATIONS[label]
        assert (record.registry_key, record.unit_id, record.event_date, record.status) == (
            registry_key,
            unit_id,
            event_date,
            status,
        )
        assert record.national_id_masked == mask_national_id(world.national_ids[label])
        assert record.values["label"] == label
        assert record.editable == (label in EDITABLE.get(username, set()))
    assert visible == VISIBLE.get(username, set())
    views = _audit_events(world.database, "registration.view")
    assert _labels(world, [int(event.object_id or 0) for event in views]) == visible
    assert {event.user_id for event in views} <= {world.users[username]}


def test_out_of_scope_is_indistinguishable_from_missing(world: World) -> None:
    scope = world.scope("clin_hammerfest")
    with world.database.reading() as session:
        missing = (session.scalar(select(func.max(Registration.id))) or 0) + 1_000
    out_of_scope = world.registrations["stroke_harstad_1"]
    answers = [
        get_registration(world.database, scope, registration_id, NATIONAL_ID_KEY)
        for registration_id in (missing, out_of_scope, 0, -5, 2**63, True)
    ]
    assert answers == [None] * len(answers)
    assert _audit_events(world.database, "registration.view") == []


def test_a_view_is_audited(world: World) -> None:
    registration_id = world.registrations["stroke_kirkenes"]
    record = get_registration(
        world.database,
        world.scope("clin_finnmark", "203.0.113.9"),
        registration_id,
        NATIONAL_ID_KEY,
    )
    assert record is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.status = "locked"  # type: ignore[misc]
    with pytest.raises(TypeError):
        record.values["label"] = "changed"  # type: ignore[index]
    [event] = _audit_events(world.database, "registration.view")
    assert event.object_type == "registration" and event.object_id == str(registration_id)
    assert event.user_id == world.users["clin_finnmark"] and event.remote_addr == "203.0.113.9"
    assert event.details == {"registry": "stroke", "unit_id": KIRKENES}


# --- Pseudonymised records for analysts ---------------------------------------------------


@pytest.mark.parametrize(
    ("username", "expected"),
    [
        ("analyst_nation", STROKE_LABELS),
        ("analyst_nord", STROKE_LABELS - {"stroke_ulleval"}),
    ],
)
def test_analysts_get_pseudonymised_records(
    world: World, username: str, expected: set[str]
) -> None:
    frame = pseudonymised_registrations(
        world.database, world.scope(username), "stroke", context={"format": "csv"}
    )
    assert frame.schema == pl.Schema(PSEUDONYMISED_SCHEMA)
    assert _labels(world, frame["id"].to_list()) == expected
    by_id = {registration_id: label for label, registration_id in world.registrations.items()}
    for row in frame.iter_rows(named=True):
        national_id = world.national_ids[by_id[row["id"]]]
        assert row["pseudonym"] == pseudonym(national_id, PSEUDONYM_KEY)
    text = frame.write_csv()
    for national_id in world.national_ids.values():
        assert national_id not in text and national_id[:6] not in text
    with world.database.reading() as session:
        birth_years = {
            patient.pseudonym: patient.birth_date.year
            for patient in session.scalars(select(Patient))
        }
    assert all(
        birth_years[row["pseudonym"]] == row["birth_year"] for row in frame.iter_rows(named=True)
    )
    [event] = _audit_events(world.database, "export")
    assert event.user_id == world.users[username]
    assert event.details["rows"] == frame.height
    assert event.details["kind"] == "pseudonymised_registrations"
    assert event.details["context"] == {"format": "csv"}


def test_export_filters_are_applied_and_audited(world: World) -> None:
    frame = pseudonymised_registrations(
        world.database,
        world.scope("analyst_nation"),
        "stroke",
        statuses=["complete"],
        period=(date(2025, 1, 1), date(2025, 3, 31)),
    )
    assert _labels(world, frame["id"].to_list()) == {"stroke_hammerfest_2", "stroke_kirkenes"}
    [event] = _audit_events(world.database, "export")
    assert event.details["filters"] == {
        "statuses": ["complete"],
        "period": ["2025-01-01", "2025-03-31"],
    }
    assert event.details["rows"] == 2


@pytest.mark.parametrize(
    ("username", "registry"),
    [
        ("clin_finnmark", "stroke"),
        ("reg_hammerfest_hospital", "stroke"),
        ("admin_nation", "stroke"),
        ("reg_hip", "stroke"),
        ("analyst_nation", "hip"),
        ("disabled", "stroke"),
        ("no_grants", "stroke"),
    ],
)
def test_only_analysts_may_export(world: World, username: str, registry: str) -> None:
    with pytest.raises(AccessDenied):
        pseudonymised_registrations(world.database, world.scope(username), registry)
    assert _audit_events(world.database, "export") == []


# --- The scope itself (no database) ------------------------------------------------------

ACTOR = Actor(user_id=5, username="kari")


def test_a_scope_cannot_be_widened_after_it_is_made() -> None:
    grants: dict[str, dict[Role, set[int]]] = {"stroke": {"clinician": {HAMMERFEST}}}
    scope = AccessScope(actor=ACTOR, roles=grants)  # type: ignore[arg-type]
    grants["stroke"]["clinician"].add(HARSTAD)
    grants["stroke"]["registrar"] = {HARSTAD}
    grants["hip"] = {"admin": {NATION}}
    assert scope.units("stroke", "clinician", "registrar") == {HAMMERFEST}
    assert set(scope.roles) == {"stroke"}
    with pytest.raises(TypeError):
        scope.roles["hip"] = {}  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        scope.actor = ANONYMOUS.actor  # type: ignore[misc]


def test_scopes_compare_and_hash_by_value() -> None:
    one = AccessScope(actor=ACTOR, roles={"stroke": {"clinician": frozenset({HAMMERFEST})}})
    two = AccessScope(actor=ACTOR, roles={"stroke": {"clinician": frozenset({HAMMERFEST})}})
    other = AccessScope(actor=ACTOR, roles={"stroke": {"registrar": frozenset({HAMMERFEST})}})
    assert one == two and hash(one) == hash(two)
    assert one != other
    assert len({one, two, other, ANONYMOUS}) == 3


def test_empty_grants_are_dropped_and_unknown_roles_refused() -> None:
    scope = AccessScope(actor=ACTOR, roles={"stroke": {"clinician": frozenset()}})
    assert scope.roles == {}
    with pytest.raises(ValueError, match="unknown role"):
        AccessScope(actor=ACTOR, roles={"stroke": {"owner": frozenset({1})}})  # type: ignore[dict-item]


def test_units_needs_a_role() -> None:
    scope = AccessScope(actor=ACTOR, roles={"stroke": {"admin": frozenset({HAMMERFEST})}})
    with pytest.raises(ValueError, match="at least one role"):
        scope.units("stroke")
    assert scope.units("stroke", "clinician", "registrar") == frozenset()
    assert scope.units("stroke", "admin") == {HAMMERFEST}


@pytest.mark.parametrize(
    ("nation_unit_id", "admin_unit", "expected"),
    [(NATION, NATION, True), (NATION, REGION_NORD, False), (None, NATION, False)],
)
def test_installation_admin_needs_an_admin_grant_on_the_nation(
    nation_unit_id: int | None, admin_unit: int, expected: bool
) -> None:
    scope = AccessScope(
        actor=ACTOR,
        roles={"hip": {"admin": frozenset({admin_unit})}},
        nation_unit_id=nation_unit_id,
    )
    assert scope.is_installation_admin() is expected


def test_anonymous_may_do_nothing() -> None:
    assert not ANONYMOUS.authenticated and ANONYMOUS.roles == {}
    assert not ANONYMOUS.may_read_records("stroke", HAMMERFEST)
    assert not ANONYMOUS.may_edit_records("stroke", HAMMERFEST)
    assert not ANONYMOUS.may_export("stroke")
    assert not ANONYMOUS.may_administer("stroke")
    assert not ANONYMOUS.is_installation_admin()
