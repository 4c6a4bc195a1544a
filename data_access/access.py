"""The access policy: what a user may do, computed once from the grants, checked everywhere.

DESIGN.md, "Who may do what": roles are granted per registry and per unit, and a grant on a
unit covers every unit below it. Roles are not a ladder; each says what it allows:

- `clinician` reads results and the records of the units it covers;
- `registrar` reads and also enters and edits the records of those units;
- `analyst` exports pseudonymised records (no direct identifiers); granted on the nation,
  that is the whole registry;
- `admin` manages users, grants and registry settings of the units it covers, and reads no
  patient records by being admin. An admin grant on the nation unit (of any registry) makes
  an installation admin, who manages the user accounts themselves.

`scope_for_user` turns a user's grants into an `AccessScope`: plain, immutable data (no
session, no lazy loading), so it can be computed once per request, handed to every query for
patient-level data and checked with set lookups. A disabled user gets a scope without any
role, exactly as much as anonymous, but keeps its actor so what it tried is still audited.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, Literal, get_args

from sqlalchemy import select
from sqlalchemy.orm import Session

from data_access.audit import Actor
from data_access.database import Database
from data_access.models import Grant, Registry, Unit, User

Role = Literal["clinician", "registrar", "analyst", "admin"]
ROLES: Final[tuple[Role, ...]] = get_args(Role)

RoleUnits = Mapping[Role, frozenset[int]]


class AccessDenied(PermissionError):  # noqa: N818 - the name the agreed interface uses
    """The caller's scope does not allow what was asked; the message names the rule, no data."""


def _frozen_roles(
    roles: Mapping[str, Mapping[Role, Iterable[int]]],
) -> Mapping[str, RoleUnits]:
    """A read-only copy: registry key -> role -> frozenset of unit ids; empty entries dropped."""
    frozen: dict[str, RoleUnits] = {}
    for registry_key, by_role in roles.items():
        units_by_role: dict[Role, frozenset[int]] = {}
        for role, unit_ids in by_role.items():
            if role not in ROLES:
                raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
            units = frozenset(unit_ids)
            if units:
                units_by_role[role] = units
        if units_by_role:
            frozen[registry_key] = MappingProxyType(units_by_role)
    return MappingProxyType(frozen)


@dataclass(frozen=True)
class AccessScope:
    """What one user may do: for each registry and role, the unit ids covered (subtrees expanded).

    `nation_unit_id` is the root of the unit tree, needed only to tell an installation admin
    from an admin of a region or trust. `active` is false for a disabled user, whose scope
    carries no roles and who counts as not authenticated.

    Immutable and free of database state; equal scopes are equal and hash alike, so a scope
    can key a cache.
    """

    actor: Actor
    roles: Mapping[str, RoleUnits] = field(default_factory=dict)
    nation_unit_id: int | None = None
    active: bool = True

    def __post_init__(self) -> None:
        # Copy whatever mapping was given into read-only form, so a caller that keeps a
        # reference to its dict cannot widen a scope after the fact.
        object.__setattr__(self, "roles", _frozen_roles(self.roles))

    def __hash__(self) -> int:
        return hash(
            (
                self.actor,
                frozenset(
                    (registry_key, role, units)
                    for registry_key, by_role in self.roles.items()
                    for role, units in by_role.items()
                ),
                self.nation_unit_id,
                self.active,
            )
        )

    def units(self, registry_key: str, *roles: Role) -> frozenset[int]:
        """The unit ids covered in a registry by any of `roles` (at least one must be named).

        Naming the roles is required so that no query filters by "every unit the user has
        some grant on", which would hand an admin the records of its units.
        """
        if not roles:
            raise ValueError("name at least one role whose units are wanted")
        by_role = self.roles.get(registry_key, {})
        covered: frozenset[int] = frozenset()
        for role in roles:
            covered |= by_role.get(role, frozenset())
        return covered

    def may_read_records(self, registry_key: str, unit_id: int) -> bool:
        """Clinician or registrar covering the unit: may see its patient-level records."""
        by_role = self.roles.get(registry_key, {})
        return any(unit_id in by_role.get(role, ()) for role in ("clinician", "registrar"))

    def may_edit_records(self, registry_key: str, unit_id: int) -> bool:
        """Registrar covering the unit: may enter, change and delete its records."""
        return unit_id in self.roles.get(registry_key, {}).get("registrar", ())

    def may_export(self, registry_key: str) -> bool:
        """Analyst in the registry: may export pseudonymised records (of the units covered)."""
        return bool(self.roles.get(registry_key, {}).get("analyst"))

    def may_administer(self, registry_key: str, unit_id: int | None = None) -> bool:
        """Admin covering the unit; with no unit, an admin grant anywhere in the registry."""
        admin_units = self.roles.get(registry_key, {}).get("admin", frozenset())
        return bool(admin_units) if unit_id is None else unit_id in admin_units

    def is_installation_admin(self) -> bool:
        """Admin on the nation unit of any registry: may manage user accounts themselves."""
        if self.nation_unit_id is None:
            return False
        return any(
            self.nation_unit_id in by_role.get("admin", ()) for by_role in self.roles.values()
        )

    @property
    def authenticated(self) -> bool:
        """A known, active user is behind this scope (a disabled user is not)."""
        return self.actor.user_id is not None and self.active


