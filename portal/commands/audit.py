"""Audit log commands: `flask --app app audit verify` checks the hash chain end to end."""

from __future__ import annotations

import click
import flask
from flask.cli import with_appcontext

from data_access.audit import SYSTEM, AuditChainError, record_event, verify_chain
from data_access.database import Database


@click.group(help="The audit log: verify its hash chain.")
def audit() -> None:
    """Operations on the append-only, hash-chained audit log."""


@audit.command(help="Check every event's hash and link; report the first broken link.")
@with_appcontext
def verify() -> None:
    database: Database = flask.current_app.extensions["database"]
    result = verify_chain(database)
    try:
        # The check itself is audited, after it ran, so it does not count itself.
        record_event(
            database,
            "audit.verify",
            SYSTEM,
            details={
                "ok": result.ok,
                "events_checked": result.events_checked,
                "first_broken_id": result.first_broken_id,
                "reason": result.reason,
            },
        )
    except AuditChainError as error:
        click.echo(f"The check could not be recorded: {error}", err=True)
    if result.ok:
        click.echo(f"Audit chain intact: {result.events_checked} events")
        return
    where = (
        "the chain head" if result.first_broken_id is None else f"event {result.first_broken_id}"
    )
    click.echo(f"Audit chain broken at {where}: {result.reason}", err=True)
    raise SystemExit(1)


COMMANDS: tuple[click.Command, ...] = (audit,)
