"""`flask --app app prom invite|send|remind|outbox`, as a daily scheduler runs them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app import create_app
from data_access.record_commands import IdentityKeys
from tests.conftest import make_settings
from tests.integration.prom_world import Inbox, due_today, registrations, running_smtp, stay


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[int, Inbox]]:
    with running_smtp() as server:
        yield server


def test_a_day_of_prom_commands(tmp_path: Path, database_url: str, smtp: tuple[int, Inbox]) -> None:
    port, inbox = smtp
    settings = make_settings(
        tmp_path, database_url, SMTP_HOST="127.0.0.1", SMTP_PORT=str(port),
        PUBLIC_BASE_URL="https://hjerneslag.example.no/",
    )  # fmt: skip
    server = create_app(settings)
    database = server.extensions["database"]
    keys = IdentityKeys(settings.national_id_key, settings.pseudonym_key)
    registrations(database, keys, [stay(due_today()), stay(due_today(), died_in_hospital="1")])
    runner = server.test_cli_runner()

    refused = runner.invoke(args=["prom", "invite"])
    assert refused.exit_code == 1 and "--contacts" in refused.output
    invited = runner.invoke(args=["prom", "invite", "--demo-contacts"])
    assert invited.exit_code == 0, invited.output
    assert "stroke stroke_3m v1: 1 invited, 0 invited before" in invited.output
    assert "1 invited before" in runner.invoke(args=["prom", "invite", "--demo-contacts"]).output

    sent = runner.invoke(args=["prom", "send"])
    assert sent.output.strip() == "1 sent, 0 to be retried, 0 given up."
    [(recipients, email)] = inbox.received[-1:]
    assert recipients[0].endswith("@demo.invalid")
    assert "https://hjerneslag.example.no/prom/" in email.get_content()

    assert "stroke: 0 reminders queued." in runner.invoke(args=["prom", "remind"]).output
    listing = runner.invoke(args=["prom", "outbox"]).output
    assert "sent" in listing and "@" not in listing
    database.dispose()
