"""Between a form's widgets and `entry.record_rules`: values both ways, and the form's state.

Widgets hold text (and lists of codes for multiple choice) in the way a Norwegian registrar
writes it: "01.05.2025", "01.05.2025 10:30", "7,5". The rules read those as the dictionary's
types; this module turns stored values into widget text and widget text into the raw input
`check_values` reads, and works out what a form shows: which fields logic hides, what each
calculated field says and which findings belong next to which field. It is pure, so the
page's live check and its save read the form the same way, and tests need no browser.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time

from entry.dictionary_model import Dictionary, Variable
from entry.record_rules import INPUT_FREE_TYPES, Issue, RecordCheck, check_values
from portal.i18n import number

_NORWEGIAN_MOMENT = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})[ T]+(\d{1,2}):(\d{2})")

WidgetValue = str | list[str] | None


def takes_input(variable: Variable) -> bool:
    """Whether the field has a widget a registrar fills in (not calculated, not descriptive)."""
    return variable.type not in INPUT_FREE_TYPES


def widget_value(variable: Variable, stored: object, language: str) -> WidgetValue:
    """A stored value (JSON of `RecordCheck.document`) as the widget shows it."""
    if stored is None:
        return [] if variable.type == "multiple" else None
    kind = variable.type
    if kind == "multiple":
        items = stored if isinstance(stored, list) else [stored]
        return [_code_text(item) for item in items]
    if kind in ("yesno", "single"):
        return _code_text(stored)
    if kind == "decimal" and isinstance(stored, int | float) and not isinstance(stored, bool):
        return str(stored).replace(".", "," if language == "nb" else ".")
    if kind == "date" and isinstance(stored, str) and _is_iso_date(stored):
        return date.fromisoformat(stored).strftime("%d.%m.%Y")
    if kind == "datetime" and isinstance(stored, str):
        try:
            return datetime.fromisoformat(stored).strftime("%d.%m.%Y %H:%M")
        except ValueError:
            return stored
    if kind == "time" and isinstance(stored, str):
        try:
            return time.fromisoformat(stored).strftime("%H:%M")
        except ValueError:
            return stored
    return str(stored)


def raw_value(variable: Variable, shown: object) -> object:
    """What a widget holds as raw input for `check_values`; a blank widget becomes None.

    Anything a (possibly forged) request put there that no widget could hold is passed on as
    text, so the rules report it as unreadable instead of this module guessing.
    """
    if variable.type == "multiple":
        items = shown if isinstance(shown, list) else [] if shown in (None, "") else [shown]
        return [str(item) for item in items if item not in (None, "")] or None
    if shown is None or shown == [] or (isinstance(shown, str) and not shown.strip()):
        return None
    text = shown.strip() if isinstance(shown, str) else str(shown)
    if variable.type == "datetime":
        moment = _NORWEGIAN_MOMENT.fullmatch(text)
        if moment:
            day, month, year, hour, minute = (int(part) for part in moment.groups())
            return f"{year:04d}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}"
    return text


def raw_values(dictionary: Dictionary, form: str, shown: Mapping[str, object]) -> dict[str, object]:
    """The raw input of every field of `form` that takes input; absent widgets count as blank.

    Every field of the form is named, blanks included, so that a save clears a value the
    registrar deleted instead of keeping the stored one.
    """
    return {
        variable.name: raw_value(variable, shown.get(variable.name))
        for variable in dictionary.in_form(form)
        if takes_input(variable)
    }


@dataclass(frozen=True)
class FormState:
    """What the form shows for one set of values: hidden fields, calculations, findings."""

    check: RecordCheck
    hidden: frozenset[str]
    calculated: Mapping[str, str]
    """Display text of each calculated field of the form ("" when it cannot be calculated)."""
    issues: Mapping[str, tuple[Issue, ...]]
    """Errors and warnings of the form's fields, by variable."""

    @property
    def fired_warnings(self) -> frozenset[str]:
        return frozenset(w.rule for w in self.check.warnings)


def form_state(
    dictionary: Dictionary,
    form: str,
    values: Mapping[str, object],
    *,
    language: str,
    acknowledged: Iterable[str] = (),
    today: date | None = None,
    with_required: bool = False,
) -> FormState:
    """The state of `form` for raw `values` (this form's raw input over the record's others).

    "Required" findings are left out until `with_required`: an empty form is not an error
    until someone tries to complete it.
    """
    check = check_values(
        dictionary, values, form=form, acknowledged=acknowledged, today=today or date.today()
    )
    issues: dict[str, list[Issue]] = {}
    for issue in (*check.errors, *check.warnings):
        if with_required or not issue.rule.endswith(":required"):
            issues.setdefault(issue.variable, []).append(issue)
    calculated = {
        v.name: display_value(v, check.values.get(v.name), language)
        for v in dictionary.in_form(form)
        if v.type == "calculated"
    }
    return FormState(
        check=check,
        hidden=frozenset(v.name for v in dictionary.in_form(form) if v.name in check.skipped),
        calculated=calculated,
        issues={name: tuple(found) for name, found in issues.items()},
    )


def display_value(variable: Variable, value: object, language: str) -> str:
    """A calculated value as text in the reader's language ("" when there is none)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, float) and not value.is_integer():
        text = number(value, language, decimals=1)
    elif isinstance(value, int | float):
        text = number(value, language, decimals=0)
    elif isinstance(value, date | datetime | time):
        text = value.isoformat()
    else:
        text = str(value)
    return f"{text} {variable.unit}" if variable.unit else text


def warning_rules(variable: Variable) -> tuple[str, ...]:
    """The rule ids of the variable's warnings, as `check_values` names them when they fire."""
    return tuple(
        f"{variable.name}:rule{n}"
        for n, rule in enumerate(variable.validations, start=1)
        if rule.severity == "warning"
    )


def _code_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _is_iso_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10
