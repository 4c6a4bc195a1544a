"""The words of PROM invitations and reminders, by e-mail and SMS, in the patient's language.

`data_access.prom` decides who is asked and when; it asks a `MessageWriter` for the text,
and this is the portal's: texts from the translation catalogue (`prom.message.*`), links
built by `portal.urls` on the public address. The secret is in the link and nowhere else
in the text; an SMS carries only the questionnaire link (the page itself offers to decline),
an e-mail the decline link too.
"""

from __future__ import annotations

from datetime import datetime

from data_access.prom import Message, MessageKind
from entry.questionnaires import Questionnaire
from entry.registry_folder import RegistryFolder
from portal import urls
from portal.i18n import date_text, translate


class PortalMessages:
    """A `MessageWriter` for one registry, with links on `base_url` (the public address)."""

    def __init__(self, registry: RegistryFolder, base_url: str) -> None:
        self.registry, self.base_url = registry, base_url.rstrip("/")

    def __call__(
        self,
        kind: MessageKind,
        questionnaire: Questionnaire,
        *,
        channel: str,
        language: str,
        token: str,
        expires_at: datetime,
    ) -> Message:
        registry = self.registry.name.in_language(language)
        values = {
            "registry": registry,
            "title": questionnaire.title.in_language(language),
            "link": urls.prom(token, base=self.base_url),
            "opt_out": urls.prom_opt_out(token, base=self.base_url),
            "expires": date_text(expires_at.date(), language),
        }
        reminder = kind == "reminder"
        subject = "prom.message.reminder_subject" if reminder else "prom.message.subject"
        body = f"prom.message.{'reminder_' if reminder else ''}{channel}"
        return Message(
            subject=translate(subject, language, registry=registry),
            body=translate(body, language, **values),
        )
