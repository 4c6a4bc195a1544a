"""The audit log on SQLite and PostgreSQL: appends chain up, tampering of any kind is found.

Tampering tests first switch the append-only triggers off, as someone with database
administrator rights could; the hash chain must catch what they do anyway.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import math
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import flask
import pytest
import sqlalchemy
from sqlalchemy import Connection, delete, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError

from data_access import migrate
from data_access.audit import (
    FRAME_SCHEMA,
    GENESIS_HASH,
    HASHED_FIELDS,
    REDACTED,
    SYSTEM,
    Actor,
    AuditChainError,
    ChainVerification,
    canonical_content,
    event_hash,
    events_csv,
    field_changes,
    record,
    record_event,
    record_many,
    search_events,
    verify_chain,
)
from data_access.database import Database
from data_access.models import AuditChainHead, AuditEvent, Registry, User

EVENTS = AuditEvent.__table__
HEAD = AuditChainHead.__table__
SQLITE_TRIGGERS = ("audit_events_no_update", "audit_events_no_delete", "audit_chain_head_no_delete")
POSTGRES_TRIGGERS = (
    ("audit_events", "audit_events_append_only"),
    ("audit_chain_head", "audit_chain_head_keep"),
)


@pytest.fixture
def people(database: Database) -> dict[str, int]:
    """A user and a registry for events to point at (both are foreign keys)."""
    with database.transaction() as session:
        user = User(username="kari", display_name="Kari Nordmann")
        registry = Registry(key="stroke", name_nb="Hjerneslag", name_en="Stroke")
        session.add_all([user, registry])
        session.flush()
        return {"user_id": user.id, "registry_id": registry.id}


@pytest.fixture
def five_events(database: Database, people: dict[str, int]) -> list[dict[str, Any]]:
    """A chain of five varied events, as stored (id order)."""
    kari = Actor(user_id=people["user_id"], username="kari", remote_addr="10.0.0.1")
    record_event(database, "login.success", kari, details={"method": "password"})
    record_event(
        database,
        "registration.view",
        kari,
        object_type="registration",
        object_id=17,
        registry_id=people["registry_id"],
    )
    record_event(
        database,
        "registration.update",
        kari,
        object_type="registration",
        object_id="17",
        registry_id=people["registry_id"],
        details={"changes": field_changes({"nihss": 7, "tpa": 0}, {"nihss": 9, "tpa": 0})},
    )
    record_event(database, "login.failure", Actor(None, "ola", "10.0.0.2"), details={"n": 1.5})
    record_event(database, "export", kari, registry_id=people["registry_id"], details={"rows": 3})
    return _stored(database)


def _stored(database: Database) -> list[dict[str, Any]]:
    with database.reading() as session:
        return [
            dict(row) for row in session.execute(select(EVENTS).order_by(EVENTS.c.id)).mappings()
        ]


def _head(database: Database) -> dict[str, Any]:
    with database.reading() as session:
        return dict(session.execute(select(HEAD)).mappings().one())


@contextmanager
def _unprotected(database: Database) -> Iterator[Connection]:
    """A transaction with the append-only triggers off, as a database administrator could."""
    with database.engine.begin() as connection:
        if database.dialect == "postgresql":
            for table, trigger in POSTGRES_TRIGGERS:
                connection.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}"))
        else:
            for trigger in SQLITE_TRIGGERS:
                connection.execute(text(f"DROP TRIGGER {trigger}"))
        yield connection


def _content(event: dict[str, Any]) -> dict[str, Any]:
    return {name: event[name] for name in HASHED_FIELDS}


# --- appending ---------------------------------------------------------------------------


def test_an_empty_log_verifies(database: Database) -> None:
    assert verify_chain(database) == ChainVerification(ok=True, events_checked=0)
    assert _head(database) == {
        "id": 1,
        "last_event_id": None,
        "last_hash": GENESIS_HASH,
        "event_count": 0,
    }


def test_appends_link_each_event_to_the_one_before(
    database: Database, five_events: list[dict[str, Any]]
) -> None:
    assert five_events[0]["previous_hash"] == GENESIS_HASH
    for before, event in itertools.pairwise(five_events):
        assert event["previous_hash"] == before["hash"]
        assert event["occurred_at"] >= before["occurred_at"]
    for event in five_events:
        assert event["hash"] == event_hash(event)
    assert five_events[1]["object_id"] == "17"
    assert five_events[2]["details"] == {"changes": {"nihss": {"old": 7, "new": 9}}}
    assert _head(database) == {
        "id": 1,
        "last_event_id": five_events[-1]["id"],
        "last_hash": five_events[-1]["hash"],
        "event_count": 5,
    }
    assert verify_chain(database) == ChainVerification(ok=True, events_checked=5)


@pytest.mark.parametrize("count", [1, 3, 100, 101, 1_500])
def test_appends_of_any_size_link_in_id_order_and_move_the_head(
    database: Database, count: int
) -> None:
    """On PostgreSQL one event is linked and hashed by the database, more by the portal in
    batches; SQLite's by the portal: every way must give the same chain."""
    record_event(database, "login.success", SYSTEM)
    with database.transaction() as session:
        record_many(
            session,
            SYSTEM,
            [
                ("registration.view", {"object_id": n, "details": {"navn": "Ærø"}})
                for n in range(count)
            ],
        )
    events = _stored(database)
    assert [event["object_id"] for event in events[1:]] == [str(n) for n in range(count)]
    for before, event in itertools.pairwise(events):
        assert event["previous_hash"] == before["hash"]
        assert event["hash"] == event_hash(event)
    assert _head(database) == {
        "id": 1,
        "last_event_id": events[-1]["id"],
        "last_hash": events[-1]["hash"],
        "event_count": count + 1,
    }
    assert verify_chain(database) == ChainVerification(ok=True, events_checked=count + 1)


