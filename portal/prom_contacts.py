"""Where PROM invitations go: a patient's e-mail or mobile number and preferred language.

In Norway that is the national contact and reservation register (Kontakt- og
reservasjonsregisteret, KRR); a registry receives an extract of it, and a patient reserved
against digital contact is simply absent from the extract, so is never asked. `csv_contacts`
reads such an extract; `demo_contacts` gives every synthetic patient a made-up address so
the flow can be tried in development (never in production).
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

from data_access.prom import Contact, ContactLookup
from entry.national_id import InvalidNationalId, parse_national_id

COLUMNS = ("national_id", "email", "mobile", "language")
"""The extract's columns: `email` or `mobile` (e-mail is used when both are given) and an
optional `language` (nb, nn or en; bokmål when blank)."""


class ContactFileError(ValueError):
    """The extract cannot be read; the message names the line, never a national id."""


def csv_contacts(path: Path) -> ContactLookup:
    """A lookup over a CSV extract (UTF-8, comma-separated, header row)."""
    contacts: dict[str, Contact] = {}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"national_id"} - set(reader.fieldnames or ())
        if missing or not {"email", "mobile"} & set(reader.fieldnames or ()):
            raise ContactFileError(
                f"{path.name}: needs the columns national_id and email or mobile"
            )
        for line, row in enumerate(reader, start=2):
            try:
                digits = parse_national_id(row.get("national_id") or "").digits
                contact = _contact(row)
            except (InvalidNationalId, ValueError):
                raise ContactFileError(f"{path.name}, line {line}: not a valid contact") from None
            if contact is not None:
                contacts[digits] = contact
    return contacts.get


def demo_contacts(national_id: str) -> Contact:
    """A made-up address per synthetic patient (in the reserved `.invalid` domain)."""
    tag = hashlib.sha256(national_id.encode("ascii")).hexdigest()[:12]
    return Contact(channel="email", address=f"pasient-{tag}@demo.invalid", language="nb")


def _contact(row: dict[str, str]) -> Contact | None:
    email, mobile = (row.get("email") or "").strip(), (row.get("mobile") or "").strip()
    language = (row.get("language") or "").strip().lower() or "nb"
    if email:
        return Contact(channel="email", address=email, language=language)
    if mobile:
        return Contact(channel="sms", address=mobile, language=language)
    return None
