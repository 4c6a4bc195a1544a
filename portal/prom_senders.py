"""Who carries PROM messages out of the outbox: e-mail over SMTP, and a pluggable SMS sender.

`senders(settings)` gives one `data_access.outbox.Sender` per channel. E-mail goes through
`smtplib` to the relay the settings name (`SMTP_HOST`, `SMTP_PORT`, `SMTP_TLS` none,
starttls or ssl, optional `SMTP_USERNAME`/`SMTP_PASSWORD`, sender `SMTP_FROM`). SMS needs a
gateway, and every country and health region has its own, so `SMS_SENDER` names a factory
("package.module:make_sender", called with the settings); the default, "development",
leaves each SMS in the outbox table only (marked sent, readable by a developer through
`flask prom outbox`), and refuses to pretend in production.
"""

from __future__ import annotations

import importlib
import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid

from data_access.outbox import OutgoingMessage, Sender
from portal.settings import Settings

_log = logging.getLogger(__name__)
TIMEOUT_SECONDS = 30


class SmtpSender:
    """Sends each message as a plain-text UTF-8 e-mail through the configured relay."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send(self, message: OutgoingMessage) -> None:
        settings = self.settings
        email = EmailMessage()
        email["From"] = settings.smtp_from
        email["To"] = message.recipient
        email["Subject"] = message.subject
        email["Message-ID"] = make_msgid(idstring=message.message_id)
        email.set_content(message.body)
        send_email(settings, email)


def send_email(settings: Settings, email: EmailMessage) -> None:
    """Hand one finished e-mail to the configured relay, or raise (also used by the report
    subscriptions, `portal.reports.delivery`, whose e-mails carry a PDF)."""
    if settings.smtp_security == "ssl":
        context = ssl.create_default_context()
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            settings.smtp_host, settings.smtp_port, timeout=TIMEOUT_SECONDS, context=context
        )
    else:
        client = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT_SECONDS)
    with client:
        if settings.smtp_security == "starttls":
            client.starttls(context=ssl.create_default_context())
        if settings.smtp_username:
            client.login(settings.smtp_username, settings.smtp_password or "")
        client.send_message(email)


class DevelopmentSmsSender:
    """Keeps SMS in the outbox table: nothing leaves the machine. Refused in production,
    where an SMS marked sent but never delivered would silently lose patients."""

    def __init__(self, settings: Settings) -> None:
        self.production = settings.environment == "production"

    def send(self, message: OutgoingMessage) -> None:
        if self.production:
            raise RuntimeError("SMS_SENDER is not set: no SMS gateway is configured")
        _log.info("SMS %s kept in the outbox (development sender)", message.message_id)


def senders(settings: Settings) -> dict[str, Sender]:
    """The sender of each channel for these settings."""
    return {"email": SmtpSender(settings), "sms": sms_sender(settings)}


def sms_sender(settings: Settings) -> Sender:
    if settings.sms_sender == "development":
        return DevelopmentSmsSender(settings)
    module_name, _, factory_name = settings.sms_sender.partition(":")
    if not module_name or not factory_name:
        raise ValueError("SMS_SENDER must be 'development' or 'package.module:factory'")
    factory = getattr(importlib.import_module(module_name), factory_name)
    sender: Sender = factory(settings)
    return sender