def test_an_event_of_its_own_is_one_statement_on_postgresql(database: Database) -> None:
    """No BEGIN, no COMMIT, no second trip: the chain head, which every audited writer waits
    for, is never held while the portal gets round to its next step."""
    if database.dialect != "postgresql":
        pytest.skip("SQLite's round trips stay in the process")
    statements: list[tuple[str, bool]] = []

    def count(connection: Connection, _cursor: object, statement: str, *_: object) -> None:
        # psycopg sends no BEGIN (so no COMMIT either) on a connection in autocommit mode
        statements.append((statement, connection.connection.dbapi_connection.autocommit))

    sqlalchemy.event.listen(database.engine, "before_cursor_execute", count)
    try:
        record_event(database, "login.success", SYSTEM, details={"n": 1})
    finally:
        sqlalchemy.event.remove(database.engine, "before_cursor_execute", count)
    assert len(statements) == 1
    assert "FOR UPDATE" in statements[0][0] and statements[0][1] is True
    assert verify_chain(database) == ChainVerification(ok=True, events_checked=1)


def test_an_event_commits_or_rolls_back_with_the_change_it_records(
    database: Database, people: dict[str, int]
) -> None:
    with pytest.raises(RuntimeError, match="change failed"), database.transaction() as session:
        record(session, "user.update", SYSTEM, object_type="user", object_id=people["user_id"])
        raise RuntimeError("change failed")
    assert _stored(database) == []
    assert _head(database)["event_count"] == 0
    with database.transaction() as session:
        record(session, "user.update", SYSTEM, object_type="user", object_id=people["user_id"])
        record(session, "user.disable", SYSTEM, object_type="user", object_id=people["user_id"])
    assert [event["action"] for event in _stored(database)] == ["user.update", "user.disable"]
    assert verify_chain(database) == ChainVerification(ok=True, events_checked=2)


def test_canonical_form_is_pinned() -> None:
    """The documented form, byte for byte: an outside verifier must be able to rebuild it."""
    event = {
        "occurred_at": datetime(2026, 11, 26, 10, 0, 0, 5, tzinfo=UTC) + timedelta(hours=-1),
        "user_id": 7,
        "username": "kari",
        "remote_addr": "10.0.0.1",
        "action": "registration.update",
        "registry_id": 1,
        "object_type": "registration",
        "object_id": "17",
        "details": {"nihss": {"old": 7, "new": 9.0}, "note": "Ærø"},
        "previous_hash": GENESIS_HASH,
    }
    canonical = (
        '{"action":"registration.update","details":{"nihss":{"new":9,"old":7},"note":"Ærø"},'
        '"object_id":"17","object_type":"registration",'
        '"occurred_at":"2026-11-26T09:00:00.000005Z",'
        f'"previous_hash":"{GENESIS_HASH}","registry_id":1,"remote_addr":"10.0.0.1",'
        '"user_id":7,"username":"kari"}'
    )
    assert canonical_content(event) == canonical
    expected = hashlib.sha256((GENESIS_HASH + canonical).encode("utf-8")).hexdigest()
    assert event_hash(event) == expected
    assert expected == "a38ad55d2257f89a9987bc1d581ff1f22d9e3599c4476a4925f2c5603ba30b40"


