"""A small PROM world for tests: the stroke registry, registrations on chosen days, a clock.

Shared by the PROM tests (data layer, pages, browser); not a test module itself.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import polars as pl
from aiosmtpd.controller import Controller
from sqlalchemy import select

from data_access.access import AccessScope
from data_access.audit import Actor
from data_access.database import Database
from data_access.models import Registration
from data_access.org_tree import read_unit_tree
from data_access.outbox import OutgoingMessage, queued_messages
from data_access.prom import Contact
from data_access.record_commands import IdentityKeys, create_registration
from data_access.reference_data import ensure_registry, sync_units
from entry.national_id import synthetic_national_ids
from entry.record_rules import read_document
from entry.registry_folder import read_registry_folder
from portal.prom_messages import PortalMessages

REGISTRY = read_registry_folder(Path(__file__).resolve().parents[2] / "registries" / "stroke")
QUESTIONNAIRE = REGISTRY.questionnaire("stroke_3m")
NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
HAMMERFEST, KIRKENES = 100001, 100002
BASE_URL = "https://prom.example.no"
WRITER = PortalMessages(REGISTRY, BASE_URL)
REGISTRAR = AccessScope(
    actor=Actor(None, "test-registrar"), roles={"stroke": {"registrar": frozenset({HAMMERFEST})}}
)


def stay(admitted: date, **changes: str) -> dict[str, str]:
    """A whole admission and discharge, admitted on `admitted` (valid for completion)."""
    day = admitted.isoformat()
    values = {
        "admission_date": day,
        "arrival_datetime": f"{day}T10:00",
        "onset_known": "0",
        "age": "74",
        "sex": "2",
        "stroke_type": "1",
        "thrombolysis": "1",
        "thrombolysis_datetime": f"{day} 10:35",
        "died_in_hospital": "0",
    }
    return values | changes


def due_today() -> date:
    """An admission day whose patient the stroke questionnaire's rule invites today."""
    return datetime.now(UTC).date() - timedelta(days=QUESTIONNAIRE.invitation.days_after + 1)


def national_ids(count: int) -> list[str]:
    births = pl.Series([date(1950, 5, 17)] * count)
    return synthetic_national_ids(births, pl.Series(["female"] * count), 7).to_list()


def registrations(
    database: Database, keys: IdentityKeys, stays: list[Mapping[str, str]]
) -> list[int]:
    """Registrations at Hammerfest, one patient each, in order; the database gets its units."""
    sync_units(database, read_unit_tree())
    ensure_registry(database, "stroke", "Hjerneslag", "Stroke")
    return [
        create_registration(
            database, REGISTRAR, "stroke", HAMMERFEST, national_id, values,
            REGISTRY.dictionary, keys, event_date_variable="admission_date",
        ).registration_id
        for national_id, values in zip(national_ids(len(stays)), stays, strict=True)
    ]  # fmt: skip


@dataclass
class Addresses:
    """A contact register for tests: every patient has an e-mail address (or none)."""

    channel: str = "email"
    language: str = "nb"
    asked: list[str] = field(default_factory=list)

    def __call__(self, national_id: str) -> Contact | None:
        self.asked.append(national_id)
        address = (
            f"patient-{national_id[-5:]}@example.no" if self.channel == "email" else "+4791234567"
        )
        return Contact(self.channel, address, self.language)


@dataclass
class Kept:
    """A sender that keeps what it is given (the delivery tests use a real SMTP server)."""

    messages: list[OutgoingMessage] = field(default_factory=list)

    def send(self, message: OutgoingMessage) -> None:
        self.messages.append(message)


def token_in(body: str) -> str:
    """The secret of the questionnaire link in a message body."""
    start = body.index(f"{BASE_URL}/prom/") + len(f"{BASE_URL}/prom/")
    return body[start:].split()[0].split("/")[0].split("?")[0]


def queued_tokens(database: Database, keys: IdentityKeys) -> list[str]:
    return [token_in(m.body) for m in queued_messages(database, keys.national_id_key)]


def values_of(database: Database, registration_id: int) -> dict[str, object]:
    with database.reading() as session:
        document = session.scalar(
            select(Registration.values).where(Registration.id == registration_id)
        )
    return read_document(document or {})[0]


class Inbox:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def] # noqa: N802 (aiosmtpd's name)
        email = message_from_bytes(envelope.content, policy=policy.default)
        self.received.append((list(envelope.rcpt_tos), email))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_smtp() -> Iterator[tuple[int, Inbox]]:
    """A local SMTP server (aiosmtpd) for as long as the block runs: its port and inbox."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()