ANONYMOUS: Final = AccessScope(actor=Actor(user_id=None, username=None))
"""The scope of a visitor who is not logged in: no role anywhere, public results only."""


def scope_for_user(database: Database, user_id: int, remote_addr: str | None = None) -> AccessScope:
    """The scope of user `user_id` from its grants, each expanded to the unit's whole subtree.

    The subtrees are walked in SQL (a recursive CTE over `units.parent_id`, the same on SQLite
    and PostgreSQL), so one query answers however deep the grant. An unknown user gets the
    anonymous scope (with the address); a disabled one keeps its actor and loses every role.
    """
    with database.lookup() as session:
        user = session.get(User, user_id)
        if user is None:
            return AccessScope(actor=Actor(user_id=None, username=None, remote_addr=remote_addr))
        nation_unit_id = session.scalar(NATION_UNIT_ID)
        return granted_scope(session, user, nation_unit_id, remote_addr)


NATION_UNIT_ID: Final = select(Unit.unit_id).where(Unit.parent_id.is_(None))
"""The root of the unit tree (`AccessScope.nation_unit_id`)."""


def granted_scope(
    session: Session,
    user: User,
    nation_unit_id: int | None,
    remote_addr: str | None = None,
    *,
    has_grants: bool = True,
) -> AccessScope:
    """`scope_for_user` once the user is read (by it, or with its session by
    `data_access.request_identity`, which knows `has_grants` and so skips the walk for a
    user without any)."""
    actor = Actor(user_id=user.id, username=user.username, remote_addr=remote_addr)
    if not user.is_active:
        return AccessScope(actor=actor, active=False)
    covered_units: dict[str, dict[Role, set[int]]] = {}
    for registry_key, role, unit_id in _covered_units(session, user.id) if has_grants else ():
        covered_units.setdefault(registry_key, {}).setdefault(_role(role), set()).add(unit_id)
    roles = {
        registry_key: {role: frozenset(units) for role, units in by_role.items()}
        for registry_key, by_role in covered_units.items()
    }
    return AccessScope(actor=actor, roles=roles, nation_unit_id=nation_unit_id)


def _covered_units(session: Session, user_id: int) -> list[tuple[str, str, int]]:
    """(registry key, role, unit id) of every unit the user's grants cover."""
    covered = (
        select(Grant.id.label("grant_id"), Grant.unit_id.label("unit_id"))
        .where(Grant.user_id == user_id)
        .cte("covered", recursive=True)
    )
    # UNION (not UNION ALL) also ends the walk if a damaged tree ever held a cycle.
    covered = covered.union(
        select(covered.c.grant_id, Unit.unit_id).join(covered, Unit.parent_id == covered.c.unit_id)
    )
    rows = session.execute(
        select(Registry.key, Grant.role, covered.c.unit_id)
        .join(Grant, Grant.id == covered.c.grant_id)
        .join(Registry, Registry.id == Grant.registry_id)
    )
    return [(key, role, unit_id) for key, role, unit_id in rows]


def _role(name: str) -> Role:
    """A role read from the database, checked (the table's CHECK constraint already holds it)."""
    for role in ROLES:
        if role == name:
            return role
    raise ValueError(f"grant with unknown role {name!r}")
