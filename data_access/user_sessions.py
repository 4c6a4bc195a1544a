"""Server-side login sessions: a random token in the cookie, its hash in the database.

Issue 3, point 3. Keeping sessions in the database rather than only in a signed cookie lets
every worker see the same sessions, lets a logout or an administrator really end one, and
lets idle time and absolute lifetime be enforced on the server, where the client cannot
stretch them. The Flask views own the cookie (Secure, HttpOnly, SameSite); this module owns
what the token means.

- The token is 32 random bytes (URL-safe text); only its SHA-256 is stored, so a copy of the
  table cannot be replayed as cookies. A plain hash suffices: the token has 256 bits of
  entropy, so there is nothing to guess, and lookup by hash stays one indexed query.
- A session ends by logout, by being idle longer than the idle timeout, by reaching its
  absolute expiry, or when its user is disabled. An ended session never comes back.
- `last_seen_at` is written at most once a minute per session, so a page that fires many
  Dash callbacks does not write a row each time; the idle timeout is therefore measured
  from the last recorded touch and can end a session up to a minute early, never late.
- Writes are single conditional statements (`... WHERE ended_at IS NULL RETURNING id`), so
  two workers noticing the same expiry at once audit it once, and SQLite never has to turn
  a read transaction into a write one.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from data_access import audit
from data_access.audit import Actor
from data_access.database import Database
from data_access.models import User, UserSession

TOKEN_BYTES: Final = 32
TOUCH_INTERVAL: Final = timedelta(minutes=1)
_ADDRESS_LENGTH: Final = 45  # the column's width: the longest textual IPv6 address

ExpiryReason = Literal["idle", "lifetime", "user_disabled"]


@dataclass(frozen=True)
class SessionInfo:
    """What a request needs to know about a valid session."""

    session_id: int
    user_id: int
    two_factor_done: bool
    created_at: datetime
    expires_at: datetime
    remote_addr: str | None


def hash_token(token: str) -> str:
    """The stored form of a session token: SHA-256 as 64 hex digits."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start_session(
    database: Database,
    user_id: int,
    remote_addr: str | None,
    now: datetime,
    lifetime: timedelta,
    two_factor_done: bool,
) -> str:
    """A new session for an active user; returns the token for the cookie (shown only here).

    `two_factor_done` is true when the second factor was given, or is not required for this
    user; otherwise the session is only good for the second-factor page until
    `mark_two_factor_done`.
    """
    return renew(database, None, user_id, remote_addr, now, lifetime, two_factor_done)


def renew(
    database: Database,
    old_token: str | None,
    user_id: int,
    remote_addr: str | None,
    now: datetime,
    lifetime: timedelta,
    two_factor_done: bool,
) -> str:
    """End the browser's old session (if any) and start a fresh one, in one transaction.

    Call it at login and when the second factor is given, so a token known before the
    privilege changed (session fixation) is worthless after. The old session is ended
    quietly: this is not a logout.
    """
    _check_start(remote_addr, now, lifetime)
    with database.transaction() as session:
        if old_token:
            _end(session, hash_token(old_token), now)
        return _insert(session, user_id, remote_addr, now, lifetime, two_factor_done)


def validate_session(
    database: Database, token: str, now: datetime, idle_timeout: timedelta
) -> SessionInfo | None:
    """The session behind `token` if it is still good at `now`, else None.

    A session found expired (idle or past its lifetime) or belonging to a disabled user is
    ended here and `session.expired` is audited once, with the reason and the moment it
    expired; its `ended_at` is that moment, not the later moment it was noticed.
    """
    _check_aware(now)
    if not token:
        return None
    with database.lookup() as session:
        found = session.execute(
            select(UserSession, User.username, User.is_active)
            .join(User, User.id == UserSession.user_id)
            .where(UserSession.token_hash == hash_token(token))
        ).first()
    if found is None:
        return None
    row, username, is_active = found
    return still_good(database, row, username, is_active, now, idle_timeout)


def still_good(
    database: Database,
    row: UserSession,
    username: str,
    is_active: bool,
    now: datetime,
    idle_timeout: timedelta,
) -> SessionInfo | None:
    """`validate_session` once the session's row and its user's state are read (by it, or
    with more in one query by `data_access.request_identity`): ends and audits a session
    found expired, touches a live one at most once a minute."""
    _check_aware(now)
    if row.ended_at is not None:
        return None
    expiry = _expiry(row, is_active, now, idle_timeout)
    if expiry is not None:
        reason, ended_at = expiry
        _expire(database, row, username, reason, ended_at)
        return None
    if now - row.last_seen_at >= TOUCH_INTERVAL:
        with database.transaction() as session:
            session.execute(
                update(UserSession)
                .where(
                    UserSession.id == row.id,
                    UserSession.ended_at.is_(None),
                    UserSession.last_seen_at <= now - TOUCH_INTERVAL,
                )
                .values(last_seen_at=now)
                .execution_options(synchronize_session=False)
            )
    return SessionInfo(
        session_id=row.id,
        user_id=row.user_id,
        two_factor_done=row.two_factor_at is not None,
        created_at=row.created_at,
        expires_at=row.expires_at,
        remote_addr=row.remote_addr,
    )


