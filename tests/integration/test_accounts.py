"""User accounts, grants and the password login on both databases, with their audit events."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select, update

from data_access import accounts
from data_access.accounts import (
    DEMO_USERS,
    AccountError,
    create_demo_users,
    create_user,
    disable_user,
    enable_user,
    find_user_id,
    grant,
    list_grants,
    list_users,
    revoke,
    set_password,
    update_user,
)
from data_access.audit import SYSTEM, Actor
from data_access.database import Database
from data_access.login import LOCKOUT_MINUTES, LOCKOUT_THRESHOLD, authenticate_password
from data_access.models import AuditEvent, Grant, Unit, User, UserSession
from data_access.org_tree import read_unit_tree
from data_access.passwords import needs_rehash, verify_password
from data_access.reference_data import ensure_registry, sync_units

PASSWORD = "korrekt-hest-batteri-stift"
NEW_PASSWORD = "en helt annen setning"
ULLEVAL, HAUKELAND, NATION = 100032, 100024, 1
ADMIN = Actor(user_id=None, username="test-admin", remote_addr="10.0.0.1")
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def loaded(database: Database) -> Database:
    sync_units(database, read_unit_tree())
    ensure_registry(database, "stroke", "Hjerneslag", "Stroke")
    return database


@pytest.fixture
def ola(loaded: Database) -> int:
    return create_user(loaded, ADMIN, "ola", "Ola Nordmann", PASSWORD, email="ola@example.no")


def events(database: Database, action: str | None = None) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.id)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    with database.reading() as session:
        return list(session.scalars(query))


def user_row(database: Database, user_id: int) -> User:
    with database.reading() as session:
        user = session.get(User, user_id)
    assert user is not None
    return user


def assert_no_secrets(database: Database, *secrets: str) -> None:
    for event in events(database):
        text = json.dumps(event.details, default=str)
        assert "$argon2" not in text, event.action
        for secret in secrets:
            assert secret not in text, event.action


def refused(code: str, call: object, *args: object, **kwargs: object) -> AccountError:
    with pytest.raises(AccountError) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    assert caught.value.code == code, caught.value.message
    return caught.value


def open_session(database: Database, user_id: int, token: str, ended: bool = False) -> int:
    with database.transaction() as session:
        row = UserSession(
            token_hash=token.ljust(64, "0"),
            user_id=user_id,
            expires_at=T0 + timedelta(hours=8),
            ended_at=T0 if ended else None,
        )
        session.add(row)
        session.flush()
        return row.id


def session_ends(database: Database) -> dict[int, datetime | None]:
    with database.reading() as session:
        return {row.id: row.ended_at for row in session.scalars(select(UserSession))}


# ---- creating users ----------------------------------------------------------------------------


def test_create_user_stores_a_hash_and_audits_without_secrets(loaded: Database, ola: int) -> None:
    user = user_row(loaded, ola)
    assert (user.username, user.display_name, user.email, user.language) == (
        "ola",
        "Ola Nordmann",
        "ola@example.no",
        "nb",
    )
    assert user.is_active and user.failed_logins == 0 and user.password_changed_at is not None
    assert user.password_hash is not None and user.password_hash.startswith("$argon2id$")
    assert verify_password(user.password_hash, PASSWORD)
    [event] = events(loaded)
    assert (event.action, event.object_type, event.object_id) == ("user.create", "user", str(ola))
    assert (event.username, event.remote_addr) == ("test-admin", "10.0.0.1")
    assert event.details == {
        "username": "ola",
        "display_name": "Ola Nordmann",
        "email": "ola@example.no",
        "language": "nb",
    }
    assert_no_secrets(loaded, PASSWORD)


def test_a_taken_username_is_refused_and_nothing_is_written(loaded: Database, ola: int) -> None:
    refused("username_taken", create_user, loaded, ADMIN, "ola", "Another Ola", NEW_PASSWORD)
    assert len(events(loaded)) == 1
    assert list_users(loaded).height == 1


@pytest.mark.parametrize(
    "username",
    ["ab", "a" * 81, "Ola", "ola nordmann", "ola@sykehus", "øyvind", "", " ola", "ola\n"],
)
def test_invalid_usernames_are_refused(loaded: Database, username: str) -> None:
    refused("invalid_username", create_user, loaded, ADMIN, username, "Name", PASSWORD)
    assert events(loaded) == [] and list_users(loaded).is_empty()


@pytest.mark.parametrize("username", ["abc", "ola.nordmann", "o_l-a", "123", "a" * 80])
def test_valid_usernames(loaded: Database, username: str) -> None:
    user_id = create_user(loaded, ADMIN, username, "Name", PASSWORD)
    assert find_user_id(loaded, username) == user_id


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("display_name", "", "invalid_display_name"),
        ("display_name", "   ", "invalid_display_name"),
        ("display_name", "x" * 201, "invalid_display_name"),
        ("display_name", "Ola\nNordmann", "invalid_display_name"),
        ("email", "ola", "invalid_email"),
        ("email", "ola@sykehus", "invalid_email"),
        ("email", "ola nordmann@sykehus.no", "invalid_email"),
        ("email", "o" * 250 + "@x.no", "invalid_email"),
        ("language", "sv", "invalid_language"),
    ],
)
def test_invalid_fields_are_refused(loaded: Database, field: str, value: str, code: str) -> None:
    fields: dict[str, object] = {"display_name": "Ola", "email": None, "language": "nb"}
    fields[field] = value
    refused(code, create_user, loaded, ADMIN, "ola", password=PASSWORD, **fields)
    assert events(loaded) == [] and list_users(loaded).is_empty()


@pytest.mark.parametrize(
    ("password", "problems"),
    [
        ("kort", ("too_short",)),
        ("password", ("too_short", "common")),
        ("qwerty123456", ("common",)),
        ("ola-og-ola-igjen", ("same_as_username",)),
        ("x" * 129, ("too_long",)),
    ],
)
def test_the_password_policy_is_enforced(
    loaded: Database, password: str, problems: tuple[str, ...]
) -> None:
    error = refused("weak_password", create_user, loaded, ADMIN, "ola", "Ola", password)
    assert error.problems == problems
    assert repr(password) not in error.message and not error.message.endswith(password)
    assert events(loaded) == [] and list_users(loaded).is_empty()


def test_list_users_shows_state_and_no_secrets(loaded: Database, ola: int) -> None:
    create_user(loaded, ADMIN, "kari", "Kari Nordmann", PASSWORD, language="en")
    users = list_users(loaded)
    assert users["username"].to_list() == ["kari", "ola"]
    assert not any("hash" in column or "secret" in column for column in users.columns)
    kari = users.filter(username="kari").row(0, named=True)
    assert {key: kari[key] for key in ("display_name", "email", "language")} == {
        "display_name": "Kari Nordmann",
        "email": None,
        "language": "en",
    }
    assert (kari["is_active"], kari["has_two_factor"], kari["failed_logins"]) == (True, False, 0)
    assert kari["locked_until"] is None and kari["last_login_at"] is None
    assert kari["created_at"].tzinfo is not None and kari["password_changed_at"] is not None


def test_unknown_users_are_refused(loaded: Database) -> None:
    refused("unknown_user", find_user_id, loaded, "nobody")
    refused("unknown_user", disable_user, loaded, ADMIN, 999)
    refused("unknown_user", enable_user, loaded, ADMIN, 999)
    refused("unknown_user", update_user, loaded, ADMIN, 999, display_name="X")
    refused("unknown_user", set_password, loaded, ADMIN, 999, NEW_PASSWORD, reset=True)
    refused("unknown_user", grant, loaded, ADMIN, "nobody", "stroke", ULLEVAL, "clinician")
    refused("unknown_user", grant, loaded, ADMIN, 999, "stroke", ULLEVAL, "clinician")
    assert events(loaded) == []


# ---- changing users ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reset", "action"), [(True, "password.reset"), (False, "password.change")]
)
def test_set_password(loaded: Database, ola: int, reset: bool, action: str) -> None:
    with loaded.transaction() as session:
        session.execute(update(User).where(User.id == ola).values(failed_logins=7, locked_until=T0))
    kept = open_session(loaded, ola, "kept")
    other = open_session(loaded, ola, "other")
    set_password(loaded, ADMIN, ola, NEW_PASSWORD, reset=reset, except_session_id=kept)
    user = user_row(loaded, ola)
    assert user.password_hash is not None
    assert verify_password(user.password_hash, NEW_PASSWORD)
    assert not verify_password(user.password_hash, PASSWORD)
    assert (user.failed_logins, user.locked_until) == (0, None)
    ends = session_ends(loaded)
    assert ends[kept] is None and ends[other] is not None
    [event] = events(loaded, action)
    assert event.details == {"username": "ola", "sessions_ended": 1}
    assert_no_secrets(loaded, PASSWORD, NEW_PASSWORD)


def test_set_password_enforces_the_policy(loaded: Database, ola: int) -> None:
    error = refused(
        "weak_password", set_password, loaded, ADMIN, ola, "ola12345678901", reset=False
    )
    assert error.problems == ("same_as_username",)
    hashed = user_row(loaded, ola).password_hash
    assert hashed is not None and verify_password(hashed, PASSWORD)
    assert [e.action for e in events(loaded)] == ["user.create"]


def test_disable_ends_sessions_and_enable_restores(loaded: Database, ola: int) -> None:
    kari = create_user(loaded, ADMIN, "kari", "Kari", PASSWORD)
    first, second = open_session(loaded, ola, "a"), open_session(loaded, ola, "b")
    already = open_session(loaded, ola, "c", ended=True)
    karis = open_session(loaded, kari, "d")
    assert disable_user(loaded, ADMIN, ola) is True
    ends = session_ends(loaded)
    assert ends[first] is not None and ends[second] is not None
    assert ends[already] == T0 and ends[karis] is None
    assert user_row(loaded, ola).is_active is False
    [event] = events(loaded, "user.disable")
    assert event.details == {
        "username": "ola",
        "changes": {"is_active": {"old": True, "new": False}},
        "sessions_ended": 2,
    }
    assert disable_user(loaded, ADMIN, ola) is False
    assert len(events(loaded, "user.disable")) == 1
    assert enable_user(loaded, ADMIN, ola) is True
    assert enable_user(loaded, ADMIN, ola) is False
    [enabled] = events(loaded, "user.enable")
    assert enabled.details["changes"] == {"is_active": {"old": False, "new": True}}
    assert user_row(loaded, ola).is_active is True


def test_update_user_records_old_and_new_values(loaded: Database, ola: int) -> None:
    assert update_user(loaded, ADMIN, ola, display_name="Ola N.", language="en") is True
    [event] = events(loaded, "user.update")
    assert event.details == {
        "username": "ola",
        "changes": {
            "display_name": {"old": "Ola Nordmann", "new": "Ola N."},
            "language": {"old": "nb", "new": "en"},
        },
    }
    assert update_user(loaded, ADMIN, ola, email="") is True
    assert user_row(loaded, ola).email is None
    assert update_user(loaded, ADMIN, ola, display_name=" Ola N. ", email=None) is False
    assert update_user(loaded, ADMIN, ola) is False
    assert len(events(loaded, "user.update")) == 2


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"display_name": ""}, "invalid_display_name"),
        ({"email": "not an address"}, "invalid_email"),
        ({"language": "de"}, "invalid_language"),
        ({"display_name": "Fine", "language": "de"}, "invalid_language"),
    ],
)
def test_update_user_validates_before_changing(
    loaded: Database, ola: int, change: dict[str, str], code: str
) -> None:
    refused(code, update_user, loaded, ADMIN, ola, **change)
    assert user_row(loaded, ola).display_name == "Ola Nordmann"
    assert events(loaded, "user.update") == []


# ---- grants ------------------------------------------------------------------------------------


def test_grant_list_and_revoke(loaded: Database, ola: int) -> None:
    first = grant(loaded, ADMIN, "ola", "stroke", ULLEVAL, "clinician")
    second = grant(loaded, ADMIN, ola, "stroke", NATION, "analyst")
    grants = list_grants(loaded)
    assert grants["grant_id"].to_list() == [second, first]  # by unit id within a user
    row = grants.filter(grant_id=first).row(0, named=True)
    assert row["username"] == "ola" and row["registry"] == "stroke" and row["role"] == "clinician"
    assert row["unit_short_name"] == "Ullevål nevro" and row["unit_level"] == "department"
    assert "Ullevål" in row["unit_name"]
    assert list_grants(loaded, "stroke").height == 2 and list_grants(loaded, "other").is_empty()
    [created, _] = events(loaded, "grant.create")
    assert (created.object_type, created.object_id) == ("grant", str(first))
    assert created.registry_id is not None
    assert created.details == {
        "user_id": ola,
        "username": "ola",
        "registry": "stroke",
        "unit_id": ULLEVAL,
        "role": "clinician",
    }
    revoke(loaded, ADMIN, first)
    assert list_grants(loaded)["grant_id"].to_list() == [second]
    [revoked] = events(loaded, "grant.revoke")
    assert revoked.details == created.details and revoked.object_id == str(first)
    refused("unknown_grant", revoke, loaded, ADMIN, first)


def test_granted_by_names_the_granting_user(loaded: Database, ola: int) -> None:
    kari = create_user(loaded, ADMIN, "kari", "Kari", PASSWORD)
    grant(loaded, Actor(kari, "kari"), "ola", "stroke", ULLEVAL, "registrar")
    assert list_grants(loaded)["granted_by"].to_list() == ["kari"]


@pytest.mark.parametrize(
    ("registry", "unit", "role", "code"),
    [
        ("stroke", ULLEVAL, "clinician", "duplicate_grant"),
        ("nope", ULLEVAL, "clinician", "unknown_registry"),
        ("stroke", 424242, "clinician", "unknown_unit"),
        ("stroke", ULLEVAL, "superuser", "invalid_role"),
    ],
)
def test_grants_are_validated(
    loaded: Database, ola: int, registry: str, unit: int, role: str, code: str
) -> None:
    grant(loaded, ADMIN, "ola", "stroke", ULLEVAL, "clinician")
    before = len(events(loaded))
    refused(code, grant, loaded, ADMIN, "ola", registry, unit, role)
    with loaded.reading() as session:
        assert session.scalar(select(func.count(Grant.id))) == 1
    assert len(events(loaded)) == before


# ---- login -------------------------------------------------------------------------------------


def login(database: Database, password: str, at: datetime, username: str = "ola"):
    return authenticate_password(database, username, password, "192.0.2.7", at)


def test_a_right_password_logs_in_and_a_wrong_one_is_counted(loaded: Database, ola: int) -> None:
    assert login(loaded, "wrong password!", T0).outcome == "bad_credentials"
    assert user_row(loaded, ola).failed_logins == 1
    result = login(loaded, PASSWORD, T0 + timedelta(seconds=5), username=" OLA ")
    assert (result.outcome, result.user_id) == ("ok", ola)
    assert (result.has_two_factor, result.needs_two_factor_enrolment) == (False, False)
    user = user_row(loaded, ola)
    assert (user.failed_logins, user.last_login_at) == (0, T0 + timedelta(seconds=5))
    [failure] = events(loaded, "login.failure")
    assert (failure.username, failure.remote_addr, failure.user_id) == ("ola", "192.0.2.7", None)
    assert (failure.object_type, failure.object_id) == ("user", str(ola))
    assert failure.details == {"username": "ola", "reason": "bad_password", "failed_logins": 1}
    assert events(loaded, "login.success") == []  # the caller records it with the session
    assert_no_secrets(loaded, PASSWORD, "wrong password!")


def test_lockout_sequence(loaded: Database, ola: int) -> None:
    for attempt in range(1, LOCKOUT_THRESHOLD):
        assert login(loaded, f"wrong {attempt}", T0 + timedelta(seconds=attempt)).outcome == (
            "bad_credentials"
        )
        assert user_row(loaded, ola).locked_until is None
    last_failure = T0 + timedelta(minutes=1)
    assert login(loaded, "wrong again", last_failure).outcome == "bad_credentials"
    locked_until = last_failure + timedelta(minutes=LOCKOUT_MINUTES)
    assert user_row(loaded, ola).locked_until == locked_until
    # Locked: even the right password is refused, and refusals do not count as failures.
    for moment in (last_failure + timedelta(seconds=1), locked_until - timedelta(seconds=1)):
        result = login(loaded, PASSWORD, moment)
        assert (result.outcome, result.user_id, result.locked_until) == (
            "locked",
            None,
            locked_until,
        )
    assert user_row(loaded, ola).failed_logins == LOCKOUT_THRESHOLD
    # Once the lock runs out, one more failure locks again at once ...
    reopened = locked_until + timedelta(seconds=1)
    assert login(loaded, "still wrong", reopened).outcome == "bad_credentials"
    relocked = reopened + timedelta(minutes=LOCKOUT_MINUTES)
    assert login(loaded, PASSWORD, reopened + timedelta(seconds=1)).outcome == "locked"
    # ... and the right password after that clears the count.
    assert login(loaded, PASSWORD, relocked).outcome == "ok"
    user = user_row(loaded, ola)
    assert (user.failed_logins, user.locked_until) == (0, None)
    failures = events(loaded, "login.failure")
    assert [e.details["failed_logins"] for e in failures] == [1, 2, 3, 4, 5, 6]
    assert [e.details.get("locked_until") for e in failures][-2:] == [
        locked_until.isoformat(),
        relocked.isoformat(),
    ]
    assert len(events(loaded, "login.locked")) == 3
    assert events(loaded, "login.locked")[0].details == {
        "username": "ola",
        "locked_until": locked_until.isoformat(),
    }
    assert_no_secrets(loaded, PASSWORD)


def test_a_password_reset_lifts_the_lock(loaded: Database, ola: int) -> None:
    for attempt in range(LOCKOUT_THRESHOLD):
        login(loaded, f"wrong {attempt}", T0)
    assert login(loaded, PASSWORD, T0).outcome == "locked"
    set_password(loaded, ADMIN, ola, NEW_PASSWORD, reset=True)
    assert login(loaded, NEW_PASSWORD, T0).outcome == "ok"


@pytest.mark.parametrize("username", ["nobody", "", "   ", "x" * 300])
def test_unknown_users_are_refused_and_audited(loaded: Database, ola: int, username: str) -> None:
    result = login(loaded, PASSWORD, T0, username=username)
    assert (result.outcome, result.user_id) == ("bad_credentials", None)
    [event] = events(loaded, "login.failure")
    tried = username.strip().lower()[:80]
    assert event.details == {"username": tried, "reason": "unknown_user"}
    assert (event.object_id, event.remote_addr) == (None, "192.0.2.7")
    assert_no_secrets(loaded, PASSWORD)


def test_a_disabled_user_is_refused(loaded: Database, ola: int) -> None:
    disable_user(loaded, ADMIN, ola)
    assert login(loaded, PASSWORD, T0).outcome == "disabled"
    # Without the password nothing tells that the account is disabled.
    assert login(loaded, "not the password", T0).outcome == "bad_credentials"
    reasons = [e.details["reason"] for e in events(loaded, "login.failure")]
    assert reasons == ["disabled", "bad_password"]
    assert user_row(loaded, ola).last_login_at is None


def test_a_user_without_a_password_cannot_log_in(loaded: Database, ola: int) -> None:
    with loaded.transaction() as session:
        session.execute(update(User).where(User.id == ola).values(password_hash=None))
    assert login(loaded, PASSWORD, T0).outcome == "bad_credentials"
    [event] = events(loaded, "login.failure")
    assert event.details["reason"] == "no_password"


def test_an_outdated_hash_is_replaced_at_login(loaded: Database, ola: int) -> None:
    old_hash = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    with loaded.transaction() as session:
        session.execute(update(User).where(User.id == ola).values(password_hash=old_hash))
    assert login(loaded, PASSWORD, T0).outcome == "ok"
    new_hash = user_row(loaded, ola).password_hash
    assert new_hash is not None and new_hash != old_hash
    assert not needs_rehash(new_hash) and verify_password(new_hash, PASSWORD)


def test_two_factor_flags(loaded: Database, ola: int) -> None:
    grant(loaded, ADMIN, "ola", "stroke", ULLEVAL, "clinician")
    result = login(loaded, PASSWORD, T0)
    assert (result.needs_two_factor_enrolment, result.has_two_factor) == (True, False)
    with loaded.transaction() as session:
        session.execute(
            update(User)
            .where(User.id == ola)
            .values(totp_secret_encrypted=b"sealed", totp_enabled_at=T0)
        )
    result = login(loaded, PASSWORD, T0)
    assert (result.needs_two_factor_enrolment, result.has_two_factor) == (False, True)
    assert list_users(loaded)["has_two_factor"].to_list() == [True]


# ---- demo users --------------------------------------------------------------------------------


def test_demo_users_one_per_role_and_idempotent(loaded: Database) -> None:
    demo = create_demo_users(loaded, "stroke", "demo-passord-2026")
    assert demo == [
        ("demo-clinician", "clinician", ULLEVAL),
        ("demo-clinician2", "clinician", HAUKELAND),
        ("demo-registrar", "registrar", ULLEVAL),
        ("demo-analyst", "analyst", NATION),
        ("demo-admin", "admin", NATION),
    ]
    assert {role for _, role, _ in demo} == set(accounts.ROLES)
    with loaded.reading() as session:
        # The two clinicians work in different regions, so their records never overlap.
        assert _region(session, ULLEVAL) != _region(session, HAUKELAND)
    before = len(events(loaded))
    assert create_demo_users(loaded, "stroke", "another-password-entirely") == demo
    assert len(events(loaded)) == before
    for username, _, _ in demo:
        assert login(loaded, "demo-passord-2026", T0, username=username).outcome == "ok"
    assert list_grants(loaded).height == len(DEMO_USERS)
    assert_no_secrets(loaded, "demo-passord-2026")


def test_demo_users_regain_a_revoked_grant(loaded: Database) -> None:
    create_demo_users(loaded, "stroke", "demo-passord-2026")
    grants = list_grants(loaded)
    revoke(loaded, SYSTEM, int(grants.filter(username="demo-admin")["grant_id"][0]))
    create_demo_users(loaded, "stroke", "demo-passord-2026")
    assert list_grants(loaded).height == len(DEMO_USERS)


@pytest.mark.parametrize(
    ("registry", "password", "code"),
    [("stroke", "demo", "weak_password"), ("nope", "demo-passord-2026", "unknown_registry")],
)
def test_demo_users_refusals_write_nothing(
    loaded: Database, registry: str, password: str, code: str
) -> None:
    refused(code, create_demo_users, loaded, registry, password)
    assert list_users(loaded).is_empty() and events(loaded) == []


def _region(session, unit_id: int) -> int:  # type: ignore[no-untyped-def]
    unit = session.get(Unit, unit_id)
    while unit.level != "region":
        unit = session.get(Unit, unit.parent_id)
    return int(unit.unit_id)