NOW = datetime(2026, 11, 26, 9, 30, 15, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    ("details", "stored"),
    [
        ({"n": 1}, {"n": 1}),
        ({"n": 1.0}, {"n": 1}),
        ({"n": 1e20}, {"n": 10**20}),
        ({"n": 1.5e-7}, {"n": 1.5e-7}),
        ({"n": 0.1 + 0.2}, {"n": 0.30000000000000004}),
        ({"n": -0.0}, {"n": 0}),
        ({"n": 2**70}, {"n": 2**70}),
        ({"n": 1e300}, {"n": 10**300}),
        ({"n": 1e-300}, {"n": 1e-300}),
        ({"n": -12.5, "m": 123456789012345680000.0}, {"n": -12.5, "m": 123456789012345680000}),
        (
            {"nan": math.nan, "inf": math.inf, "minf": -math.inf},
            {"nan": "NaN", "inf": "Infinity", "minf": "-Infinity"},
        ),
        ({"s": "Ærøskøbing – «sitat» 🧠"}, {"s": "Ærøskøbing – «sitat» 🧠"}),
        ({"s": 'quote " backslash \\ newline \n tab \t \u2028'}, None),
        ({"s": "nul\x00byte"}, {"s": "nul\ufffdbyte"}),
        ({"s": "lone \ud800 surrogate"}, {"s": "lone ? surrogate"}),
        ({"zz": 1, "a": {"ccc": [3, {"y": 2.0, "x": None}], "b": True}}, None),
        (
            {"when": NOW, "day": date(2026, 1, 2)},
            {"when": "2026-11-26T09:30:15.123456+00:00", "day": "2026-01-02"},
        ),
        ({"amount": Decimal("12.30")}, {"amount": "12.30"}),
        ({"ids": {3, 1, 2}, "pair": (1, "a")}, {"ids": [1, 2, 3], "pair": [1, "a"]}),
        ({1: "int key", "nøkkel": []}, {"1": "int key", "nøkkel": []}),
        ({"empty": {}, "list": list(range(50))}, None),
    ],
    ids=lambda value: json.dumps(value, default=str, ensure_ascii=True)[:40],
)
def test_details_survive_the_round_trip_on_both_databases(
    database: Database, details: dict[Any, Any], stored: dict[str, Any] | None
) -> None:
    record_event(database, "export", SYSTEM, details=details)
    record_event(database, "export", SYSTEM, details={"after": True})
    assert verify_chain(database) == ChainVerification(ok=True, events_checked=2)
    event = _stored(database)[0]
    expected = {**_content(event), "details": details if stored is None else stored}
    assert canonical_content(_content(event)) == canonical_content(expected)


def test_text_fields_are_cleaned_and_cut_to_their_columns(database: Database) -> None:
    attacker = Actor(user_id=None, username="x\x00" + "y" * 500, remote_addr="1" * 100)
    record_event(database, "login.failure", attacker, object_type="t" * 90, object_id="o" * 90)
    event = _stored(database)[0]
    assert event["username"] == "x\ufffd" + "y" * 78
    assert (len(event["remote_addr"]), len(event["object_type"]), len(event["object_id"])) == (
        45,
        40,
        64,
    )
    assert verify_chain(database).ok


@pytest.mark.parametrize(
    ("action", "details", "error"),
    [
        ("Login.Success", None, ValueError),
        ("login success", None, ValueError),
        ("login.", None, ValueError),
        ("a" * 61, None, ValueError),
        ("export", {"secret": b"\x00\x01"}, TypeError),
        ("export", {"when": object()}, TypeError),
        ("export", {(1, 2): "tuple key"}, TypeError),
        ("export", {1: "a", "1": "b"}, ValueError),
    ],
)
def test_malformed_events_are_refused_and_nothing_is_written(
    database: Database, action: str, details: dict[Any, Any] | None, error: type[Exception]
) -> None:
    with pytest.raises(error):
        record_event(database, action, SYSTEM, details=details)
    assert _stored(database) == []
    assert _head(database)["event_count"] == 0


