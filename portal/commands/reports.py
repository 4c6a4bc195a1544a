"""Report commands: `flask --app app reports send-due|send-once|sends`.

`send-due` is run by cron (docs/operations.md, "Report subscriptions"), as often as
wanted: each subscribed report goes once per period, however often or on however many
machines the command runs. `send-once` mails a unit's report to a list of addresses, for an
operator (no subscription, no unsubscribe link). Both refuse to run in production until
`PUBLIC_BASE_URL` is set, since the e-mails' links must reach their readers. `sends` lists
the log (ids and counts, never addresses). Acts as "cli:<user>" in the audit log.
"""

from __future__ import annotations

import click
from flask.cli import AppGroup

from data_access.models_subscriptions import REPORT_LANGUAGES
from data_access.report_subscriptions import recent_sends
from portal.auth.identity import now
from portal.catalogue import find_registry
from portal.commands.prom import _checked_settings
from portal.commands.users import _database, _echo_table, cli_actor
from portal.reports.delivery import send_due_reports, send_once

reports = AppGroup("reports", help="Unit reports by e-mail: subscriptions and one-off sends.")


@reports.command("send-due", help="Send the subscribed reports that are due now.")
def send_due_command() -> None:
    run = send_due_reports(_database(), _checked_settings(), now(), actor=cli_actor())
    click.echo(
        f"{run.sent} sent, {run.failed} failed, {run.refused} refused (subscription ended), "
        f"{run.taken} taken by another run."
    )


@reports.command("send-once", help="Send a unit's report once to the given addresses.")
@click.option("--registry", "registry_key", required=True, help="Registry key, e.g. stroke.")
@click.option("--unit", "unit_id", type=int, required=True, help="Unit id (reshId).")
@click.option("--to", "to", required=True, help="Addresses, separated by commas.")
@click.option("--language", type=click.Choice(REPORT_LANGUAGES), default="nb", show_default=True)
def send_once_command(registry_key: str, unit_id: int, to: str, language: str) -> None:
    registry = find_registry(registry_key)
    if registry is None or registry.key != registry_key:
        raise click.ClickException(f"unknown registry {registry_key!r}")
    recipients = [address.strip() for address in to.split(",") if address.strip()]
    malformed = [a for a in recipients if a.count("@") != 1 or any(c.isspace() for c in a)]
    if not recipients or malformed:
        raise click.ClickException("give one or more e-mail addresses, separated by commas")
    try:
        delivered, failed = send_once(
            _database(),
            _checked_settings(),
            registry,
            unit_id,
            recipients,
            language,
            now(),
            actor=cli_actor(),
        )
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{delivered} sent, {failed} failed.")
    if failed:
        raise SystemExit(1)


@reports.command("sends", help="List the newest reports sent (never addresses).")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50)
def sends_command(limit: int) -> None:
    _echo_table(recent_sends(_database(), limit), empty="No report has been sent.")


COMMANDS: tuple[click.Command, ...] = (reports,)
