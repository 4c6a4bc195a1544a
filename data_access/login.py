"""The password login, and the lockout that guards it against guessing.

After `LOCKOUT_THRESHOLD` consecutive failures an account is locked for `LOCKOUT_MINUTES`
and refuses even the right password until then. Rate limits per address and account are
the login view's job (Flask-Limiter); this lock is the part that holds across workers and
restarts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

from sqlalchemy import func, select, update

from data_access.audit import Actor, record, record_event
from data_access.database import Database
from data_access.models import Grant, User
from data_access.passwords import (
    hash_password,
    needs_rehash,
    spend_verification_time,
    verify_password,
)

LOCKOUT_THRESHOLD: Final = 5
LOCKOUT_MINUTES: Final = 15
LoginOutcome = Literal["ok", "bad_credentials", "locked", "disabled"]


@dataclass(frozen=True)
class LoginResult:
    """What a password login came to; `user_id` is set only when the outcome is "ok".

    `needs_two_factor_enrolment`: the user holds a grant (every role reaches patient-level
    data or the accounts that do) and has no TOTP yet; whether that is enforced is the
    portal's setting. `locked_until` says when a "locked" account opens again.
    """

    outcome: LoginOutcome
    user_id: int | None = None
    needs_two_factor_enrolment: bool = False
    has_two_factor: bool = False
    locked_until: datetime | None = None


def authenticate_password(
    database: Database, username: str, password: str, remote_addr: str | None, now: datetime
) -> LoginResult:
    """Check a user name and password, counting failures and locking after too many.

    Failures are audited here: `login.failure` (unknown user, wrong password, disabled
    account; with the user name tried and the address) and `login.locked` (refused while
    locked). `login.success` is NOT recorded here: the caller records it in the transaction
    that creates the session, once the second factor is settled too.

    The user name is compared in lower case (names are stored so). An unknown name costs a
    full hash verification too, so timing does not reveal which names exist. A lock is not
    lifted by waiting alone: once it runs out, each further failure locks again at once,
    until a successful login (or a password reset) clears the count.
    """
    tried = username.strip().lower()[:80]
    actor = Actor(user_id=None, username=tried or None, remote_addr=remote_addr)
    with database.reading() as session:
        user = session.scalar(select(User).where(User.username == tried)) if tried else None
        grant_count = (
            session.scalar(select(func.count(Grant.id)).where(Grant.user_id == user.id))
            if user is not None
            else 0
        )
    if user is None or user.password_hash is None:
        spend_verification_time(password)
        reason = "unknown_user" if user is None else "no_password"
        record_event(
            database, "login.failure", actor, details={"username": tried, "reason": reason}
        )
        return LoginResult("bad_credentials")
    if user.locked_until is not None and now < user.locked_until:
        record_event(
            database,
            "login.locked",
            actor,
            object_type="user",
            object_id=user.id,
            details={"username": tried, "locked_until": user.locked_until.isoformat()},
        )
        return LoginResult("locked", locked_until=user.locked_until)
    if not verify_password(user.password_hash, password):
        _count_failure(database, actor, user.id, now)
        return LoginResult("bad_credentials")
    if not user.is_active:
        record_event(
            database,
            "login.failure",
            actor,
            object_type="user",
            object_id=user.id,
            details={"username": tried, "reason": "disabled"},
        )
        return LoginResult("disabled")
    values: dict[str, object] = {"failed_logins": 0, "locked_until": None, "last_login_at": now}
    if needs_rehash(user.password_hash):
        values["password_hash"] = hash_password(password)
    with database.transaction() as session:
        session.execute(update(User).where(User.id == user.id).values(values))
    has_two_factor = user.totp_secret_encrypted is not None and user.totp_enabled_at is not None
    return LoginResult(
        "ok",
        user_id=user.id,
        needs_two_factor_enrolment=bool(grant_count) and not has_two_factor,
        has_two_factor=has_two_factor,
    )


def _count_failure(database: Database, actor: Actor, user_id: int, now: datetime) -> None:
    # An atomic increment: concurrent failures (two workers) are all counted.
    with database.transaction() as session:
        failures = session.execute(
            update(User)
            .where(User.id == user_id)
            .values(failed_logins=User.failed_logins + 1)
            .returning(User.failed_logins)
        ).scalar_one()
        details: dict[str, object] = {
            "username": actor.username,
            "reason": "bad_password",
            "failed_logins": failures,
        }
        if failures >= LOCKOUT_THRESHOLD:
            locked_until = now + timedelta(minutes=LOCKOUT_MINUTES)
            session.execute(
                update(User).where(User.id == user_id).values(locked_until=locked_until)
            )
            details["locked_until"] = locked_until.isoformat()
        record(
            session, "login.failure", actor, object_type="user", object_id=user_id, details=details
        )
