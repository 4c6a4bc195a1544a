"""User accounts and their grants: the write commands and the lists (the login is in login.py).

Every command checks all of its input first and then changes the database in one
transaction, writing its audit event (`data_access.audit.record`) in that same transaction,
so a change and the record of it commit together or not at all. Audit details name users,
units and roles and give old and new values of changed fields; they never hold a password,
a hash or a TOTP secret. Bad input raises `AccountError` with a stable `code` that pages and
the CLI can translate; its message is English, for logs and operators.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, Literal, cast

import polars as pl
from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from data_access.audit import SYSTEM, Actor, field_changes, record
from data_access.database import Database
from data_access.models import ROLES, Grant, Registry, Unit, User, UserSession, utc_now
from data_access.passwords import (
    hash_password,
    password_problems,
)

LANGUAGES: Final = ("nb", "en")
USERNAME_PATTERN: Final = re.compile(r"[a-z0-9._-]{3,80}")
DISPLAY_NAME_MAX: Final = 200
EMAIL_MAX: Final = 254
_EMAIL_PATTERN: Final = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")

# The demo accounts (development only; the CLI refuses them in production). Ullevål nevro
# (Oslo universitetssykehus, Helse Sør-Øst) and Haukeland nevro (Helse Bergen, Helse Vest)
# are real departments of data_access/units.csv in two different regions, so the two
# clinicians see disjoint records. `None` stands for the nation unit (the whole registry).
ULLEVAL_NEUROLOGY: Final = 100032
HAUKELAND_NEUROLOGY: Final = 100024
DEMO_USERS: Final[tuple[tuple[str, str, str, int | None], ...]] = (
    ("demo-clinician", "Demo Klinikersen (Ullevål nevro)", "clinician", ULLEVAL_NEUROLOGY),
    ("demo-clinician2", "Demo Legesen (Haukeland nevro)", "clinician", HAUKELAND_NEUROLOGY),
    ("demo-registrar", "Demo Registratorsen (Ullevål nevro)", "registrar", ULLEVAL_NEUROLOGY),
    ("demo-analyst", "Demo Analytikersen (hele landet)", "analyst", None),
    ("demo-admin", "Demo Administratorsen (hele landet)", "admin", None),
)

AccountErrorCode = Literal[
    "invalid_username",
    "username_taken",
    "invalid_display_name",
    "invalid_email",
    "invalid_language",
    "weak_password",
    "unknown_user",
    "unknown_registry",
    "unknown_unit",
    "invalid_role",
    "duplicate_grant",
    "unknown_grant",
]


class AccountError(ValueError):
    """A command's input was refused; `code` is stable, `problems` lists password policy codes."""

    def __init__(
        self, code: AccountErrorCode, message: str, problems: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.code: AccountErrorCode = code
        self.message = message
        self.problems = problems


# ---- reading -------------------------------------------------------------------------------


def find_user_id(database: Database, username: str) -> int:
    """The id of the user with this name; `AccountError("unknown_user")` if there is none."""
    with database.reading() as session:
        return _user_by_name_or_id(session, username).id


def list_users(database: Database) -> pl.DataFrame:
    """Every account with its state, for the admin page and the CLI; never a hash or secret."""
    with database.reading() as session:
        rows = session.execute(
            select(
                User.id,
                User.username,
                User.display_name,
                User.email,
                User.language,
                User.is_active,
                User.totp_enabled_at,
                User.failed_logins,
                User.locked_until,
                User.last_login_at,
                User.password_changed_at,
                User.created_at,
            ).order_by(User.username)
        ).all()
    moment = pl.Datetime("us", "UTC")
    schema: dict[str, pl.DataType] = {
        "user_id": pl.Int64(),
        "username": pl.String(),
        "display_name": pl.String(),
        "email": pl.String(),
        "language": pl.String(),
        "is_active": pl.Boolean(),
        "has_two_factor": pl.Boolean(),
        "failed_logins": pl.Int64(),
        "locked_until": moment,
        "last_login_at": moment,
        "password_changed_at": moment,
        "created_at": moment,
    }
    # Only whether TOTP is on leaves this function, never the secret or when it was set.
    records = [(*row[:6], row[6] is not None, *row[7:]) for row in rows]
    return pl.DataFrame(records, schema=schema, orient="row")


def list_grants(database: Database, registry_key: str | None = None) -> pl.DataFrame:
    """Every grant (of one registry, if given) with the user's and the unit's names."""
    granter = aliased(User)
    query = (
        select(
            Grant.id,
            Grant.user_id,
            User.username,
            Registry.key,
            Grant.unit_id,
            Unit.name,
            Unit.short_name,
            Unit.level,
            Grant.role,
            Grant.granted_at,
            granter.username,
        )
        .join(User, User.id == Grant.user_id)
        .join(Registry, Registry.id == Grant.registry_id)
        .join(Unit, Unit.unit_id == Grant.unit_id)
        .outerjoin(granter, granter.id == Grant.granted_by)
        .order_by(Registry.key, User.username, Grant.unit_id, Grant.role)
    )
    if registry_key is not None:
        query = query.where(Registry.key == registry_key)
    with database.reading() as session:
        rows = session.execute(query).all()
    schema: dict[str, pl.DataType] = {
        "grant_id": pl.Int64(),
        "user_id": pl.Int64(),
        "username": pl.String(),
        "registry": pl.String(),
        "unit_id": pl.Int64(),
        "unit_name": pl.String(),
        "unit_short_name": pl.String(),
        "unit_level": pl.String(),
        "role": pl.String(),
        "granted_at": pl.Datetime("us", "UTC"),
        "granted_by": pl.String(),
    }
    return pl.DataFrame([tuple(row) for row in rows], schema=schema, orient="row")


# ---- users ---------------------------------------------------------------------------------


def create_user(
    database: Database,
    actor: Actor,
    username: str,
    display_name: str,
    password: str,
    email: str | None = None,
    language: str = "nb",
) -> int:
    """A new active account without grants; its id. The password must meet the policy."""
    checked = _checked_new_user(username, display_name, password, email, language)
    password_hash = hash_password(password)  # slow by design: outside the transaction
    try:
        with database.transaction() as session:
            return _insert_user(session, actor, *checked, password_hash=password_hash).id
    except IntegrityError:  # a concurrent create of the same name won the race
        raise AccountError("username_taken", f"the user name {checked[0]!r} is taken") from None


def set_password(
    database: Database,
    actor: Actor,
    user_id: int,
    new_password: str,
    *,
    reset: bool,
    except_session_id: int | None = None,
) -> None:
    """Store a new password; `reset=True` when an administrator sets it, False for one's own.

    It also clears a lockout, and ends the user's open sessions except `except_session_id`
    (the session of a user changing their own password), since whoever knew the old
    password may be holding one of them.
    """
    with database.reading() as session:
        username = _user(session, user_id).username
    _check_password(new_password, username)
    password_hash = hash_password(new_password)
    now = utc_now()
    with database.transaction() as session:
        user = _user(session, user_id)
        user.password_hash = password_hash
        user.password_changed_at = now
        user.failed_logins = 0
        user.locked_until = None
        ended = _end_sessions(session, user_id, now, keep=except_session_id)
        record(
            session,
            "password.reset" if reset else "password.change",
            actor,
            object_type="user",
            object_id=user_id,
            details={"username": username, "sessions_ended": ended},
        )


def disable_user(database: Database, actor: Actor, user_id: int) -> bool:
    """Refuse the user every further login and end their open sessions at once.

    False when the account was disabled already (nothing changed, nothing audited).
    """
    now = utc_now()
    with database.transaction() as session:
        user = _user(session, user_id)
        ended = _end_sessions(session, user_id, now)
        if not user.is_active and ended == 0:
            return False
        changes = field_changes({"is_active": user.is_active}, {"is_active": False})
        user.is_active = False
        record(
            session,
            "user.disable",
            actor,
            object_type="user",
            object_id=user_id,
            details={"username": user.username, "changes": changes, "sessions_ended": ended},
        )
    return True


def enable_user(database: Database, actor: Actor, user_id: int) -> bool:
    """Let a disabled user log in again; False when the account was active already."""
    with database.transaction() as session:
        user = _user(session, user_id)
        if user.is_active:
            return False
        user.is_active = True
        record(
            session,
            "user.enable",
            actor,
            object_type="user",
            object_id=user_id,
            details={
                "username": user.username,
                "changes": field_changes({"is_active": False}, {"is_active": True}),
            },
        )
    return True


def update_user(
    database: Database,
    actor: Actor,
    user_id: int,
    *,
    display_name: str | None = None,
    email: str | None = None,
    language: str | None = None,
) -> bool:
    """Change the given fields (None leaves one as it is; `email=""` removes the address).

    False when nothing differed, in which case nothing is written or audited.
    """
    wanted: dict[str, object] = {}
    if display_name is not None:
        wanted["display_name"] = _checked_display_name(display_name)
    if email is not None:
        wanted["email"] = _checked_email(email)
    if language is not None:
        wanted["language"] = _checked_language(language)
    with database.transaction() as session:
        user = _user(session, user_id)
        old = {name: getattr(user, name) for name in wanted}
        changes = field_changes(old, wanted)
        if not changes:
            return False
        for name, value in wanted.items():
            setattr(user, name, value)
        record(
            session,
            "user.update",
            actor,
            object_type="user",
            object_id=user_id,
            details={"username": user.username, "changes": changes},
        )
    return True


# ---- grants --------------------------------------------------------------------------------


def grant(
    database: Database,
    actor: Actor,
    username_or_id: str | int,
    registry_key: str,
    unit_id: int,
    role: str,
) -> int:
    """Give a user a role in a registry on a unit and the units below it; the grant's id.

    A user is named by user name (str) or id (int).
    """
    _check_role(role)
    try:
        with database.transaction() as session:
            user = _user_by_name_or_id(session, username_or_id)
            return _insert_grant(session, actor, user, registry_key, unit_id, role).id
    except IntegrityError:  # the same grant was added concurrently
        raise AccountError("duplicate_grant", "the user already has this grant") from None


def revoke(database: Database, actor: Actor, grant_id: int) -> None:
    """Take a grant away; the audit event keeps what it was."""
    with database.transaction() as session:
        row = session.execute(
            select(Grant, User.username, Registry.key)
            .join(User, User.id == Grant.user_id)
            .join(Registry, Registry.id == Grant.registry_id)
            .where(Grant.id == grant_id)
        ).one_or_none()
        if row is None:
            raise AccountError("unknown_grant", f"there is no grant {grant_id}")
        revoked, username, registry_key = row
        details = _grant_details(revoked, username, registry_key)
        registry_id = revoked.registry_id
        session.delete(revoked)
        record(
            session,
            "grant.revoke",
            actor,
            object_type="grant",
            object_id=grant_id,
            registry_id=registry_id,
            details=details,
        )


# ---- demo ----------------------------------------------------------------------------------


def create_demo_users(
    database: Database,
    registry_key: str,
    password: str,
    *,
    actor: Actor = SYSTEM,
    units: Mapping[str, int] | None = None,
) -> list[tuple[str, str, int]]:
    """One demo account per role in a registry (see `DEMO_USERS`), all with `password`;
    `units` gives an account another unit in this registry (one that registers at hospitals
    has no records at the neurology departments), by user name.

    Idempotent: an account that exists keeps its password and state, and only a missing
    grant is added. Returns (user name, role, unit id) of every demo account.
    """
    for username, display_name, _role, _unit in DEMO_USERS:
        _checked_new_user(username, display_name, password, None, "nb")
    with database.reading() as session:
        existing = set(
            session.scalars(
                select(User.username).where(User.username.in_([u[0] for u in DEMO_USERS]))
            )
        )
    hashes = {u[0]: hash_password(password) for u in DEMO_USERS if u[0] not in existing}
    created: list[tuple[str, str, int]] = []
    with database.transaction() as session:
        nation = session.scalar(select(Unit.unit_id).where(Unit.level == "nation"))
        if nation is None:
            raise AccountError("unknown_unit", "the organisation tree is empty; migrate first")
        for username, display_name, role, unit in DEMO_USERS:
            unit_id = (units or {}).get(username) or (nation if unit is None else unit)
            user = session.scalar(select(User).where(User.username == username))
            if user is None:
                user = _insert_user(
                    session, actor, username, display_name, None, "nb", hashes[username]
                )
            if not _has_grant(session, user.id, registry_key, unit_id, role):
                _insert_grant(session, actor, user, registry_key, unit_id, role)
            created.append((username, role, unit_id))
    return created


# ---- inside a transaction ------------------------------------------------------------------


def _insert_user(
    session: Session,
    actor: Actor,
    username: str,
    display_name: str,
    email: str | None,
    language: str,
    password_hash: str,
) -> User:
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise AccountError("username_taken", f"the user name {username!r} is taken")
    user = User(
        username=username,
        display_name=display_name,
        email=email,
        language=language,
        password_hash=password_hash,
        password_changed_at=utc_now(),
        is_active=True,
    )
    session.add(user)
    session.flush()
    record(
        session,
        "user.create",
        actor,
        object_type="user",
        object_id=user.id,
        details={
            "username": username,
            "display_name": display_name,
            "email": email,
            "language": language,
        },
    )
    return user


def _insert_grant(
    session: Session, actor: Actor, user: User, registry_key: str, unit_id: int, role: str
) -> Grant:
    registry = session.scalar(select(Registry).where(Registry.key == registry_key))
    if registry is None:
        raise AccountError("unknown_registry", f"there is no registry {registry_key!r}")
    if session.get(Unit, unit_id) is None:
        raise AccountError("unknown_unit", f"there is no unit {unit_id}")
    if _has_grant(session, user.id, registry_key, unit_id, role):
        raise AccountError(
            "duplicate_grant",
            f"{user.username} already has {role} in {registry_key} on unit {unit_id}",
        )
    new = Grant(
        user_id=user.id,
        registry_id=registry.id,
        unit_id=unit_id,
        role=role,
        granted_by=actor.user_id,
        granted_at=utc_now(),
    )
    session.add(new)
    session.flush()
    record(
        session,
        "grant.create",
        actor,
        object_type="grant",
        object_id=new.id,
        registry_id=registry.id,
        details=_grant_details(new, user.username, registry_key),
    )
    return new


def _has_grant(session: Session, user_id: int, registry_key: str, unit_id: int, role: str) -> bool:
    found = session.scalar(
        select(Grant.id)
        .join(Registry, Registry.id == Grant.registry_id)
        .where(
            Grant.user_id == user_id,
            Registry.key == registry_key,
            Grant.unit_id == unit_id,
            Grant.role == role,
        )
    )
    return found is not None


def _grant_details(granted: Grant, username: str, registry_key: str) -> dict[str, object]:
    return {
        "user_id": granted.user_id,
        "username": username,
        "registry": registry_key,
        "unit_id": granted.unit_id,
        "role": granted.role,
    }


def _end_sessions(session: Session, user_id: int, now: datetime, keep: int | None = None) -> int:
    statement = (
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
        .values(ended_at=now)
        .execution_options(synchronize_session=False)
    )
    if keep is not None:
        statement = statement.where(UserSession.id != keep)
    result = cast(CursorResult[Any], session.execute(statement))
    return int(result.rowcount)


def _user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise AccountError("unknown_user", f"there is no user {user_id}")
    return user


def _user_by_name_or_id(session: Session, username_or_id: str | int) -> User:
    if isinstance(username_or_id, int):
        return _user(session, username_or_id)
    user = session.scalar(select(User).where(User.username == username_or_id))
    if user is None:
        raise AccountError("unknown_user", f"there is no user {username_or_id!r}")
    return user


# ---- checks (before any change) -----------------------------------------------------------


def _checked_new_user(
    username: str, display_name: str, password: str, email: str | None, language: str
) -> tuple[str, str, str | None, str]:
    if not USERNAME_PATTERN.fullmatch(username):
        raise AccountError(
            "invalid_username",
            "a user name is 3 to 80 characters: lower-case letters a-z, digits, '.', '_', '-'",
        )
    checked = (
        username,
        _checked_display_name(display_name),
        _checked_email(email),
        _checked_language(language),
    )
    _check_password(password, username)
    return checked


def _check_password(password: str, username: str) -> None:
    problems = password_problems(password, username)
    if problems:
        raise AccountError(
            "weak_password",
            "the password is refused: " + ", ".join(problems).replace("_", " "),
            tuple(problems),
        )


def _checked_display_name(display_name: str) -> str:
    cleaned = display_name.strip()
    if not 1 <= len(cleaned) <= DISPLAY_NAME_MAX or any(
        unicodedata.category(character) == "Cc" for character in cleaned
    ):
        raise AccountError(
            "invalid_display_name",
            f"a display name is 1 to {DISPLAY_NAME_MAX} characters without control characters",
        )
    return cleaned


def _checked_email(email: str | None) -> str | None:
    if email is None or not email.strip():
        return None
    cleaned = email.strip()
    if len(cleaned) > EMAIL_MAX or not _EMAIL_PATTERN.fullmatch(cleaned):
        raise AccountError("invalid_email", "the e-mail address is not of the form name@domain")
    return cleaned


def _checked_language(language: str) -> str:
    if language not in LANGUAGES:
        raise AccountError("invalid_language", f"the language must be one of {LANGUAGES}")
    return language


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise AccountError("invalid_role", f"the role must be one of {', '.join(ROLES)}")
