"""What a one-time questionnaire link lets its holder do: open, save, submit or decline.

The patient pages have no login; the link's secret is the only credential, so every
function here starts from the secret, finds the invitation by its hash, and answers only
for that invitation. What they promise:

- a link that is unknown (altered, made up) gives nothing but `DeadLink("unknown")`; one
  that is expired, answered, declined or cancelled gives `DeadLink` with that state and no
  data: no answers, no names, no dates;
- submitting is single-use even under a race: the first statement of the transaction is a
  conditional UPDATE that marks the invitation answered only while it is still alive, so of
  two submits exactly one wins, on SQLite and PostgreSQL alike;
- submitting stores the answers and the scores (with instrument version and value set),
  writes the values into the registration through the record commands
  (`prom_registration`), drops any reminder still queued, and is audited, all in one
  transaction; answers that break the questionnaire's rules are refused before anything
  is written (`AnswersRejected`);
- declining (opt-out) ends the invitation, its reminders and any answers saved so far, and
  the patient is not asked again in this registry (`data_access.prom`);
- every action is audited as the patient (no user, the request's address) with ids only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.orm import Session

from data_access import audit, outbox
from data_access.audit import Actor
from data_access.database import Database
from data_access.models import Registry
from data_access.models_prom import PromInvitation, PromResponse
from data_access.prom import LinkState, alive, link_state, token_hash
from data_access.prom_registration import write_values
from entry.prom_answers import answers_to_values, check_answers, scores
from entry.questionnaires import Questionnaire
from entry.registry_folder import RegistryFolder

PATIENT: Final = "patient"
"""The name the audit log gives whoever holds a link (there is no user behind it)."""
_LONGEST_TOKEN: Final = 128


def patient_actor(remote_addr: str | None) -> Actor:
    return Actor(user_id=None, username=PATIENT, remote_addr=remote_addr)


@dataclass(frozen=True)
class OpenLink:
    """A live invitation as its patient sees it: which questionnaire, and the answers so far."""

    invitation_id: int
    registration_id: int
    registry_key: str
    questionnaire_key: str
    questionnaire_version: int
    language: str
    answers: Mapping[str, Any]
    saved_at: datetime | None
    expires_at: datetime


@dataclass(frozen=True)
class DeadLink:
    """A link that opens nothing, and why (for a kind page; never any data)."""

    state: LinkState


def open_link(
    database: Database, token: str, now: datetime, actor: Actor, *, audited: bool = True
) -> OpenLink | DeadLink:
    """The live invitation behind `token`; audited as `prom.open` (unless the caller goes on
    to save, which is audited itself) or, when dead, as `prom.link_refused`."""
    with database.transaction() as session:
        found = _find(session, token, now, actor)
        if isinstance(found, DeadLink):
            return found
        invitation, registry_key = found
        response = _response(session, invitation.id)
        if audited:
            audit.record(session, "prom.open", actor, **_about(invitation))
        return _open(invitation, registry_key, response)


def save_answers(
    database: Database,
    token: str,
    document: Mapping[str, object],
    now: datetime,
    actor: Actor,
) -> OpenLink | DeadLink:
    """Keep the answers so far (a stored document, `RecordCheck.document()`), to resume later."""
    with database.transaction() as session:
        found = _find(session, token, now, actor, lock=True)
        if isinstance(found, DeadLink):
            return found
        invitation, registry_key = found
        response = _response(session, invitation.id)
        if response is None:
            response = PromResponse(
                invitation_id=invitation.id, registration_id=invitation.registration_id
            )
            session.add(response)
        response.answers, response.saved_at = dict(document), now
        session.flush()
        audit.record(
            session,
            "prom.save",
            actor,
            **_about(invitation, response_id=response.id, questions=_names(document)),
        )
        return _open(invitation, registry_key, response)


def submit_answers(
    database: Database,
    registry: RegistryFolder,
    questionnaire: Questionnaire,
    token: str,
    answers: Mapping[str, object],
    now: datetime,
    actor: Actor,
) -> int | DeadLink:
    """Submit the response (raw `answers`, as a form gives them); the response's id.

    Raises `entry.prom_answers.AnswersRejected` before writing anything if the answers
    break the questionnaire's rules. The link is dead afterwards.
    """
    values = answers_to_values(questionnaire, answers, now.date())
    check = check_answers(questionnaire, answers)
    scored = {
        name: {
            "value": result.value,
            "version": result.version,
            "value_set": result.value_set,
            "missing": list(result.missing),
        }
        for name, result in scores(questionnaire, check.values).items()
    }
    with database.transaction() as session:
        invitation = _end(
            session,
            token,
            now,
            actor,
            PromInvitation.questionnaire_key == questionnaire.key,
            PromInvitation.questionnaire_version == questionnaire.version,
            answered_at=now,
        )
        if isinstance(invitation, DeadLink):
            return invitation
        response = _response(session, invitation.id) or PromResponse(
            invitation_id=invitation.id, registration_id=invitation.registration_id
        )
        response.answers, response.scores = check.document(), scored
        response.saved_at = response.submitted_at = now
        session.add(response)
        session.flush()
        dropped = outbox.drop_queued(session, invitation.id)
        written = write_values(
            session,
            actor,
            registry,
            invitation.registration_id,
            values,
            reason=f"PROM {questionnaire.key} v{questionnaire.version}: answered",
            today=now.date(),
        )
        audit.record(
            session,
            "prom.submit",
            actor,
            **_about(
                invitation,
                response_id=response.id,
                instruments=sorted(scored),
                registration=written,
                reminders_dropped=dropped,
            ),
        )
        return response.id


def decline(database: Database, token: str, now: datetime, actor: Actor) -> bool | DeadLink:
    """The patient does not want to answer: end the invitation, its reminders and any
    answers saved so far. True when declined now."""
    with database.transaction() as session:
        invitation = _end(session, token, now, actor, opted_out_at=now)
        if isinstance(invitation, DeadLink):
            return invitation
        dropped = outbox.drop_queued(session, invitation.id)
        erased = session.execute(
            delete(PromResponse)
            .where(PromResponse.invitation_id == invitation.id)
            .execution_options(synchronize_session=False)
        )
        audit.record(
            session,
            "prom.opt_out",
            actor,
            **_about(
                invitation,
                reminders_dropped=dropped,
                answers_erased=bool(erased.rowcount),  # type: ignore[attr-defined]
            ),
        )
        return True


def _end(
    session: Session,
    token: str,
    now: datetime,
    actor: Actor,
    *conditions: ColumnElement[bool],
    **ended: datetime,
) -> PromInvitation | DeadLink:
    """End the live invitation behind `token` (`ended`: answered_at or opted_out_at) as the
    transaction's first write, so that of two racing requests exactly one wins; the loser
    is told why the link is dead."""
    marked = session.execute(
        update(PromInvitation)
        .where(PromInvitation.token_hash == _hash(token), alive(now), *conditions)
        .values(next_reminder_at=None, **ended)
        .execution_options(synchronize_session=False)
    )
    if marked.rowcount != 1:  # type: ignore[attr-defined]
        found = _find(session, token, now, actor)
        return found if isinstance(found, DeadLink) else DeadLink("unknown")
    return session.scalars(
        select(PromInvitation).where(PromInvitation.token_hash == _hash(token))
    ).one()


def _find(
    session: Session, token: str, now: datetime, actor: Actor, *, lock: bool = False
) -> tuple[PromInvitation, str] | DeadLink:
    """The live invitation and its registry's key, or why there is none (audited then)."""
    query = (
        select(PromInvitation, Registry.key)
        .join(Registry, Registry.id == PromInvitation.registry_id)
        .where(PromInvitation.token_hash == _hash(token))
    )
    found = session.execute(query.with_for_update(of=PromInvitation) if lock else query).first()
    if found is None:
        audit.record(session, "prom.link_refused", actor, details={"state": "unknown"})
        return DeadLink("unknown")
    invitation, registry_key = found
    state = link_state(invitation, now)
    if state is not None:
        audit.record(session, "prom.link_refused", actor, **_about(invitation, state=state))
        return DeadLink(state)
    return invitation, str(registry_key)