def mark_two_factor_done(database: Database, token: str, now: datetime) -> bool:
    """Record that the second factor was given in this session; False if it is not live."""
    _check_aware(now)
    with database.transaction() as session:
        marked = session.scalars(
            update(UserSession)
            .where(
                UserSession.token_hash == hash_token(token),
                UserSession.ended_at.is_(None),
                UserSession.expires_at > now,
            )
            .values(two_factor_at=now)
            .returning(UserSession.id)
            .execution_options(synchronize_session=False)
        ).first()
    return marked is not None


def end_session(database: Database, token: str, now: datetime, actor: Actor) -> bool:
    """Log out: end the session and audit `logout`; False (and no event) if it was not live."""
    _check_aware(now)
    with database.transaction() as session:
        ended = _end(session, hash_token(token), now)
        if ended is None:
            return False
        audit.record(session, "logout", actor, object_type="user_session", object_id=ended)
    return True


def end_user_sessions(database: Database, user_id: int, now: datetime) -> int:
    """End every live session of a user (disabled, password or TOTP reset); returns how many.

    Not audited here: the caller audits the action that made it necessary.
    """
    _check_aware(now)
    with database.transaction() as session:
        return len(_end_where(session, now, UserSession.user_id == user_id))


def _insert(
    session: Session,
    user_id: int,
    remote_addr: str | None,
    now: datetime,
    lifetime: timedelta,
    two_factor_done: bool,
) -> str:
    is_active = session.scalar(select(User.is_active).where(User.id == user_id))
    if not is_active:
        raise ValueError(f"user {user_id} is unknown or disabled; no session is started")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session.add(
        UserSession(
            token_hash=hash_token(token),
            user_id=user_id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + lifetime,
            two_factor_at=now if two_factor_done else None,
            remote_addr=remote_addr,
        )
    )
    return token


def _end(session: Session, token_hash: str, now: datetime) -> int | None:
    """End the live session with this token hash; its id, or None if there was none."""
    ended = _end_where(session, now, UserSession.token_hash == token_hash)
    return ended[0] if ended else None


def _end_where(session: Session, ended_at: datetime, *conditions: ColumnElement[bool]) -> list[int]:
    """End the live sessions that meet `conditions`; the ids of those this statement ended.

    One conditional statement, so of two requests ending the same session only one gets
    its id back (and audits).
    """
    return list(
        session.scalars(
            update(UserSession)
            .where(UserSession.ended_at.is_(None), *conditions)
            .values(ended_at=ended_at)
            .returning(UserSession.id)
            .execution_options(synchronize_session=False)
        )
    )


def _expiry(
    row: UserSession, is_active: bool, now: datetime, idle_timeout: timedelta
) -> tuple[ExpiryReason, datetime] | None:
    """Why and when the session stopped being good, or None while it still is."""
    idle_end = row.last_seen_at + idle_timeout
    if row.expires_at <= now and row.expires_at <= idle_end:
        return "lifetime", row.expires_at
    if idle_end <= now:
        return "idle", idle_end
    if not is_active:
        return "user_disabled", now
    return None


def _expire(
    database: Database, row: UserSession, username: str, reason: ExpiryReason, ended_at: datetime
) -> None:
    with database.transaction() as session:
        if not _end_where(session, ended_at, UserSession.id == row.id):
            return  # another request noticed first and audited it
        audit.record(
            session,
            "session.expired",
            Actor(user_id=row.user_id, username=username, remote_addr=row.remote_addr),
            object_type="user_session",
            object_id=row.id,
            details={"reason": reason, "expired_at": ended_at.isoformat()},
        )


def _check_start(remote_addr: str | None, now: datetime, lifetime: timedelta) -> None:
    _check_aware(now)
    if lifetime <= timedelta(0):
        raise ValueError("a session's lifetime must be positive")
    if remote_addr is not None and len(remote_addr) > _ADDRESS_LENGTH:
        raise ValueError(f"remote_addr is longer than {_ADDRESS_LENGTH} characters")


def _check_aware(now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("now must carry a timezone")
