"""PROM invitations: who is asked, by which one-time link, and when they are reminded.

Issue 9. A questionnaire's invitation rule (`entry.questionnaires.InvitationRule`) says how
many days after which date of the registration its patient is asked, and on what condition
(`when`, an expression of the registry's language, compiled to polars and run over the
registry's typed registrations, as the engine does). What this module promises:

- idempotent: one invitation per registration and questionnaire key, enforced by a unique
  constraint, so running `prom invite` twice, or on two machines at once, asks nobody twice;
- a one-time link: 32 random bytes from `secrets`, of which only the SHA-256 is stored;
  the link dies when the response is submitted, the patient declines, or it expires;
- reminders: at most the rule's count, spaced by its days, each with a new link (the
  secret of the old one is not kept, so it cannot be sent again); none once the invitation
  is answered, declined, expired or cancelled;
- no clock of its own: every function takes `now`, so a test can walk the schedule;
- every invitation and reminder is audited, with ids only: never an address, a name or a
  national id. A patient who declined once is not asked again in the same registry.

Messages go to the outbox in the same transaction as the invitation or reminder they belong
to (`data_access.outbox`); their texts come from the caller's `MessageWriter`, so the words
and links stay in the portal. Contact details come from the caller's `ContactLookup` (in
production an extract of the national contact register, KRR).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final, Literal, Protocol

import polars as pl
from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from data_access import audit, outbox
from data_access.audit import SYSTEM, Actor
from data_access.database import Database
from data_access.models import Patient, Registration, Registry
from data_access.models_prom import CHANNELS, PATIENT_LANGUAGES, PromInvitation
from data_access.patient_identity import NationalIdCipher, TextCipher
from data_access.prom_registration import write_values
from data_access.snapshot import registration_frame
from entry.dictionary_model import variable_types
from entry.expressions import compile_expression
from entry.prom_answers import invitation_values
from entry.questionnaires import Questionnaire
from entry.registry_folder import RegistryFolder

TOKEN_BYTES: Final = 32
_CHUNK: Final = 1000

MessageKind = Literal["invitation", "reminder"]
LinkState = Literal["unknown", "expired", "answered", "declined", "cancelled"]
"""Why a link opens nothing: never existed (or altered), or no longer works."""


@dataclass(frozen=True)
class Contact:
    """Where and in which language a patient is asked; `channel` is "email" or "sms"."""

    channel: str
    address: str
    language: str = "nb"

    def __post_init__(self) -> None:
        if self.channel not in CHANNELS:
            raise ValueError(f"channel must be one of {', '.join(CHANNELS)}")
        if self.language not in PATIENT_LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(PATIENT_LANGUAGES)}")
        if not self.address.strip():
            raise ValueError("a contact needs an address")

    def __repr__(self) -> str:
        return f"Contact(channel={self.channel!r}, language={self.language!r})"


ContactLookup = Callable[[str], Contact | None]
"""A patient's contact from the canonical national id (11 digits); None: do not ask."""


@dataclass(frozen=True)
class Message:
    subject: str
    body: str


class MessageWriter(Protocol):
    """Writes an invitation or reminder with the link for `token`, in the patient's language;
    the link works until `expires_at`."""

    def __call__(
        self,
        kind: MessageKind,
        questionnaire: Questionnaire,
        *,
        channel: str,
        language: str,
        token: str,
        expires_at: datetime,
    ) -> Message: ...


@dataclass(frozen=True)
class InviteRun:
    """What one invitation run did, in counts (no one is named)."""

    created: int = 0
    no_contact: int = 0
    declined_before: int = 0
    already_invited: int = 0