def test_concurrent_appends_never_fork_the_chain(database: Database) -> None:
    def append(worker: int) -> None:
        actor = Actor(user_id=None, username=f"worker{worker}")
        for number in range(25):
            record_event(database, "registration.view", actor, details={"n": number})

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(append, range(8)))
    assert verify_chain(database) == ChainVerification(ok=True, events_checked=200)
    events = _stored(database)
    assert len({event["previous_hash"] for event in events}) == 200
    assert _head(database)["event_count"] == 200


# --- protection by triggers --------------------------------------------------------------

REFUSED = [
    ("update", "UPDATE audit_events SET action = 'logout'", False),
    ("update one", "UPDATE audit_events SET details = details WHERE id = :id", False),
    ("delete one", "DELETE FROM audit_events WHERE id = :id", False),
    ("delete all", "DELETE FROM audit_events", False),
    ("truncate", "TRUNCATE audit_events", True),
    ("delete head", "DELETE FROM audit_chain_head", False),
    ("truncate head", "TRUNCATE audit_chain_head", True),
]


@pytest.mark.parametrize(
    ("statement", "postgres_only"),
    [(statement, postgres_only) for _, statement, postgres_only in REFUSED],
    ids=[name for name, _, _ in REFUSED],
)
def test_the_database_refuses_changes_to_the_log(
    database: Database, five_events: list[dict[str, Any]], statement: str, postgres_only: bool
) -> None:
    if postgres_only and database.dialect != "postgresql":
        pytest.skip("SQLite has no TRUNCATE")
    with pytest.raises(DBAPIError, match="append-only"), database.engine.begin() as connection:
        connection.execute(text(statement), {"id": five_events[2]["id"]})
    assert _stored(database) == five_events
    assert verify_chain(database) == ChainVerification(ok=True, events_checked=5)


def test_the_orm_cannot_delete_an_event_either(
    database: Database, five_events: list[dict[str, Any]]
) -> None:
    with pytest.raises(DBAPIError, match="append-only"), database.transaction() as session:
        session.delete(session.get(AuditEvent, five_events[0]["id"]))
    assert verify_chain(database).ok


# --- tampering ---------------------------------------------------------------------------

Tamper = Callable[[Connection, list[dict[str, Any]]], int | None]


def _edit(**values: object) -> Tamper:
    def tamper(connection: Connection, events: list[dict[str, Any]]) -> int:
        connection.execute(update(EVENTS).where(EVENTS.c.id == events[2]["id"]).values(**values))
        return int(events[2]["id"])

    return tamper


def _edit_and_rehash(connection: Connection, events: list[dict[str, Any]]) -> int:
    forged = {**events[2], "details": {"changes": {"nihss": {"old": 7, "new": 3}}}}
    connection.execute(
        update(EVENTS)
        .where(EVENTS.c.id == forged["id"])
        .values(details=forged["details"], hash=event_hash(forged))
    )
    return int(events[3]["id"])


def _delete(*positions: int) -> Tamper:
    def tamper(connection: Connection, events: list[dict[str, Any]]) -> int:
        ids = [events[position]["id"] for position in positions]
        connection.execute(delete(EVENTS).where(EVENTS.c.id.in_(ids)))
        survivors = [event for event in events if event["id"] not in ids]
        if positions[0] == 0 and survivors:
            return int(survivors[0]["id"])
        later = [event["id"] for event in survivors if event["id"] > min(ids)]
        return int(later[0]) if later else int(events[-1]["id"])

    return tamper


def _forged_after(event: dict[str, Any], new_id: int, *, valid: bool) -> dict[str, Any]:
    forged = {
        **event,
        "id": new_id,
        "action": "grant.create",
        "details": {"role": "admin"},
        "previous_hash": event["hash"],
        "occurred_at": event["occurred_at"] + timedelta(microseconds=1),
    }
    forged["hash"] = event_hash(forged) if valid else "f" * 64
    return forged


