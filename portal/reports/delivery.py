"""Sending unit reports: the subscriptions that are due, and a report sent once to a list.

`send_due_reports` is what the scheduler (cron, `flask --app app reports send-due`) runs: for
each due subscription it claims the period (`report_subscriptions.claim`, so a second run,
at once or later, sends nothing twice), reads the subscriber's grants and address afresh,
gathers and renders the report, and hands the e-mail to the SMTP relay of the PROM sender
(`portal.prom_senders.send_email`). A subscriber who may no longer read the unit, or whose
account has no address, gets nothing and the subscription ends. Every outcome is logged in
`report_sends` and audited with ids only. One failing report never stops the others.

Both need the Flask application context (the installed registries and their texts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import make_msgid

from data_access.access import AccessScope, scope_for_user
from data_access.audit import SYSTEM, Actor
from data_access.database import Database
from data_access.reference_data import read_units
from data_access.report_subscriptions import (
    OSLO,
    Subscription,
    account_email,
    claim,
    due_subscriptions,
    end_subscription,
    log_send,
)
from entry.registry_folder import RegistryFolder
from portal import urls
from portal.catalogue import find_registry
from portal.i18n import date_text, translate
from portal.prom_senders import send_email
from portal.reports.unit_report import render_unit_report
from portal.reports.unit_report_data import UnitReport, gather_unit_report
from portal.reports.unsubscribe import link_token
from portal.settings import Settings


@dataclass(frozen=True)
class DeliveryRun:
    """What one `send_due_reports` run did; `taken` counts reports another run claimed first."""

    sent: int = 0
    failed: int = 0
    refused: int = 0
    taken: int = 0


def send_due_reports(
    database: Database, settings: Settings, now: datetime, *, actor: Actor = SYSTEM
) -> DeliveryRun:
    """Send every subscribed report due at `now`, once each (see the module docstring)."""
    counts = {"sent": 0, "failed": 0, "refused": 0, "taken": 0}
    for subscription in due_subscriptions(database, now):
        if not claim(database, subscription, now):
            counts["taken"] += 1
            continue
        counts[_send_subscribed(database, settings, subscription, now, actor)] += 1
    return DeliveryRun(**counts)


def _send_subscribed(
    database: Database, settings: Settings, subscription: Subscription, now: datetime, actor: Actor
) -> str:
    """Send one claimed report; its outcome: "sent", "failed" or "refused"."""

    def logged(status: str, recipients: int, error: str | None = None) -> str:
        log_send(
            database,
            actor,
            registry_key=subscription.registry_key,
            unit_id=subscription.unit_id,
            recipients=recipients,
            status=status,
            now=now,
            subscription_id=subscription.id,
            error=error,
        )
        return status

    scope = scope_for_user(database, subscription.user_id)
    address = account_email(database, subscription.user_id)
    if address is None or not scope.may_read_records(
        subscription.registry_key, subscription.unit_id
    ):
        end_subscription(database, subscription.id, actor, via="sender")
        return logged("refused", 0, "no_email" if address is None else "no_access")
    token = link_token(settings.secret_key, subscription.id)
    unsubscribe = urls.report_unsubscribe(
        token, subscription.language, base=settings.public_base_url
    )
    try:
        registry = _registry(subscription.registry_key)
        report = _report(database, settings, registry, scope, subscription.unit_id, now)
        pdf = render_unit_report(report, subscription.language)
        email = report_email(
            settings,
            report,
            pdf,
            subscription.language,
            address,
            unsubscribe=unsubscribe,
            frequency=subscription.frequency,
        )
        send_email(settings, email)
    except Exception as error:  # any failure is this report's alone; the log keeps its kind
        return logged("failed", 0, _kind(error))
    return logged("sent", 1)


def send_once(
    database: Database,
    settings: Settings,
    registry: RegistryFolder,
    unit_id: int,
    recipients: Sequence[str],
    language: str,
    now: datetime,
    *,
    actor: Actor,
) -> tuple[int, int]:
    """Send the unit's report once to each address, one e-mail each (no address sees the
    others); (delivered, failed). For an operator at the server, who may read every unit
    anyway: the scope names just this unit. Raises `ValueError` for an unknown unit."""
    if unit_id not in set(read_units(database)["unit_id"].to_list()):
        raise ValueError(f"unknown unit {unit_id}")
    scope = AccessScope(actor=actor, roles={registry.key: {"clinician": frozenset({unit_id})}})
    report = _report(database, settings, registry, scope, unit_id, now)
    pdf = render_unit_report(report, language)
    delivered, errors = 0, []
    for address in recipients:
        try:
            send_email(settings, report_email(settings, report, pdf, language, address))
        except Exception as error:  # counted; the others are still sent
            errors.append(_kind(error))
            continue
        delivered += 1
    summary = f"{errors[0]} ({len(errors)} of {len(recipients)})" if errors else None
    log_send(
        database,
        actor,
        registry_key=registry.key,
        unit_id=unit_id,
        recipients=delivered,
        status="failed" if errors else "sent",
        error=summary,
        now=now,
    )
    return delivered, len(errors)


def report_email(
    settings: Settings,
    report: UnitReport,
    pdf: bytes,
    language: str,
    recipient: str,
    *,
    unsubscribe: str | None = None,
    frequency: str | None = None,
) -> EmailMessage:
    """The e-mail of one report: a short text with the portal's link, the PDF attached and,
    for a subscription, the unsubscribe link in the text and in `List-Unsubscribe`."""
    unit, registry = str(report.unit["name"]), report.registry.name.in_language(language)
    portal = settings.public_base_url + urls.my_unit(
        report.registry.key, language, unit=int(report.unit["unit_id"])
    )
    body = translate(
        "subscriptions.mail.body",
        language,
        unit=unit,
        registry=registry,
        date=date_text(report.made_on, language),
        portal=portal,
    )
    if unsubscribe is not None and frequency is not None:
        body += "\n\n" + translate(
            "subscriptions.mail.subscription",
            language,
            frequency=translate(f"subscriptions.mail.{frequency}", language),
            unsubscribe=unsubscribe,
        )
    else:
        body += "\n\n" + translate("subscriptions.mail.once", language)
    email = EmailMessage()
    email["From"] = settings.smtp_from
    email["To"] = recipient
    email["Subject"] = translate(
        "subscriptions.mail.subject", language, unit=unit, registry=registry
    )
    email["Message-ID"] = make_msgid()
    email["Auto-Submitted"] = "auto-generated"
    if unsubscribe is not None:
        email["List-Unsubscribe"] = f"<{unsubscribe}>"
        email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    email.set_content(body)
    name = translate("subscriptions.report.file_name", language)
    email.add_attachment(
        pdf,
        maintype="application",
        subtype="pdf",
        filename=f"{name}-{report.registry.key}-{report.unit['unit_id']}-{report.made_on}.pdf",
    )
    return email


def _registry(key: str) -> RegistryFolder:
    registry = find_registry(key)
    if registry is None:
        raise LookupError(f"registry {key!r} is not installed")
    return registry


def _report(
    database: Database,
    settings: Settings,
    registry: RegistryFolder,
    scope: AccessScope,
    unit_id: int,
    now: datetime,
) -> UnitReport:
    today = now.astimezone(OSLO).date()
    return gather_unit_report(settings, database, registry, scope, unit_id, today)


def _kind(error: Exception) -> str:
    """The kind of a failure only: an SMTP reply may quote the address it refused."""
    return type(error).__name__[:200]