def new_token() -> tuple[str, str]:
    """A link secret and the hash to store: 32 random bytes, URL-safe, and their SHA-256."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def due_registrations(
    database: Database, registry: RegistryFolder, questionnaire: Questionnaire, today: date
) -> list[int]:
    """Ids of the registrations the rule selects today, invited already or not.

    Due: the rule's date plus `days_after` has come, and not so long ago that a link made
    on time would have expired by now (a three-month questionnaire is not sent a year late,
    so the first run on an old registry does not ask every patient it ever had); `when`
    holds, a blank counting as false; and the registration does not already hold an answer
    (`response.answered`, as an import or another door may have recorded one).
    """
    rule = questionnaire.invitation
    due = pl.col(rule.date_variable) + pl.duration(days=rule.days_after)
    answered = pl.col(questionnaire.response.answered).fill_null(0) == 1
    condition = (
        (due <= pl.lit(today))
        & (due > pl.lit(today - timedelta(days=rule.expires_after_days)))
        & ~answered
    )
    if rule.when:
        types = variable_types(registry.dictionary)
        when = compile_expression(rule.when, types, expect="boolean", today=today).expr
        condition = condition & when.fill_null(False)
    frame = registration_frame(database, registry.key, registry.dictionary)
    return frame.lazy().filter(condition).select("id").collect()["id"].to_list()


def create_invitations(
    database: Database,
    registry: RegistryFolder,
    questionnaire: Questionnaire,
    contacts: ContactLookup,
    writer: MessageWriter,
    key: bytes,
    now: datetime,
    *,
    actor: Actor = SYSTEM,
) -> InviteRun:
    """Invite the patient of every due registration not yet invited to this questionnaire.

    Each invitation commits on its own with its message and its audit event, and marks the
    registration as invited (the questionnaire's `response.invited` variable).
    """
    due = due_registrations(database, registry, questionnaire, now.date())
    with database.reading() as session:
        invited = _invited(session, registry.key, questionnaire.key)
        declined = _declined_patients(session, registry.key)
        rows = _patients_of(session, [i for i in due if i not in invited])
    cipher = NationalIdCipher(key)
    created = no_contact = declined_before = raced = 0
    for registration_id, patient_id, encrypted in rows:
        if patient_id in declined:
            declined_before += 1
            continue
        contact = contacts(cipher.decrypt(encrypted))
        if contact is None:
            no_contact += 1
        elif _invite(
            database, registry, questionnaire, registration_id, contact, writer, key, now, actor
        ):
            created += 1
        else:
            raced += 1
    return InviteRun(
        created=created,
        no_contact=no_contact,
        declined_before=declined_before,
        already_invited=len(due) - len(rows) + raced,
    )


def queue_reminders(
    database: Database,
    registry: RegistryFolder,
    questionnaires: Mapping[str, Questionnaire],
    writer: MessageWriter,
    key: bytes,
    now: datetime,
    *,
    actor: Actor = SYSTEM,
) -> int:
    """Queue the reminders that are due; returns how many. Each brings a new link.

    Due: `next_reminder_at` has come, the first message went out, and the link is alive.
    An invitation whose next reminder would fall after its expiry gets none.
    """
    with database.reading() as session:
        due_ids = session.scalars(
            select(PromInvitation.id)
            .join(Registry, Registry.id == PromInvitation.registry_id)
            .where(
                Registry.key == registry.key,
                alive(now),
                PromInvitation.next_reminder_at <= now,
                PromInvitation.sent_at.is_not(None),
                PromInvitation.questionnaire_key.in_(sorted(questionnaires)),
            )
            .order_by(PromInvitation.id)
        ).all()
    queued = 0
    for invitation_id in due_ids:
        with database.transaction() as session:
            invitation = session.get(PromInvitation, invitation_id, with_for_update=True)
            if invitation is None or invitation.next_reminder_at is None:
                continue
            questionnaire = questionnaires[invitation.questionnaire_key]
            reminders = questionnaire.invitation.reminders
            if invitation.reminders_sent >= reminders.count or link_state(invitation, now):
                invitation.next_reminder_at = None
                continue
            token, digest = new_token()
            invitation.token_hash = digest
            invitation.reminders_sent += 1
            scheduled = invitation.next_reminder_at + timedelta(days=reminders.days_between)
            if scheduled <= now:  # the command did not run for a while: space from today
                scheduled = now + timedelta(days=reminders.days_between)
            more = invitation.reminders_sent < reminders.count
            invitation.next_reminder_at = (
                scheduled if more and scheduled < invitation.expires_at else None
            )
            message_id = _queue(
                session, invitation, questionnaire, "reminder", writer, key, token, now
            )
            audit.record(
                session,
                "prom.remind",
                actor,
                object_type="prom_invitation",
                object_id=invitation.id,
                registry_id=invitation.registry_id,
                details={
                    "registration_id": invitation.registration_id,
                    "questionnaire": invitation.questionnaire_key,
                    "reminder": invitation.reminders_sent,
                    "message_id": message_id,
                },
            )
            queued += 1
    return queued


def _invite(
    database: Database,
    registry: RegistryFolder,
    questionnaire: Questionnaire,
    registration_id: int,
    contact: Contact,
    writer: MessageWriter,
    key: bytes,
    now: datetime,
    actor: Actor,
) -> bool:
    """One invitation with its message, audit event and registration mark; False if it
    already existed (another run made it meanwhile)."""
    rule = questionnaire.invitation
    token, digest = new_token()
    try:
        with database.transaction() as session:
            registry_id = session.scalar(select(Registry.id).where(Registry.key == registry.key))
            assert registry_id is not None
            invitation = PromInvitation(
                registry_id=registry_id,
                registration_id=registration_id,
                questionnaire_key=questionnaire.key,
                questionnaire_version=questionnaire.version,
                token_hash=digest,
                channel=contact.channel,
                recipient_encrypted=TextCipher(key).encrypt(
                    contact.address, recipient_context(registration_id, questionnaire.key)
                ),
                language=contact.language,
                created_at=now,
                expires_at=now + timedelta(days=rule.expires_after_days),
                next_reminder_at=(
                    now + timedelta(days=rule.reminders.days_between)
                    if rule.reminders.count
                    else None
                ),
            )
            session.add(invitation)
            session.flush()
            message_id = _queue(
                session, invitation, questionnaire, "invitation", writer, key, token, now
            )
            marked = write_values(
                session,
                actor,
                registry,
                registration_id,
                invitation_values(questionnaire),
                reason=f"PROM {questionnaire.key} v{questionnaire.version}: invited",
                today=now.date(),
            )
            audit.record(
                session,
                "prom.invite",
                actor,
                object_type="prom_invitation",
                object_id=invitation.id,
                registry_id=registry_id,
                details={
                    "registration_id": registration_id,
                    "questionnaire": questionnaire.key,
                    "version": questionnaire.version,
                    "channel": contact.channel,
                    "message_id": message_id,
                    "registration": marked,
                },
            )
    except IntegrityError:
        return False
    return True


def _queue(
    session: Session,
    invitation: PromInvitation,
    questionnaire: Questionnaire,
    kind: MessageKind,
    writer: MessageWriter,
    key: bytes,
    token: str,
    now: datetime,
) -> str:
    recipient = TextCipher(key).decrypt(
        invitation.recipient_encrypted,
        recipient_context(invitation.registration_id, invitation.questionnaire_key),
    )
    message = writer(
        kind,
        questionnaire,
        channel=invitation.channel,
        language=invitation.language,
        token=token,
        expires_at=invitation.expires_at,
    )
    return outbox.queue_message(
        session,
        key,
        channel=invitation.channel,
        recipient=recipient,
        subject=message.subject,
        body=message.body,
        invitation_id=invitation.id,
        now=now,
    )


def recipient_context(registration_id: int, questionnaire_key: str) -> bytes:
    """What a recipient's ciphertext is bound to: copied to another row, it does not decrypt."""
    return f"prom-recipient:{registration_id}:{questionnaire_key}".encode()


def alive(now: datetime) -> ColumnElement[bool]:
    """SQL: the invitation's link still works at `now` (`link_state` in Python)."""
    return and_(
        PromInvitation.answered_at.is_(None),
        PromInvitation.cancelled_at.is_(None),
        PromInvitation.opted_out_at.is_(None),
        PromInvitation.expires_at > now,
    )


def link_state(invitation: PromInvitation, now: datetime) -> LinkState | None:
    """Why the invitation's link no longer works at `now`, or None while it does."""
    if invitation.answered_at is not None:
        return "answered"
    if invitation.opted_out_at is not None:
        return "declined"
    if invitation.cancelled_at is not None:
        return "cancelled"
    if invitation.expires_at <= now:
        return "expired"
    return None


def _invited(session: Session, registry_key: str, questionnaire_key: str) -> set[int]:
    return set(
        session.scalars(
            select(PromInvitation.registration_id)
            .join(Registry, Registry.id == PromInvitation.registry_id)
            .where(
                Registry.key == registry_key, PromInvitation.questionnaire_key == questionnaire_key
            )
        )
    )


def _declined_patients(session: Session, registry_key: str) -> set[int]:
    return set(
        session.scalars(
            select(Registration.patient_id)
            .join(PromInvitation, PromInvitation.registration_id == Registration.id)
            .join(Registry, Registry.id == PromInvitation.registry_id)
            .where(Registry.key == registry_key, PromInvitation.opted_out_at.is_not(None))
        )
    )


def _patients_of(session: Session, registration_ids: Iterable[int]) -> list[tuple[int, int, bytes]]:
    """(registration id, patient id, encrypted national id) of each registration, by id."""
    wanted = sorted(registration_ids)
    rows: list[tuple[int, int, bytes]] = []
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        rows += [
            (int(r), int(p), bytes(n))
            for r, p, n in session.execute(
                select(Registration.id, Registration.patient_id, Patient.national_id_encrypted)
                .join(Patient, Patient.id == Registration.patient_id)
                .where(Registration.id.in_(chunk))
                .order_by(Registration.id)
            )
        ]
    return rows
