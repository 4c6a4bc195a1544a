"""The outbox: messages are written with the change that causes them, and sent afterwards.

An invitation and its message are queued in one transaction, so a message is never sent for
an invitation that was rolled back, nor an invitation left without its message. `deliver`
(the `prom send` command) then hands each queued message to the sender of its channel.

Recipient and body are encrypted at rest (`TextCipher`, bound to the message id): the body
carries a questionnaire link, which is as good as a key to the patient's answers. Delivery is
at least once: an attempt is claimed by bumping `attempts` with a conditional UPDATE (two
runners never send the same attempt), and a message that fails is retried on later runs
until `MAX_ATTEMPTS`, then marked `failed`. Each outcome is audited with ids only.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from data_access import audit
from data_access.audit import SYSTEM, Actor
from data_access.database import Database
from data_access.models_prom import OutboxMessage, PromInvitation
from data_access.patient_identity import TextCipher

MAX_ATTEMPTS: Final = 5
BATCH: Final = 500


@dataclass(frozen=True)
class OutgoingMessage:
    """One message as a sender needs it, decrypted just before sending."""

    message_id: str
    channel: str
    recipient: str
    subject: str
    body: str

    def __repr__(self) -> str:  # logs and tracebacks must not carry addresses or links
        return f"OutgoingMessage(message_id={self.message_id!r}, channel={self.channel!r})"


class Sender(Protocol):
    """Delivers one message or raises; the outbox counts the attempt either way."""

    def send(self, message: OutgoingMessage) -> None: ...


@dataclass(frozen=True)
class Delivery:
    """What one `deliver` run did: messages sent, retried later, and given up."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0


def queue_message(
    session: Session,
    key: bytes,
    *,
    channel: str,
    recipient: str,
    subject: str,
    body: str,
    invitation_id: int | None,
    now: datetime,
) -> str:
    """Queue a message in the caller's transaction; returns its message id."""
    message_id = uuid.uuid4().hex
    cipher = TextCipher(key)
    session.add(
        OutboxMessage(
            message_id=message_id,
            invitation_id=invitation_id,
            channel=channel,
            recipient_encrypted=cipher.encrypt(recipient, _context("recipient", message_id)),
            subject=subject,
            body_encrypted=cipher.encrypt(body, _context("body", message_id)),
            status="queued",
            created_at=now,
        )
    )
    return message_id


def drop_queued(session: Session, invitation_id: int) -> int:
    """Delete the invitation's messages not yet sent (it was answered or declined)."""
    queued = session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.invitation_id == invitation_id, OutboxMessage.status == "queued"
        )
    ).all()
    for message in queued:
        session.delete(message)
    return len(queued)


def queued_messages(database: Database, key: bytes, limit: int = BATCH) -> list[OutgoingMessage]:
    """The queued messages, oldest first, decrypted (for `deliver` and for tests)."""
    with database.reading() as session:
        rows = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.status == "queued")
            .order_by(OutboxMessage.id)
            .limit(limit)
        ).all()
    return [_decrypted(row, TextCipher(key)) for row in rows]


def deliver(
    database: Database,
    senders: Mapping[str, Sender],
    key: bytes,
    now: datetime,
    *,
    actor: Actor = SYSTEM,
    limit: int = BATCH,
) -> Delivery:
    """Send up to `limit` queued messages through the sender of each one's channel."""
    sent = retrying = failed = 0
    for message in queued_messages(database, key, limit):
        attempt = _claim(database, message.message_id)
        if attempt is None:
            continue  # another runner took it
        try:
            senders[message.channel].send(message)
        except Exception as error:  # any failure of a sender is one failed attempt
            given_up = attempt >= MAX_ATTEMPTS
            _record(database, message.message_id, actor, now, error=error, given_up=given_up)
            failed, retrying = failed + given_up, retrying + (not given_up)
            continue
        _record(database, message.message_id, actor, now)
        sent += 1
    return Delivery(sent=sent, retrying=retrying, failed=failed)


def _claim(database: Database, message_id: str) -> int | None:
    """Count one more attempt if the message is still queued as read; the attempt's number."""
    with database.transaction() as session:
        attempts = session.scalar(
            select(OutboxMessage.attempts).where(
                OutboxMessage.message_id == message_id, OutboxMessage.status == "queued"
            )
        )
        if attempts is None:
            return None
        claimed = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.message_id == message_id, OutboxMessage.attempts == attempts)
            .values(attempts=attempts + 1)
            .execution_options(synchronize_session=False)
        )
        return attempts + 1 if claimed.rowcount == 1 else None  # type: ignore[attr-defined]


def _record(
    database: Database,
    message_id: str,
    actor: Actor,
    now: datetime,
    *,
    error: Exception | None = None,
    given_up: bool = False,
) -> None:
    with database.transaction() as session:
        row = session.scalars(
            select(OutboxMessage).where(OutboxMessage.message_id == message_id)
        ).one()
        details: dict[str, object] = {
            "message_id": message_id,
            "channel": row.channel,
            "attempt": row.attempts,
            "invitation_id": row.invitation_id,
        }
        if error is None:
            row.status, row.sent_at, row.last_error = "sent", now, None
            if row.invitation_id is not None:
                session.execute(
                    update(PromInvitation)
                    .where(PromInvitation.id == row.invitation_id, PromInvitation.sent_at.is_(None))
                    .values(sent_at=now)
                    .execution_options(synchronize_session=False)
                )
            action = "outbox.sent"
        else:
            # The kind of error only: an SMTP reply may quote the address it refused.
            row.last_error = type(error).__name__[:200]
            row.status = "failed" if given_up else "queued"
            details["error"] = row.last_error
            action = "outbox.failed" if given_up else "outbox.retry"
        audit.record(
            session, action, actor, object_type="outbox", object_id=row.id, details=details
        )


def _decrypted(row: OutboxMessage, cipher: TextCipher) -> OutgoingMessage:
    return OutgoingMessage(
        message_id=row.message_id,
        channel=row.channel,
        recipient=cipher.decrypt(row.recipient_encrypted, _context("recipient", row.message_id)),
        subject=row.subject,
        body=cipher.decrypt(row.body_encrypted, _context("body", row.message_id)),
    )


def _context(part: str, message_id: str) -> bytes:
    return f"outbox-{part}:{message_id}".encode("ascii")