def _hash(token: str) -> str:
    # An over-long "token" is no token; hash a fixed stand-in so no row can match it.
    return token_hash(token if len(token) <= _LONGEST_TOKEN else "")


def _response(session: Session, invitation_id: int) -> PromResponse | None:
    return session.scalars(
        select(PromResponse).where(PromResponse.invitation_id == invitation_id)
    ).one_or_none()


def _open(invitation: PromInvitation, registry_key: str, response: PromResponse | None) -> OpenLink:
    return OpenLink(
        invitation_id=invitation.id,
        registration_id=invitation.registration_id,
        registry_key=registry_key,
        questionnaire_key=invitation.questionnaire_key,
        questionnaire_version=invitation.questionnaire_version,
        language=invitation.language,
        answers=MappingProxyType(dict(response.answers) if response is not None else {}),
        saved_at=response.saved_at if response is not None else None,
        expires_at=invitation.expires_at,
    )


def _about(invitation: PromInvitation, **details: object) -> audit.Subject:
    return {
        "object_type": "prom_invitation",
        "object_id": invitation.id,
        "registry_id": invitation.registry_id,
        "details": {
            "registration_id": invitation.registration_id,
            "questionnaire": invitation.questionnaire_key,
            "version": invitation.questionnaire_version,
            **details,
        },
    }


def _names(document: Mapping[str, object]) -> list[str]:
    """The questions answered (names only: the audit log holds no answers)."""
    return sorted(name for name in document if not name.startswith("_"))
