"""The outbox delivers PROM e-mail through a real SMTP server (aiosmtpd), on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from data_access.database import Database
from data_access.models import AuditEvent
from data_access.models_prom import OutboxMessage, PromInvitation
from data_access.outbox import MAX_ATTEMPTS, deliver
from data_access.patient_identity import generate_key
from data_access.prom import create_invitations, token_hash
from data_access.record_commands import IdentityKeys
from portal.prom_senders import senders
from portal.settings import Settings
from tests.integration.prom_world import (
    BASE_URL,
    NOW,
    QUESTIONNAIRE,
    REGISTRY,
    WRITER,
    Addresses,
    Inbox,
    free_port,
    registrations,
    running_smtp,
    stay,
    token_in,
)

KEYS = IdentityKeys(generate_key(), generate_key())


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[int, Inbox]]:
    with running_smtp() as server:
        yield server


def _settings(tmp_path: Path, port: int) -> Settings:
    return Settings.from_environ(
        {"PORTAL_ENV": "test", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port),
         "SMTP_FROM": "prom@hjerneslag.example.no"},
        instance_path=tmp_path,
    )  # fmt: skip


def test_an_invitation_arrives_by_e_mail_with_its_link(
    database: Database, tmp_path: Path, smtp: tuple[int, Inbox]
) -> None:
    port, inbox = smtp
    inbox.received.clear()
    registrations(database, KEYS, [stay(date(2026, 3, 1))])
    create_invitations(
        database, REGISTRY, QUESTIONNAIRE, Addresses(), WRITER, KEYS.national_id_key, NOW
    )
    done = deliver(database, senders(_settings(tmp_path, port)), KEYS.national_id_key, NOW)
    assert (done.sent, done.retrying, done.failed) == (1, 0, 0)

    [(recipients, email)] = inbox.received
    assert recipients[0].endswith("@example.no") and email["From"] == "prom@hjerneslag.example.no"
    assert email["Subject"] == "Spørreskjema fra Norsk hjerneslagregister (demo)"
    body = email.get_content()
    token = token_in(body)
    assert f"{BASE_URL}/prom/{token}" in body and f"{BASE_URL}/prom/{token}/opt-out" in body
    with database.reading() as session:
        invitation = session.scalars(select(PromInvitation)).one()
        message = session.scalars(select(OutboxMessage)).one()
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "outbox.sent"))
    assert invitation.token_hash == token_hash(token) and invitation.sent_at == NOW
    assert (message.status, message.attempts, message.sent_at) == ("sent", 1, NOW)
    assert event.details["message_id"] == message.message_id
    # Sent is sent: a second run has nothing to do.
    assert (
        deliver(database, senders(_settings(tmp_path, port)), KEYS.national_id_key, NOW).sent == 0
    )


def test_an_unreachable_relay_is_retried_then_given_up(database: Database, tmp_path: Path) -> None:
    registrations(database, KEYS, [stay(date(2026, 3, 1))])
    create_invitations(
        database, REGISTRY, QUESTIONNAIRE, Addresses(), WRITER, KEYS.national_id_key, NOW
    )
    closed = senders(_settings(tmp_path, free_port()))
    outcomes = [
        deliver(database, closed, KEYS.national_id_key, NOW + timedelta(hours=hour))
        for hour in range(MAX_ATTEMPTS + 1)
    ]
    assert [(o.retrying, o.failed) for o in outcomes] == [(1, 0)] * (MAX_ATTEMPTS - 1) + [
        (0, 1),
        (0, 0),
    ]
    with database.reading() as session:
        message = session.scalars(select(OutboxMessage)).one()
        sent_at = session.scalar(select(PromInvitation.sent_at))
    assert (message.status, message.attempts) == ("failed", MAX_ATTEMPTS)
    assert message.last_error == "ConnectionRefusedError" and sent_at is None
