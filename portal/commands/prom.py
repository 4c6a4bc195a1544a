"""PROM commands: `flask --app app prom invite|remind|send|outbox`, run by a scheduler.

A daily cron job runs `invite` (new invitations by each questionnaire's rule), `remind`
(reminders that are due) and `send` (whatever the outbox holds); each may be run again at
any time without asking anyone twice. Contacts come from an extract of the contact
register (`--contacts file.csv`, see `portal.prom_contacts`); `--demo-contacts` invents
addresses for synthetic patients, in development only. Acts as "cli:<user>" in the audit log.
"""

from __future__ import annotations

from pathlib import Path

import click
import flask
import polars as pl
from flask.cli import AppGroup
from sqlalchemy import select

from data_access.models_prom import OutboxMessage
from data_access.outbox import deliver
from data_access.prom import ContactLookup, create_invitations, queue_reminders
from entry.questionnaires import Questionnaire
from entry.registry_folder import RegistryFolder
from portal.auth.identity import now
from portal.catalogue import installed_registries
from portal.commands.users import _database, _echo_table, cli_actor
from portal.prom_contacts import ContactFileError, csv_contacts, demo_contacts
from portal.prom_messages import PortalMessages
from portal.prom_senders import senders
from portal.settings import Settings

prom = AppGroup("prom", help="Patient questionnaires (PROM): invite, remind, send.")


@prom.command("invite", help="Invite the patients each questionnaire's rule selects today.")
@click.option("--registry", "registry_key", default=None, help="Registry key; all by default.")
@click.option("--contacts", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--demo-contacts", "demo", is_flag=True, help="Made-up addresses (development only).")
def invite_command(registry_key: str | None, contacts: str | None, demo: bool) -> None:
    settings = _checked_settings()
    lookup = _lookup(settings, contacts, demo)
    for registry, questionnaire in _questionnaires(registry_key):
        run = create_invitations(
            _database(),
            registry,
            questionnaire,
            lookup,
            PortalMessages(registry, settings.public_base_url),
            settings.national_id_key,
            now(),
            actor=cli_actor(),
        )
        click.echo(
            f"{registry.key} {questionnaire.key} v{questionnaire.version}: "
            f"{run.created} invited, {run.already_invited} invited before, "
            f"{run.no_contact} without contact, {run.declined_before} declined before."
        )


@prom.command("remind", help="Queue the reminders that are due.")
@click.option("--registry", "registry_key", default=None, help="Registry key; all by default.")
def remind_command(registry_key: str | None) -> None:
    settings = _checked_settings()
    for registry in _registries(registry_key):
        newest = {q.key: registry.questionnaire(q.key) for q in registry.questionnaires}
        if not newest:
            continue
        queued = queue_reminders(
            _database(),
            registry,
            newest,
            PortalMessages(registry, settings.public_base_url),
            settings.national_id_key,
            now(),
            actor=cli_actor(),
        )
        click.echo(f"{registry.key}: {queued} reminders queued.")


@prom.command("send", help="Send the messages waiting in the outbox.")
def send_command() -> None:
    settings: Settings = flask.current_app.config["PORTAL_SETTINGS"]
    done = deliver(
        _database(), senders(settings), settings.national_id_key, now(), actor=cli_actor()
    )
    click.echo(f"{done.sent} sent, {done.retrying} to be retried, {done.failed} given up.")


@prom.command("outbox", help="List the outbox (never addresses or texts).")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50)
def outbox_command(limit: int) -> None:
    with _database().reading() as session:
        rows = session.execute(
            select(
                OutboxMessage.message_id,
                OutboxMessage.channel,
                OutboxMessage.status,
                OutboxMessage.attempts,
                OutboxMessage.last_error,
                OutboxMessage.created_at,
                OutboxMessage.sent_at,
            )
            .order_by(OutboxMessage.id.desc())
            .limit(limit)
        ).all()
    columns = ["message_id", "channel", "status", "attempts", "last_error", "created", "sent"]
    frame = pl.DataFrame([tuple(r) for r in rows], schema=columns, orient="row")
    _echo_table(frame, empty="The outbox is empty.")


def _checked_settings() -> Settings:
    settings: Settings = flask.current_app.config["PORTAL_SETTINGS"]
    if settings.environment == "production" and "127.0.0.1" in settings.public_base_url:
        raise click.ClickException("set PUBLIC_BASE_URL: links must reach patients")
    return settings


def _lookup(settings: Settings, contacts: str | None, demo: bool) -> ContactLookup:
    if demo and settings.environment == "production":
        raise click.ClickException("--demo-contacts is refused in production")
    if (contacts is None) == (not demo):
        raise click.ClickException("give either --contacts FILE or --demo-contacts")
    if demo:
        return demo_contacts
    try:
        return csv_contacts(Path(contacts or ""))
    except ContactFileError as error:
        raise click.ClickException(str(error)) from None


def _registries(registry_key: str | None) -> list[RegistryFolder]:
    found = [r for r in installed_registries() if registry_key in (None, r.key)]
    if registry_key is not None and not found:
        raise click.ClickException(f"unknown registry {registry_key!r}")
    return found


def _questionnaires(registry_key: str | None) -> list[tuple[RegistryFolder, Questionnaire]]:
    """The newest version of each questionnaire of each registry asked for."""
    return [
        (registry, registry.questionnaire(key))
        for registry in _registries(registry_key)
        for key in dict.fromkeys(q.key for q in registry.questionnaires)
    ]


COMMANDS: tuple[click.Command, ...] = (prom,)
