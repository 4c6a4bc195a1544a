"""What a data-entry form's callbacks receive, read back with suspicion.

Everything in a callback request is the browser's word, and a forged request can put
anything anywhere: a number where the page's store held a mapping, another unit's id, a
list where a text was. These readers accept only the shapes the form page writes and turn
everything else into None or an empty value, so the callbacks never fail on forged input
and never act on a unit or registration the caller has not been checked against.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from data_access.access import AccessScope
from data_access.record_commands import Status
from entry.national_id import InvalidNationalId, parse_national_id
from entry.registry_folder import RegistryFolder
from portal.catalogue import find_registry

STATUSES: Final[tuple[Status, ...]] = ("draft", "complete", "locked")


@dataclass(frozen=True)
class FormContext:
    """Which form of which registration (None: a new one) at which unit the page shows."""

    registry: RegistryFolder
    form: str
    unit_id: int
    registration_id: int | None
    status: Status | None

    def store(self) -> dict[str, object]:
        """The page's store of the context (and what `read_context` reads back)."""
        return {
            "registry": self.registry.key,
            "form": self.form,
            "unit": self.unit_id,
            "id": self.registration_id,
            "status": self.status,
        }


def may_enter(scope: AccessScope, context: FormContext) -> bool:
    """A registrar of the unit, or its admin (who alone changes locked records)."""
    key, unit = context.registry.key, context.unit_id
    return scope.may_edit_records(key, unit) or scope.may_administer(key, unit)


def read_context(data: object) -> FormContext | None:
    """The page's store read back, or None for anything a form page never wrote."""
    if not isinstance(data, dict):
        return None
    key, form = data.get("registry"), data.get("form")
    folder = find_registry(key) if isinstance(key, str) and key else None
    unit, registration = as_id(data.get("unit")), data.get("id")
    status = data.get("status")
    if folder is None or form not in folder.dictionary.forms or unit is None:
        return None
    if registration is not None and as_id(registration) is None:
        return None
    if status is not None and as_status(status) is None:
        return None
    return FormContext(folder, str(form), unit, as_id(registration), as_status(status))


def as_status(value: object) -> Status | None:
    return next((status for status in STATUSES if status == value), None)


def named_values(items: object) -> dict[str, object]:
    """`{variable: value}` from a pattern-matching input's items; anything malformed is dropped."""
    found: dict[str, object] = {}
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(name := item_name(item), str):
            found[name] = item.get("value")
    return found


def item_name(item: object) -> str | None:
    """The variable named by a pattern-matching item's id (`{"type": ..., "name": ...}`)."""
    identity = item.get("id") if isinstance(item, dict) else None
    name = identity.get("name") if isinstance(identity, dict) else None
    return name if isinstance(name, str) else None


def acknowledged_rules(items: object) -> frozenset[str]:
    """The rule ids ticked in the warnings' checklists."""
    ticked = named_values(items).values()
    return frozenset(
        rule
        for group in ticked
        if isinstance(group, list)
        for rule in group
        if isinstance(rule, str)
    )


def national_id_problem(value: object) -> str | None:
    """The translation key of what is wrong with an entered national id, or None if valid.

    The key names the rule that failed; neither it nor anything built from it holds the id.
    """
    if not isinstance(value, str) or not value.strip():
        return "forms.national_id.missing"
    try:
        parse_national_id(value)
    except InvalidNationalId as error:
        return f"forms.national_id.{error.reason}"
    return None


def as_id(value: object) -> int | None:
    """A positive 64-bit id from an int or its digits; None for anything else."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 < value < 2**63 else None
