"""Server-side sessions: hashed tokens, idle timeout, lifetime, logout, throttled touches."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from data_access.audit import Actor
from data_access.database import Database
from data_access.models import AuditEvent, User, UserSession
from data_access.request_identity import identify
from data_access.user_sessions import (
    SessionInfo,
    end_session,
    end_user_sessions,
    mark_two_factor_done,
    renew,
    start_session,
    validate_session,
)

NOW = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
IDLE = timedelta(minutes=30)
LIFETIME = timedelta(hours=8)
ADDRESS = "2001:db8::7"


def _add_user(database: Database, username: str = "kari", *, active: bool = True) -> int:
    with database.transaction() as session:
        user = User(username=username, display_name=username.title(), is_active=active)
        session.add(user)
        session.flush()
        return user.id


def _start(database: Database, user_id: int, *, two_factor_done: bool = True) -> str:
    return start_session(database, user_id, ADDRESS, NOW, LIFETIME, two_factor_done)


def _row(database: Database, token: str) -> UserSession:
    digest = hashlib.sha256(token.encode()).hexdigest()
    with database.reading() as session:
        row = session.scalar(select(UserSession).where(UserSession.token_hash == digest))
    assert row is not None
    return row


def _events(database: Database, action: str) -> list[AuditEvent]:
    with database.reading() as session:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            )
        )


def _set_active(database: Database, user_id: int, active: bool) -> None:
    with database.transaction() as session:
        user = session.get(User, user_id)
        assert user is not None
        user.is_active = active


@pytest.fixture
def user_id(database: Database) -> int:
    return _add_user(database)


def test_token_is_stored_only_as_its_hash(database: Database, user_id: int) -> None:
    tokens = {_start(database, user_id) for _ in range(3)}
    assert len(tokens) == 3
    assert all(len(token) >= 43 for token in tokens)  # 32 bytes of URL-safe base64
    with database.reading() as session:
        rows = session.scalars(select(UserSession)).all()
    stored = {value for row in rows for value in vars(row).values() if isinstance(value, str)}
    assert tokens.isdisjoint(stored)
    assert {row.token_hash for row in rows} == {
        hashlib.sha256(token.encode()).hexdigest() for token in tokens
    }


@pytest.mark.parametrize("two_factor_done", [True, False])
def test_fresh_session_is_valid(database: Database, user_id: int, two_factor_done: bool) -> None:
    token = _start(database, user_id, two_factor_done=two_factor_done)
    info = validate_session(database, token, NOW, IDLE)
    assert info == SessionInfo(
        session_id=_row(database, token).id,
        user_id=user_id,
        two_factor_done=two_factor_done,
        created_at=NOW,
        expires_at=NOW + LIFETIME,
        remote_addr=ADDRESS,
    )


@pytest.mark.parametrize("token", ["", "nonsense", "x" * 43])
def test_unknown_token_is_refused(database: Database, user_id: int, token: str) -> None:
    _start(database, user_id)
    assert validate_session(database, token, NOW, IDLE) is None
    assert _events(database, "session.expired") == []


@pytest.mark.parametrize(
    ("idle_for", "valid"),
    [
        (timedelta(minutes=1), True),
        (timedelta(minutes=29, seconds=59), True),
        (timedelta(minutes=30), False),
        (timedelta(hours=2), False),
    ],
)
def test_idle_timeout(database: Database, user_id: int, idle_for: timedelta, valid: bool) -> None:
    token = _start(database, user_id)
    assert (validate_session(database, token, NOW + idle_for, IDLE) is not None) is valid
    if valid:
        assert _events(database, "session.expired") == []
        return
    assert _row(database, token).ended_at == NOW + IDLE  # when it expired, not when noticed
    # Once ended it stays ended, even for a request that claims an earlier time.
    assert validate_session(database, token, NOW + timedelta(minutes=1), IDLE) is None
    [event] = _events(database, "session.expired")
    assert (event.user_id, event.username, event.remote_addr) == (user_id, "kari", ADDRESS)
    assert event.details == {"reason": "idle", "expired_at": (NOW + IDLE).isoformat()}


@pytest.mark.parametrize(
    ("at", "valid"),
    [
        (LIFETIME - timedelta(minutes=10), True),
        (LIFETIME, False),
        (LIFETIME + timedelta(minutes=5), False),
    ],
)
def test_absolute_lifetime_holds_even_for_an_active_user(
    database: Database, user_id: int, at: timedelta, valid: bool
) -> None:
    token = _start(database, user_id)
    for minutes in range(20, 461, 20):  # a request every 20 minutes, the last at 7 h 40
        assert validate_session(database, token, NOW + timedelta(minutes=minutes), IDLE)
    assert (validate_session(database, token, NOW + at, IDLE) is not None) is valid
    assert (validate_session(database, token, NOW + at, IDLE) is not None) is valid
    expired = _events(database, "session.expired")
    if valid:
        assert expired == []
    else:
        assert [e.details["reason"] for e in expired] == ["lifetime"]
        assert _row(database, token).ended_at == NOW + LIFETIME


def test_logout_ends_the_session_and_is_audited_once(database: Database, user_id: int) -> None:
    token = _start(database, user_id)
    actor = Actor(user_id=user_id, username="kari", remote_addr=ADDRESS)
    later = NOW + timedelta(minutes=5)
    assert end_session(database, token, later, actor)
    assert validate_session(database, token, later, IDLE) is None
    assert not end_session(database, token, later, actor)
    [event] = _events(database, "logout")
    assert (event.user_id, event.object_type) == (user_id, "user_session")
    assert event.object_id == str(_row(database, token).id)
    assert _row(database, token).ended_at == later
    assert _events(database, "session.expired") == []


def test_disabled_user_is_refused_and_stays_out_when_enabled(
    database: Database, user_id: int
) -> None:
    token = _start(database, user_id)
    _set_active(database, user_id, False)
    later = NOW + timedelta(minutes=2)
    assert validate_session(database, token, later, IDLE) is None
    _set_active(database, user_id, True)
    assert validate_session(database, token, later, IDLE) is None
    [event] = _events(database, "session.expired")
    assert event.details["reason"] == "user_disabled"


def test_disabled_user_cannot_start_a_session(database: Database) -> None:
    disabled = _add_user(database, "ola", active=False)
    with pytest.raises(ValueError, match="disabled"):
        _start(database, disabled)
    with pytest.raises(ValueError, match="disabled"):
        _start(database, 999)


@pytest.mark.parametrize(
    ("lifetime", "now", "remote_addr"),
    [
        (timedelta(0), NOW, ADDRESS),
        (timedelta(minutes=-1), NOW, ADDRESS),
        (LIFETIME, NOW.replace(tzinfo=None), ADDRESS),
        (LIFETIME, NOW, "x" * 46),
    ],
    ids=["zero-lifetime", "negative-lifetime", "naive-time", "long-address"],
)
def test_bad_start_arguments_are_refused(
    database: Database, user_id: int, lifetime: timedelta, now: datetime, remote_addr: str
) -> None:
    with pytest.raises(ValueError):
        start_session(database, user_id, remote_addr, now, lifetime, True)


def test_last_seen_is_written_at_most_once_a_minute(database: Database, user_id: int) -> None:
    token = _start(database, user_id)
    expected = NOW
    for seconds in [10, 30, 59, 60, 61, 90, 119, 120, 300]:
        moment = NOW + timedelta(seconds=seconds)
        assert validate_session(database, token, moment, IDLE) is not None
        if moment - expected >= timedelta(minutes=1):
            expected = moment
        assert _row(database, token).last_seen_at == expected, seconds
    assert expected == NOW + timedelta(seconds=300)


def test_touch_keeps_an_active_session_alive(database: Database, user_id: int) -> None:
    token = _start(database, user_id)
    for minutes in range(20, 200, 20):
        assert validate_session(database, token, NOW + timedelta(minutes=minutes), IDLE)


def test_second_factor_is_marked_on_a_live_session_only(database: Database, user_id: int) -> None:
    token = _start(database, user_id, two_factor_done=False)
    later = NOW + timedelta(minutes=1)
    assert mark_two_factor_done(database, token, later)
    info = validate_session(database, token, later, IDLE)
    assert info is not None and info.two_factor_done
    assert _row(database, token).two_factor_at == later
    end_session(database, token, later, Actor(user_id=user_id, username="kari"))
    assert not mark_two_factor_done(database, token, later)
    assert not mark_two_factor_done(database, "unknown", later)
    expired = _start(database, user_id, two_factor_done=False)
    assert not mark_two_factor_done(database, expired, NOW + LIFETIME)


def test_end_user_sessions_ends_only_that_users_live_sessions(
    database: Database, user_id: int
) -> None:
    other = _add_user(database, "ola")
    mine = [_start(database, user_id) for _ in range(3)]
    theirs = _start(database, other)
    later = NOW + timedelta(minutes=3)
    end_session(database, mine[0], later, Actor(user_id=user_id, username="kari"))
    assert end_user_sessions(database, user_id, later) == 2
    assert end_user_sessions(database, user_id, later) == 0
    assert all(validate_session(database, token, later, IDLE) is None for token in mine)
    assert validate_session(database, theirs, later, IDLE) is not None


@pytest.mark.parametrize("had_session", [True, False])
def test_renew_replaces_the_old_session_quietly(
    database: Database, user_id: int, had_session: bool
) -> None:
    old = _start(database, user_id, two_factor_done=False) if had_session else None
    later = NOW + timedelta(minutes=1)
    new = renew(database, old, user_id, ADDRESS, later, LIFETIME, True)
    assert new != old
    info = validate_session(database, new, later, IDLE)
    assert info is not None and info.two_factor_done and info.expires_at == later + LIFETIME
    if old is not None:
        assert validate_session(database, old, later, IDLE) is None
        assert _row(database, old).ended_at == later
    assert _events(database, "logout") == []
    assert _events(database, "session.expired") == []


@pytest.mark.parametrize("case", ["unknown", "logged out", "idle", "past lifetime", "disabled"])
def test_identify_refuses_what_validate_session_refuses(
    database: Database, user_id: int, case: str
) -> None:
    """The access guard's combined read (data_access.request_identity) shares the rules;
    an expiry it notices is ended and audited once, as validate_session's is."""
    token = _start(database, user_id)
    at = NOW + timedelta(minutes=5)
    if case == "unknown":
        token = "x" * 43
    elif case == "logged out":
        end_session(database, token, NOW, Actor(user_id, "kari", ADDRESS))
    elif case == "idle":
        at = NOW + IDLE
    elif case == "past lifetime":
        at = NOW + LIFETIME + timedelta(seconds=1)
    else:
        _set_active(database, user_id, False)
    assert identify(database, token, at, IDLE, ADDRESS) is None
    assert identify(database, token, at, IDLE, ADDRESS) is None
    expired = _events(database, "session.expired")
    assert len(expired) == (1 if case in {"idle", "past lifetime", "disabled"} else 0)
