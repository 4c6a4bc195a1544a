"""The tables of patient-reported outcomes (PROM): invitations, responses and the outbox.

Kept apart from `models.py` so the PROM schema reads on its own; `models.py` imports this
module at its end, so `Base.metadata` always holds these tables too (migrations, tests).

What is kept, and how (issue 9):

- an invitation holds only the SHA-256 of its link's secret, never the secret itself, and
  the recipient (e-mail address or mobile number) encrypted like national ids, bound to the
  registration and questionnaire so a ciphertext copied to another row does not decrypt;
- a response holds the patient's answers as a JSON document (the shape of a registration's
  values) and, once submitted, the scores with the instrument version and value set used;
- the outbox holds every message to be sent; recipient and body are encrypted (the body
  carries the link), bound to the message id. Deleting a registration deletes its
  invitations, responses and unsent messages.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from data_access.models import Base, UtcDateTime, utc_now

CHANNELS = ("email", "sms")
OUTBOX_STATUSES = ("queued", "sent", "failed")
PATIENT_LANGUAGES = ("nb", "nn", "en")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class PromInvitation(Base):
    """One questionnaire offered to the patient of one registration, by a one-time link.

    One per registration and questionnaire key (whatever the version), so inviting twice
    is harmless. The link is alive while `answered_at`, `cancelled_at` and `opted_out_at`
    are empty and `expires_at` lies ahead; `next_reminder_at` is when the next reminder is
    due (empty when none is). A reminder brings a new link and the old one stops working.
    """

    __tablename__ = "prom_invitations"
    __table_args__ = (
        CheckConstraint(_in("channel", CHANNELS), name="channel"),
        CheckConstraint(_in("language", PATIENT_LANGUAGES), name="language"),
        UniqueConstraint("registration_id", "questionnaire_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    registry_id: Mapped[int] = mapped_column(ForeignKey("registries.id"))
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id", ondelete="CASCADE"))
    questionnaire_key: Mapped[str] = mapped_column(String(60))
    questionnaire_version: Mapped[int]
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    channel: Mapped[str] = mapped_column(String(5))
    recipient_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    language: Mapped[str] = mapped_column(String(2), default="nb")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    reminders_sent: Mapped[int] = mapped_column(default=0, server_default="0")
    next_reminder_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    opted_out_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class PromResponse(Base):
    """The patient's answers to one invitation: saved as they go, scored when submitted.

    `scores` maps each instrument to its score, the instrument's version and the value set
    (tariff) the score was computed with, so a score can be recomputed or compared later.
    """

    __tablename__ = "prom_responses"

    id: Mapped[int] = mapped_column(primary_key=True)
    invitation_id: Mapped[int] = mapped_column(
        ForeignKey("prom_invitations.id", ondelete="CASCADE"), unique=True
    )
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("registrations.id", ondelete="CASCADE"), index=True
    )
    answers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    scores: Mapped[dict[str, Any]] = mapped_column(default=dict)
    saved_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    submitted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class OutboxMessage(Base):
    """A message waiting to be sent, or sent, or given up on after too many attempts.

    `last_error` names only the kind of failure (never an address or a body).
    """

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint(_in("channel", CHANNELS), name="channel"),
        CheckConstraint(_in("status", OUTBOX_STATUSES), name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(32), unique=True)
    invitation_id: Mapped[int | None] = mapped_column(
        ForeignKey("prom_invitations.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(5))
    recipient_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    subject: Mapped[str] = mapped_column(String(200))
    body_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(6), default="queued", index=True)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
