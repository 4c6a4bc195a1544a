"""What a registration's patient was asked and answered, for those who may read the record.

The registration page shows its PROM invitations and submitted responses (issue 9, point
7). The read is scoped like `registrations.get_registration`: only a clinician or registrar
covering the registration's unit gets anything; for anyone else, and for an id that does
not exist, the answer is the same empty tuple and nothing is logged, so ids cannot be
probed. Every read that shows an invitation is audited as `prom_response.view` with the ids
shown (an empty answer shows nothing the page's own `registration.view` does not cover).

Answers saved but not submitted are the patient's work in progress: they are not shown,
only that the patient has started.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final, Literal

from sqlalchemy import select

from data_access import audit
from data_access.access import AccessScope
from data_access.database import Database
from data_access.models import Registration, Registry
from data_access.models_prom import PromInvitation, PromResponse
from data_access.prom import link_state
from data_access.registrations import readable_records

VIEW_ACTION: Final = "prom_response.view"

PromStatus = Literal["waiting", "started", "answered", "declined", "cancelled", "expired"]


@dataclass(frozen=True)
class PromRecord:
    """One invitation of a registration and, once submitted, its answers and scores.

    `scores` maps each instrument to `{"value", "version", "value_set", "missing"}`.
    """

    invitation_id: int
    questionnaire_key: str
    questionnaire_version: int
    channel: str
    status: PromStatus
    invited_at: datetime
    sent_at: datetime | None
    reminders_sent: int
    expires_at: datetime
    submitted_at: datetime | None
    answers: Mapping[str, Any]
    scores: Mapping[str, Any]


def prom_records(
    database: Database, scope: AccessScope, registration_id: int, now: datetime
) -> tuple[PromRecord, ...]:
    """The registration's invitations, oldest first, if the caller may read the record."""
    readable = readable_records(scope, registration_id)
    if readable is None:
        return ()
    with database.transaction() as session:
        found = session.execute(
            select(Registration.registry_id, Registration.unit_id, Registry.key)
            .join(Registry, Registry.id == Registration.registry_id)
            .where(readable)
        ).one_or_none()
        if found is None:
            return ()
        registry_id, unit_id, registry_key = found
        rows = session.execute(
            select(PromInvitation, PromResponse)
            .outerjoin(PromResponse, PromResponse.invitation_id == PromInvitation.id)
            .where(PromInvitation.registration_id == registration_id)
            .order_by(PromInvitation.created_at, PromInvitation.id)
        ).all()
        records = tuple(_record(invitation, response, now) for invitation, response in rows)
        if not records:
            return ()  # nothing shown; the page's own `registration.view` covers the visit
        audit.record(
            session,
            VIEW_ACTION,
            scope.actor,
            object_type="registration",
            object_id=registration_id,
            registry_id=registry_id,
            details={
                "registry": registry_key,
                "unit_id": unit_id,
                "invitation_ids": [r.invitation_id for r in records],
                "responses_shown": sum(r.submitted_at is not None for r in records),
            },
        )
    return records


def _record(invitation: PromInvitation, response: PromResponse | None, now: datetime) -> PromRecord:
    submitted = response is not None and response.submitted_at is not None
    return PromRecord(
        invitation_id=invitation.id,
        questionnaire_key=invitation.questionnaire_key,
        questionnaire_version=invitation.questionnaire_version,
        channel=invitation.channel,
        status=_status(invitation, response, now),
        invited_at=invitation.created_at,
        sent_at=invitation.sent_at,
        reminders_sent=invitation.reminders_sent,
        expires_at=invitation.expires_at,
        submitted_at=response.submitted_at if response is not None else None,
        answers=MappingProxyType(dict(response.answers) if submitted and response else {}),
        scores=MappingProxyType(dict(response.scores) if submitted and response else {}),
    )


def _status(invitation: PromInvitation, response: PromResponse | None, now: datetime) -> PromStatus:
    dead = link_state(invitation, now)
    if dead is not None and dead != "unknown":
        return dead
    return "started" if response is not None else "waiting"