def _insert_in_middle(*, valid: bool) -> Tamper:
    def tamper(connection: Connection, events: list[dict[str, Any]]) -> int:
        third = events[2]
        connection.execute(
            update(EVENTS).where(EVENTS.c.id > third["id"]).values(id=EVENTS.c.id + 1000)
        )
        forged = _forged_after(third, third["id"] + 1, valid=valid)
        connection.execute(insert(EVENTS).values(**forged))
        return int(events[3]["id"]) + 1000 if valid else int(forged["id"])

    return tamper


def _append_past_the_head(connection: Connection, events: list[dict[str, Any]]) -> int:
    forged = _forged_after(events[-1], events[-1]["id"] + 1, valid=True)
    connection.execute(insert(EVENTS).values(**forged))
    return int(forged["id"])


def _swap_contents(connection: Connection, events: list[dict[str, Any]]) -> int:
    second, third = events[1], events[2]
    content = [*HASHED_FIELDS, "hash"]
    connection.execute(update(EVENTS).where(EVENTS.c.id == third["id"]).values(hash="0" * 64))
    connection.execute(
        update(EVENTS)
        .where(EVENTS.c.id == second["id"])
        .values(**{name: third[name] for name in content})
    )
    connection.execute(
        update(EVENTS)
        .where(EVENTS.c.id == third["id"])
        .values(**{name: second[name] for name in content})
    )
    return int(second["id"])


def _move_head(**values: object) -> Tamper:
    def tamper(connection: Connection, events: list[dict[str, Any]]) -> int:
        connection.execute(update(HEAD).values(**values))
        return int(events[-1]["id"])

    return tamper


def _delete_head(connection: Connection, events: list[dict[str, Any]]) -> None:
    connection.execute(delete(HEAD))
    return None


TAMPERING: dict[str, Tamper] = {
    "edit action": _edit(action="login.success"),
    "edit details": _edit(details={"changes": {"nihss": {"old": 7, "new": 3}}}),
    "edit occurred_at": _edit(occurred_at=datetime(2020, 1, 1, tzinfo=UTC)),
    "edit username": _edit(username="ola"),
    "edit user_id": _edit(user_id=None),
    "edit remote_addr": _edit(remote_addr="192.168.0.1"),
    "edit object_id": _edit(object_id="18"),
    "edit registry_id": _edit(registry_id=None),
    "edit previous_hash": _edit(previous_hash=GENESIS_HASH),
    "edit hash": _edit(hash="e" * 64),
    "edit and rehash": _edit_and_rehash,
    "delete first": _delete(0),
    "delete middle": _delete(2),
    "delete two in the middle": _delete(1, 2),
    "delete newest": _delete(4),
    "delete two newest": _delete(3, 4),
    "delete all": _delete(0, 1, 2, 3, 4),
    "insert forged in middle": _insert_in_middle(valid=True),
    "insert badly forged in middle": _insert_in_middle(valid=False),
    "append past the head": _append_past_the_head,
    "swap two events' contents": _swap_contents,
    "head count changed": _move_head(event_count=6),
    "head hash changed": _move_head(last_hash="d" * 64),
    "head row deleted": _delete_head,
}


@pytest.mark.parametrize("tamper", TAMPERING.values(), ids=TAMPERING.keys())
def test_tampering_is_found_at_the_first_broken_link(
    database: Database, five_events: list[dict[str, Any]], tamper: Tamper
) -> None:
    with _unprotected(database) as connection:
        broken_id = tamper(connection, five_events)
    result = verify_chain(database)
    assert not result.ok
    assert result.first_broken_id == broken_id, result.reason
    assert result.reason


def test_appending_after_deleting_the_newest_event_still_shows_the_gap(
    database: Database, five_events: list[dict[str, Any]]
) -> None:
    with _unprotected(database) as connection:
        connection.execute(delete(EVENTS).where(EVENTS.c.id == five_events[-1]["id"]))
    record_event(database, "logout", SYSTEM)
    newest = _stored(database)[-1]
    result = verify_chain(database)
    assert (result.ok, result.first_broken_id) == (False, newest["id"])


