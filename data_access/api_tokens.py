"""API tokens: create, list, revoke, and turn a presented secret into an access scope.

A token is a random secret (`nkr_` and 32 random bytes, URL-safe base64) that a system or a
user sends as `Authorization: Bearer <secret>`. The secret is shown once and the database
keeps only its SHA-256. A fast hash is enough here, unlike for passwords: the secret has
256 bits of entropy, so there is no dictionary to try and no brute force that a slow hash
would slow down further, and a plain digest can be looked up through a unique index in one
query per request (a salted, slow hash could only be checked row by row).

Scope: a token carries one role in one registry on some units (each covering the units
below it). A token of a user is also cut down to that user's grants at every use, so a
revoked grant or a disabled account takes effect at once; a system token (no owner) carries
exactly what an administrator gave it. Who may create: a user for themselves within their
own grants; an admin of the units for another user or a system; the operator (CLI) for
anyone. Who may revoke: the owner, an admin of all the token's units, or the operator.
Creation, revocation and every refused secret are audited here; each use is audited by the
API (`record_use`).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, Literal

from sqlalchemy import Select, select, update

from data_access import audit
from data_access.access import AccessScope, Role, scope_for_user
from data_access.audit import Actor
from data_access.database import Database
from data_access.models import Registry, Unit, User
from data_access.models_api import TOKEN_ROLES, ApiToken
from data_access.reference_data import units_below

SECRET_PREFIX: Final = "nkr_"
SHOWN_PREFIX_LENGTH: Final = 10
MAX_LIFETIME: Final = timedelta(days=366)
DEFAULT_LIFETIME: Final = timedelta(days=90)

COVERING_ROLES: Final[Mapping[str, tuple[Role, ...]]] = {
    "clinician": ("clinician", "registrar"),
    "registrar": ("registrar",),
    "analyst": ("analyst",),
}
"""The grants of an owner that cover a token's role: a registrar may hand a read-only token."""

Refusal = Literal["unknown", "expired", "revoked", "owner_disabled"]


