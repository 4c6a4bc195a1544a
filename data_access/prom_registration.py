"""Writing a patient's response into the registration it follows up, through the record commands.

A patient has no grant; the one-time link is what allows the write, and only to the
registration the link belongs to. So the write goes through `change_registration`, the
command every door uses (the registry's rules check the whole record again, the change is
audited field by field as `registration.update` and bumps the data version), with a scope
made for this one call: registrar on the registration's unit only, acting as the caller's
actor. Nothing else ever sees that scope.

A locked registration is not changed (only an admin of its unit may change it), nor one
the registry's rules refuse with these values; the response itself is kept either way, and
the caller records why the registration was left as it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from data_access.access import AccessScope
from data_access.audit import Actor
from data_access.models import Registration
from data_access.record_commands import RecordRejected, change_registration
from entry.registry_folder import RegistryFolder

WriteOutcome = Literal["written", "locked", "rejected", "missing"]


def write_values(
    session: Session,
    actor: Actor,
    registry: RegistryFolder,
    registration_id: int,
    values: Mapping[str, object],
    *,
    reason: str,
    today: date,
) -> WriteOutcome:
    """Overlay `values` on the registration in the caller's transaction; what happened."""
    found = session.execute(
        select(Registration.unit_id, Registration.version, Registration.status).where(
            Registration.id == registration_id
        )
    ).one_or_none()
    if found is None:
        return "missing"
    unit_id, version, status = found
    if status == "locked":
        return "locked"
    scope = AccessScope(actor=actor, roles={registry.key: {"registrar": frozenset({unit_id})}})
    try:
        with session.begin_nested():
            change_registration(
                session,
                scope,
                registration_id,
                version,
                values,
                registry.dictionary,
                event_date_variable=registry.event_date_variable,
                reason=reason,
                today=today,
                audit_details={"source": "prom"},
            )
    except RecordRejected:
        return "rejected"
    return "written"