def test_appending_without_a_head_row_is_refused(
    database: Database, five_events: list[dict[str, Any]]
) -> None:
    with _unprotected(database) as connection:
        connection.execute(delete(HEAD))
    with pytest.raises(AuditChainError, match="head row is missing"):
        record_event(database, "logout", SYSTEM)
    assert len(_stored(database)) == 5


def test_the_migration_adopts_events_already_stored(
    database: Database, five_events: list[dict[str, Any]]
) -> None:
    migrate.downgrade(database, "0002")
    migrate.upgrade(database)
    assert _head(database)["event_count"] == 5
    assert verify_chain(database) == ChainVerification(ok=True, events_checked=5)
    with pytest.raises(DBAPIError, match="append-only"), database.engine.begin() as connection:
        connection.execute(delete(EVENTS))


# --- field changes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "changes"),
    [
        ({}, {}, {}),
        ({"a": 1}, {"a": 1}, {}),
        ({"a": 1}, {"a": 2}, {"a": {"old": 1, "new": 2}}),
        ({"a": 1}, {"a": 1.0}, {}),
        ({"a": 1}, {"a": True}, {"a": {"old": 1, "new": True}}),
        ({"a": False}, {"a": 0}, {"a": {"old": False, "new": 0}}),
        ({"a": math.nan}, {"a": math.nan}, {}),
        ({"a": None}, {}, {}),
        ({}, {"a": "x"}, {"a": {"old": None, "new": "x"}}),
        ({"a": "x"}, {}, {"a": {"old": "x", "new": None}}),
        ({"a": [1, 2]}, {"a": [2, 1]}, {"a": {"old": [1, 2], "new": [2, 1]}}),
        (
            {"b": 1, "a": 1},
            {"b": 2, "a": 2},
            {"a": {"old": 1, "new": 2}, "b": {"old": 1, "new": 2}},
        ),
        (
            {"d": date(2025, 1, 1)},
            {"d": "2025-01-01"},
            {"d": {"old": date(2025, 1, 1), "new": "2025-01-01"}},
        ),
        (
            {"password_hash": "$argon2id$old"},
            {"password_hash": "$argon2id$new"},
            {"password_hash": {"old": REDACTED, "new": REDACTED}},
        ),
        (
            {"totp_secret_encrypted": None},
            {"totp_secret_encrypted": b"k"},
            {"totp_secret_encrypted": {"old": None, "new": REDACTED}},
        ),
        ({"token_hash": "same"}, {"token_hash": "same"}, {}),
    ],
)
def test_field_changes(
    old: dict[str, object], new: dict[str, object], changes: dict[str, dict[str, object]]
) -> None:
    result = field_changes(old, new)
    assert result == changes
    assert list(result) == sorted(result)


# --- searching and exporting -------------------------------------------------------------


@pytest.fixture
def searchable(database: Database, people: dict[str, int]) -> list[dict[str, Any]]:
    kari = Actor(people["user_id"], "kari", "10.0.0.1")
    ola = Actor(None, "ola", "10.0.0.2")
    registry = people["registry_id"]
    registration = {"object_type": "registration", "registry_id": registry}
    record_event(database, "login.success", kari)
    record_event(database, "login.failure", ola, details={"reason": "password"})
    record_event(database, "registration.view", kari, object_id=17, **registration)
    record_event(database, "registration.update", kari, object_id=17, **registration)
    record_event(database, "registration.view", ola, object_id=18, **registration)
    record_event(database, "export", kari, registry_id=registry, details={"rows": 2})
    record_event(database, "recovery_code.used", kari, details={"left": 9})
    return _stored(database)