class TokenError(ValueError):
    """A token command was refused; `field` names the input at fault, `code` the rule."""

    def __init__(self, message: str, field: str | None = None, code: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code


@dataclass(frozen=True)
class NewToken:
    """A token just created: `secret` is here once and nowhere else."""

    token_id: int
    secret: str = field(repr=False)
    prefix: str
    expires_at: datetime


@dataclass(frozen=True)
class TokenSummary:
    """A token as lists show it (never the secret or its hash)."""

    id: int
    name: str
    prefix: str
    owner: str | None
    registry: str
    role: str
    unit_ids: tuple[int, ...]
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    def state(self, moment: datetime) -> Literal["active", "expired", "revoked"]:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expires_at <= moment else "active"


@dataclass(frozen=True)
class TokenUse:
    """The outcome of presenting a secret: a scope, or the reason it was refused.

    `token_id` is known whenever the secret matched a stored token (even a revoked or
    expired one), so refusals can be traced to the token.
    """

    token_id: int | None
    scope: AccessScope | None
    refusal: Refusal | None = None


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def create_token(
    database: Database,
    authority: AccessScope | None,
    actor: Actor,
    *,
    name: str,
    registry_key: str,
    role: str,
    unit_ids: Iterable[int],
    expires_at: datetime,
    owner_user_id: int | None,
    moment: datetime,
) -> NewToken:
    """Create a token and return its secret (once). `authority` None is the trusted operator.

    Raises `TokenError` naming the field at fault; nothing is written then.
    """
    name = name.strip()
    units = sorted(set(unit_ids))
    if not 1 <= len(name) <= 100:
        raise TokenError("the name must have 1 to 100 characters", "name")
    if role not in TOKEN_ROLES:
        raise TokenError(f"the role must be one of {', '.join(TOKEN_ROLES)}", "role")
    if not units:
        raise TokenError("name at least one unit", "unit_ids")
    if expires_at <= moment:
        raise TokenError("the expiry must lie in the future", "expires_at")
    if expires_at > moment + MAX_LIFETIME:
        raise TokenError(f"a token lives at most {MAX_LIFETIME.days} days", "expires_at")
    if authority is not None:
        _check_authority(authority, owner_user_id, registry_key, role, units)
    secret = new_secret()
    with database.transaction() as session:
        registry_id = session.scalar(select(Registry.id).where(Registry.key == registry_key))
        if registry_id is None:
            raise TokenError(f"unknown registry {registry_key!r}", "registry", "unknown")
        known = set(session.scalars(select(Unit.unit_id).where(Unit.unit_id.in_(units))))
        if missing := [unit for unit in units if unit not in known]:
            raise TokenError(f"unknown unit(s) {missing}", "unit_ids", "unknown")
        owner = None
        if owner_user_id is not None:
            owner = session.get(User, owner_user_id)
            if owner is None or not owner.is_active:
                raise TokenError("the owner is not an active user", "user", "unknown")
        token = ApiToken(
            name=name,
            token_hash=hash_secret(secret),
            prefix=secret[:SHOWN_PREFIX_LENGTH],
            user_id=owner_user_id,
            registry_id=registry_id,
            role=role,
            unit_ids=units,
            created_by=actor.user_id,
            created_at=moment,
            expires_at=expires_at,
        )
        session.add(token)
        session.flush()
        audit.record(
            session,
            "api_token.create",
            actor,
            object_type="api_token",
            object_id=token.id,
            registry_id=registry_id,
            details={
                "name": name,
                "prefix": token.prefix,
                "owner": None if owner is None else owner.username,
                "role": role,
                "unit_ids": units,
                "expires_at": expires_at.isoformat(),
            },
        )
        return NewToken(token.id, secret, token.prefix, expires_at)


def _tokens_with_registry_and_owner() -> Select[ApiToken, str, str]:
    """Tokens with their registry key and owner's username (None without an owner): the
    rows `_summary` turns into a `TokenSummary`, for listing, fetching and revoking."""
    return (
        select(ApiToken, Registry.key, User.username)
        .join(Registry, Registry.id == ApiToken.registry_id)
        .outerjoin(User, User.id == ApiToken.user_id)
    )


def list_tokens(
    database: Database, *, owner_user_id: int | None = None, registry_key: str | None = None
) -> list[TokenSummary]:
    """Tokens, newest first; only one owner's with `owner_user_id`, one registry's with its key."""
    query = _tokens_with_registry_and_owner().order_by(ApiToken.id.desc())
    if owner_user_id is not None:
        query = query.where(ApiToken.user_id == owner_user_id)
    if registry_key is not None:
        query = query.where(Registry.key == registry_key)
    with database.reading() as session:
        return [_summary(token, key, owner) for token, key, owner in session.execute(query)]


def get_token(database: Database, token_id: int) -> TokenSummary | None:
    with database.reading() as session:
        found = session.execute(
            _tokens_with_registry_and_owner().where(ApiToken.id == token_id)
        ).one_or_none()
    return None if found is None else _summary(*found)


def may_revoke(authority: AccessScope, token: TokenSummary, owner_user_id: int | None) -> bool:
    """The owner, or an admin of every unit the token names."""
    if owner_user_id is not None and owner_user_id == authority.actor.user_id:
        return True
    return all(authority.may_administer(token.registry, unit) for unit in token.unit_ids)


def revoke_token(
    database: Database,
    authority: AccessScope | None,
    actor: Actor,
    token_id: int,
    moment: datetime,
) -> bool:
    """Revoke a token; False when it was revoked already. Raises `TokenError` if not allowed.

    An unknown token and a token the caller may not revoke give the same refusal.
    """
    with database.transaction() as session:
        found = session.execute(
            _tokens_with_registry_and_owner().where(ApiToken.id == token_id)
        ).one_or_none()
        allowed = found is not None and (
            authority is None or may_revoke(authority, _summary(*found), found[0].user_id)
        )
        if found is None or not allowed:
            raise TokenError(f"no token {token_id} that you may revoke", "token_id", "not_found")
        token = found[0]
        if token.revoked_at is not None:
            return False
        session.execute(
            update(ApiToken)
            .where(ApiToken.id == token_id)
            .values(revoked_at=moment, revoked_by=actor.user_id)
            .execution_options(synchronize_session=False)
        )
        audit.record(
            session,
            "api_token.revoke",
            actor,
            object_type="api_token",
            object_id=token_id,
            registry_id=token.registry_id,
            details={"name": token.name, "prefix": token.prefix},
        )
    return True


def authenticate(
    database: Database, secret: str, moment: datetime, remote_addr: str | None = None
) -> TokenUse:
    """The scope a presented secret grants now, or why it grants nothing.

    A refusal is audited (`api.token_refused`, with the token id when the secret matched one;
    never the secret). A disabled owner refuses the token; an owner who lost grants gets a
    scope with fewer (or no) units.
    """
    digest = hash_secret(secret) if secret.startswith(SECRET_PREFIX) else None
    with database.reading() as session:
        found = (
            None
            if digest is None
            else session.execute(
                select(ApiToken, Registry.key).join(Registry, Registry.id == ApiToken.registry_id)
                .where(ApiToken.token_hash == digest)
            ).one_or_none()
        )  # fmt: skip
        owner = None
        if found is not None and found[0].user_id is not None:
            owner = session.get(User, found[0].user_id)
    refusal: Refusal | None = None
    if found is None:
        refusal = "unknown"
    elif found[0].revoked_at is not None:
        refusal = "revoked"
    elif found[0].expires_at <= moment:
        refusal = "expired"
    elif owner is not None and not owner.is_active:
        refusal = "owner_disabled"
    token_id = None if found is None else found[0].id
    if refusal is not None or found is None:
        audit.record_event(
            database,
            "api.token_refused",
            Actor(user_id=None, username=None, remote_addr=remote_addr),
            object_type="api_token",
            object_id=token_id,
            details={"reason": refusal},
        )
        return TokenUse(token_id, None, refusal)
    token, registry_key = found
    return TokenUse(token.id, token_scope(database, token, registry_key, owner, remote_addr))


def token_scope(
    database: Database,
    token: ApiToken,
    registry_key: str,
    owner: User | None,
    remote_addr: str | None,
) -> AccessScope:
    """The token's role on its units' subtrees, cut down to the owner's grants if it has one."""
    role = _role(token.role)
    with database.reading() as session:
        units = units_below(session, [int(unit) for unit in token.unit_ids])
    if owner is None:
        actor = Actor(user_id=None, username=f"api:{token.name}"[:80], remote_addr=remote_addr)
    else:
        owner_scope = scope_for_user(database, owner.id, remote_addr)
        actor = owner_scope.actor
        units &= owner_scope.units(registry_key, *COVERING_ROLES[role])
    return AccessScope(actor=actor, roles={registry_key: {role: units}})


def record_use(
    database: Database, use: TokenUse, moment: datetime, details: Mapping[str, object]
) -> None:
    """Audit one API request made with a valid token (`api.request`) and note its last use."""
    if use.scope is None or use.token_id is None:
        raise ValueError("only a valid token's use is recorded here")
    with database.transaction() as session:
        session.execute(
            update(ApiToken)
            .where(ApiToken.id == use.token_id)
            .values(last_used_at=moment)
            .execution_options(synchronize_session=False)
        )
        audit.record(
            session,
            "api.request",
            use.scope.actor,
            object_type="api_token",
            object_id=use.token_id,
            details=dict(details),
        )


def _check_authority(
    authority: AccessScope,
    owner_user_id: int | None,
    registry_key: str,
    role: str,
    units: list[int],
) -> None:
    if not authority.authenticated:
        raise TokenError("log in to create tokens", None, "forbidden")
    if owner_user_id is not None and owner_user_id == authority.actor.user_id:
        own = authority.units(registry_key, *COVERING_ROLES[role])
        if any(unit not in own for unit in units):
            raise TokenError(
                "a token of your own reaches no further than your grants", "unit_ids", "forbidden"
            )
        return
    if not all(authority.may_administer(registry_key, unit) for unit in units):
        raise TokenError(
            "tokens for others are created by an admin of every unit named",
            "unit_ids",
            "forbidden",
        )


def _role(name: str) -> Role:
    for role in COVERING_ROLES:
        if role == name:
            return role  # type: ignore[return-value]
    raise ValueError(f"token with unknown role {name!r}")


def _summary(token: ApiToken, registry_key: str, owner: str | None) -> TokenSummary:
    return TokenSummary(
        id=token.id,
        name=token.name,
        prefix=token.prefix,
        owner=owner,
        registry=registry_key,
        role=token.role,
        unit_ids=tuple(int(unit) for unit in token.unit_ids),
        created_at=token.created_at,
        expires_at=token.expires_at,
        revoked_at=token.revoked_at,
        last_used_at=token.last_used_at,
    )