SEARCHES: list[tuple[str, dict[str, Any], list[int]]] = [
    ("everything", {}, [6, 5, 4, 3, 2, 1, 0]),
    ("one user", {"username": "kari"}, [6, 5, 3, 2, 0]),
    ("unknown user", {"username": "nobody"}, []),
    ("action family", {"action": "login"}, [1, 0]),
    ("one action", {"action": "login.success"}, [0]),
    ("family of registrations", {"action": "registration"}, [4, 3, 2]),
    ("no prefix without a dot", {"action": "log"}, []),
    ("underscore is literal", {"action": "recovery_code"}, [6]),
    ("underscore is no wildcard", {"action": "recoveryXcode"}, []),
    ("one record", {"object_type": "registration", "object_id": "17"}, [3, 2]),
    ("registry", {"registry_id": "REGISTRY"}, [5, 4, 3, 2]),
    ("user and action", {"username": "ola", "action": "registration"}, [4]),
    ("limit", {"limit": 2}, [6, 5]),
    ("period", {"start": 2, "end": 4}, [3, 2]),
    ("from", {"start": 5}, [6, 5]),
    ("until", {"end": 1}, [0]),
]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [(filters, expected) for _, filters, expected in SEARCHES],
    ids=[name for name, _, _ in SEARCHES],
)
def test_search_filters(
    database: Database,
    people: dict[str, int],
    searchable: list[dict[str, Any]],
    filters: dict[str, Any],
    expected: list[int],
) -> None:
    resolved = dict(filters)
    for bound in ("start", "end"):
        if bound in resolved:
            resolved[bound] = searchable[resolved[bound]]["occurred_at"]
    if resolved.get("registry_id") == "REGISTRY":
        resolved["registry_id"] = people["registry_id"]
    frame = search_events(database, **resolved)
    assert frame.schema == FRAME_SCHEMA
    assert frame["id"].to_list() == [searchable[position]["id"] for position in expected]


def test_search_gives_details_as_json_text_and_refuses_naive_times(
    database: Database, searchable: list[dict[str, Any]]
) -> None:
    frame = search_events(database, action="export")
    assert json.loads(frame["details"][0]) == {"rows": 2}
    assert frame["occurred_at"][0] == searchable[5]["occurred_at"]
    with pytest.raises(ValueError, match="timezone-aware"):
        search_events(database, start=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="limit"):
        search_events(database, limit=0)


def test_csv_export_is_readable_and_defuses_formulas(database: Database) -> None:
    record_event(
        database,
        "login.failure",
        Actor(None, '=HYPERLINK("http://evil")', "10.0.0.9"),
        details={"reason": "unknown user", "note": "+1"},
    )
    frame = search_events(database)
    rows = list(csv.DictReader(io.StringIO(events_csv(frame))))
    assert len(rows) == 1
    row = rows[0]
    assert list(row) == list(FRAME_SCHEMA)
    assert row["username"] == '\'=HYPERLINK("http://evil")'
    assert json.loads(row["details"]) == {"note": "+1", "reason": "unknown user"}
    assert row["occurred_at"].endswith("Z")
    stamp = datetime.fromisoformat(row["occurred_at"])
    assert stamp == frame["occurred_at"][0]
    assert events_csv(search_events(database, username="nobody")).splitlines() == [
        ",".join(FRAME_SCHEMA)
    ]


# --- the command -------------------------------------------------------------------------


def _verify(app: flask.Flask) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    return result.exit_code, result.output


def test_audit_verify_command(app: flask.Flask) -> None:
    database: Database = app.extensions["database"]
    with database.reading() as session:
        before = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
    record_event(database, "login.success", Actor(None, "kari"))
    record_event(database, "logout", Actor(None, "kari"))
    assert _verify(app) == (0, f"Audit chain intact: {before + 2} events\n")
    assert _verify(app) == (0, f"Audit chain intact: {before + 3} events\n")  # it audits itself
    newest = _stored(database)[-1]
    assert (newest["action"], newest["username"]) == ("audit.verify", "system")
    assert newest["details"] == {
        "ok": True,
        "events_checked": before + 3,
        "first_broken_id": None,
        "reason": None,
    }
    target = _stored(database)[before]
    with _unprotected(database) as connection:
        connection.execute(update(EVENTS).where(EVENTS.c.id == target["id"]).values(username="ola"))
    code, output = _verify(app)
    assert code == 1
    assert output.startswith(f"Audit chain broken at event {target['id']}: ")
    failed = search_events(database, action="audit.verify")["details"][0]
    assert json.loads(failed)["first_broken_id"] == target["id"]


def test_audit_verify_command_without_a_head_row(app: flask.Flask) -> None:
    database: Database = app.extensions["database"]
    with _unprotected(database) as connection:
        connection.execute(delete(HEAD))
    code, output = _verify(app)
    assert code == 1
    assert "could not be recorded" in output
    assert "Audit chain broken at the chain head: the chain head row is missing" in output
