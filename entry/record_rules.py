"""The rules a registration's values must satisfy, whichever door they come in by.

Forms, the REST API and importers hand raw input (text from a form, JSON from a client) to
`check_values`, which reads it by the dictionary's types, applies show-if logic and
calculations in dependency order, and checks bounds, patterns, choices, required fields and
the dictionary's validation rules. It is pure (no clock: form logic that uses `today()` is
given the date), so a record is judged the same way in a test, a form and an import.

What blocks what (issue 4, "Records"):

- input that cannot be read as its type (``"abc"`` for an integer) or names no variable
  blocks every save: there is nothing to store;
- a draft may be saved at any time otherwise; its other errors are reported, not blocking;
- completion needs no errors at all (missing required fields included) and every warning
  acknowledged by its rule id.

The stored form (`RecordCheck.document`) is a JSON object: each variable with a value under
its name (numbers as numbers, choice codes as numbers, multiple choice as a sorted list of
codes, dates, datetimes and times as ISO 8601 text); a blank is simply absent. A field hidden
by show-if logic is *skipped by logic*, which is not the same as unknown: its name is listed
under the key ``"_skipped"`` (sorted) and it has no value. Acknowledged warnings are listed
under ``"_acknowledged"`` by rule id. Variable names start with a letter, so the two keys
can never clash with a variable. `read_document` turns a stored document back into values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Final, Literal

from entry.dictionary_logic import has_number_codes, is_number_code
from entry.dictionary_model import Dictionary, Severity, Text, Variable
from entry.expressions import evaluate, variables_of

TargetStatus = Literal["draft", "complete"]
SKIPPED_KEY: Final = "_skipped"
ACKNOWLEDGED_KEY: Final = "_acknowledged"
INPUT_FREE_TYPES: Final = frozenset({"calculated", "descriptive"})
_CHOICE_TYPES: Final = frozenset({"yesno", "single", "multiple"})

_MESSAGES: Final[Mapping[str, Text]] = {
    "type": Text("Verdien kan ikke leses som {what}.", "The value cannot be read as {what}."),
    "unknown": Text("Ukjent variabel.", "Unknown variable."),
    "input": Text("Feltet kan ikke fylles ut.", "The field takes no input."),
    "choice": Text("Ugyldig svaralternativ: {value}.", "Not one of the choices: {value}."),
    "minimum": Text("Verdien er under minsteverdien {bound}.", "The value is below {bound}."),
    "maximum": Text("Verdien er over høyeste verdi {bound}.", "The value is above {bound}."),
    "pattern": Text("Verdien har feil format.", "The value does not have the expected format."),
    "required": Text("Feltet må fylles ut.", "The field is required."),
}  # fmt: skip
"""Messages of the built-in checks; the dictionary's rules bring their own."""

_WHAT: Final[Mapping[str, Text]] = {
    "integer": Text("et heltall", "a whole number"),
    "decimal": Text("et tall", "a number"),
    "date": Text("en dato (ÅÅÅÅ-MM-DD eller DD.MM.ÅÅÅÅ)", "a date (YYYY-MM-DD or DD.MM.YYYY)"),
    "datetime": Text("dato og klokkeslett", "a date and time"),
    "time": Text("et klokkeslett (TT:MM)", "a time of day (HH:MM)"),
    "code": Text("en svarkode", "a choice code"),
}


@dataclass(frozen=True)
class Issue:
    """One finding about one variable; `rule` is `variable:kind` or `variable:rule<n>`."""

    variable: str
    rule: str
    severity: Severity
    message: Text
    blocks_draft: bool = False
    """Unreadable input and unknown names: nothing could be stored."""


@dataclass(frozen=True)
class RecordCheck:
    """The checked record: typed `values` (blanks and skipped fields absent) and findings."""

    values: Mapping[str, object]
    skipped: frozenset[str]
    errors: tuple[Issue, ...]
    warnings: tuple[Issue, ...]
    acknowledged: frozenset[str]
    """Rule ids of the warnings that fired and were acknowledged."""
    target_status: TargetStatus = "draft"

    @property
    def unacknowledged(self) -> tuple[Issue, ...]:
        return tuple(w for w in self.warnings if w.rule not in self.acknowledged)

    @property
    def storable(self) -> bool:
        return not any(issue.blocks_draft for issue in self.errors)

    @property
    def may_save(self) -> bool:
        """Whether the record may be saved with the target status."""
        if self.target_status == "draft":
            return self.storable
        return not self.errors and not self.unacknowledged

    def document(self) -> dict[str, object]:
        """The JSON-safe stored form (see the module docstring)."""
        stored: dict[str, object] = {n: _json_value(v) for n, v in sorted(self.values.items())}
        if self.skipped:
            stored[SKIPPED_KEY] = sorted(self.skipped)
        if self.acknowledged:
            stored[ACKNOWLEDGED_KEY] = sorted(self.acknowledged)
        return stored


def check_values(
    dictionary: Dictionary,
    values: Mapping[str, object],
    *,
    form: str | None = None,
    target_status: TargetStatus = "draft",
    acknowledged: Iterable[str] = (),
    today: date | None = None,
) -> RecordCheck:
    """Read, derive and check one record's values.

    `form` limits the findings to that form's variables (the rest is still read and used by
    logic). `today` is needed only by dictionaries whose form logic uses `today()`. To check
    many records by one dictionary, prepare `RecordRules` once and call its `check`.
    """
    return RecordRules(dictionary).check(
        values, form=form, target_status=target_status, acknowledged=acknowledged, today=today
    )


class RecordRules:
    """One dictionary's rules, prepared for checking many records (an import of thousands).

    The lookup by name, the order of the logic and each choice variable's allowed codes are
    worked out here once, not once per record; checking is otherwise `check_values` itself.
    """

    def __init__(self, dictionary: Dictionary) -> None:
        self.dictionary = dictionary
        self._by_name = {v.name: v for v in reversed(dictionary.variables)}  # first wins
        self._order = dependency_order(dictionary)
        self._number_codes = {
            v.name: has_number_codes(v) for v in dictionary.variables if v.type in _CHOICE_TYPES
        }
        self._allowed = {
            v.name: frozenset(_code(c.code, self._number_codes[v.name]) for c in v.choices)
            for v in dictionary.variables
            if v.type in ("single", "multiple") and v.choices
        }

    def check(
        self,
        values: Mapping[str, object],
        *,
        form: str | None = None,
        target_status: TargetStatus = "draft",
        acknowledged: Iterable[str] = (),
        today: date | None = None,
    ) -> RecordCheck:
        """`check_values` by this dictionary."""
        issues: list[Issue] = []
        record: dict[str, object] = {}
        for name, raw in values.items():
            if name in (SKIPPED_KEY, ACKNOWLEDGED_KEY):
                continue
            variable = self._by_name.get(name)
            if variable is None:
                issues.append(_issue(name, "unknown", blocks_draft=True))
                continue
            if variable.type in INPUT_FREE_TYPES:
                if variable.type == "calculated" or _blank(raw):
                    continue
                issues.append(_issue(name, "input", blocks_draft=True))
                continue
            try:
                value = convert(variable, raw, self._number_codes.get(name))
            except ValueError as error:
                issues.append(_issue(name, "type", blocks_draft=True, what=str(error)))
                continue
            if value is not None:
                record[name] = value

        skipped: set[str] = set()
        for variable in self._order:
            name = variable.name
            shown = (
                variable.show_if is None or evaluate(variable.show_if, record, today=today) is True
            )
            if not shown:
                record.pop(name, None)
                skipped.add(name)
            elif variable.calculation is not None:
                result = evaluate(variable.calculation, record, today=today)
                if result is None:
                    record.pop(name, None)
                else:
                    record[name] = int(result) if isinstance(result, bool) else result

        warnings: list[Issue] = []
        unreadable = {issue.variable for issue in issues}
        for variable in self.dictionary.variables:
            if variable.name in skipped or (form is not None and variable.form != form):
                continue
            if variable.name in unreadable:
                continue  # its input was unreadable: no point judging a blank in its place
            value = record.get(variable.name)
            issues.extend(_field_issues(variable, value, self._allowed.get(variable.name)))
            for number, rule in enumerate(variable.validations, start=1):
                if evaluate(rule.expression, record, today=today) is False:
                    finding = Issue(
                        variable.name, f"{variable.name}:rule{number}", rule.severity, rule.message
                    )
                    (issues if rule.severity == "error" else warnings).append(finding)
        fired = {w.rule for w in warnings}
        return RecordCheck(
            values=record,
            skipped=frozenset(skipped),
            errors=tuple(issues),
            warnings=tuple(warnings),
            acknowledged=frozenset(acknowledged) & fired,
            target_status=target_status,
        )


def read_document(document: Mapping[str, object]) -> tuple[dict[str, object], frozenset[str]]:
    """A stored document as raw input for `check_values`, plus its acknowledged rule ids."""
    values = {k: v for k, v in document.items() if k not in (SKIPPED_KEY, ACKNOWLEDGED_KEY)}
    acknowledged = document.get(ACKNOWLEDGED_KEY) or []
    assert isinstance(acknowledged, list)
    return values, frozenset(map(str, acknowledged))


def skipped_of(document: Mapping[str, object]) -> frozenset[str]:
    skipped = document.get(SKIPPED_KEY) or []
    assert isinstance(skipped, list)
    return frozenset(map(str, skipped))


def dependency_order(dictionary: Dictionary) -> list[Variable]:
    """Variables ordered so that each comes after every variable its logic reads.

    The dictionary loader refuses cycles, so this always orders every variable; ties keep
    the dictionary's order.
    """
    names = {v.name for v in dictionary.variables}
    waiting = {v.name: _reads(v) & names for v in dictionary.variables}
    ordered: list[Variable] = []
    done: set[str] = set()
    while len(done) < len(dictionary.variables):
        ready = [v for v in dictionary.variables if v.name not in done and waiting[v.name] <= done]
        if not ready:
            raise ValueError("the dictionary's logic has a cycle")
        ordered.extend(ready)
        done.update(v.name for v in ready)
    return ordered


def _reads(variable: Variable) -> frozenset[str]:
    names: frozenset[str] = frozenset()
    for node in (variable.show_if, variable.calculation):
        if node is not None:
            names |= variables_of(node)
    return names


def convert(variable: Variable, raw: object, number_codes: bool | None = None) -> object | None:
    """`raw` read as the variable's type; None for a blank; ValueError names what was wanted.

    `number_codes` is `has_number_codes(variable)` when the caller knows it already.
    """
    if number_codes is None and variable.type in _CHOICE_TYPES:
        number_codes = has_number_codes(variable)
    if _blank(raw):
        return None
    kind = variable.type
    if kind in ("text", "notes"):
        return str(raw).strip()
    if kind == "integer":
        return _integer(raw)
    if kind == "decimal":
        return _decimal(raw)
    if kind == "date":
        return _date(raw)
    if kind == "datetime":
        return _datetime(raw)
    if kind == "time":
        return _time(raw)
    if kind in ("yesno", "single"):
        return _code(raw, bool(number_codes))
    if kind == "multiple":
        items = re.split(r"[,|]", raw) if isinstance(raw, str) else raw
        if not isinstance(items, list | tuple | set | frozenset):
            raise ValueError(_WHAT["code"].en)
        codes = {_code(item, bool(number_codes)) for item in items if not _blank(item)}
        return sorted(codes, key=lambda c: (isinstance(c, str), c)) or None
    raise ValueError(f"a {kind} variable takes no input")


def _blank(raw: object) -> bool:
    if raw is None:
        return True
    if isinstance(raw, str):
        return not raw.strip()
    return isinstance(raw, list | tuple | set | frozenset) and not raw


def _integer(raw: object) -> int:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if isinstance(raw, str) and re.fullmatch(r"[+-]?\d+", raw.strip()):
        return int(raw.strip())
    raise ValueError("integer")


def _decimal(raw: object) -> float:
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        number = float(raw)
    elif isinstance(raw, str) and re.fullmatch(r"[+-]?(\d+([.,]\d*)?|[.,]\d+)", raw.strip()):
        number = float(raw.strip().replace(",", "."))
    else:
        raise ValueError("decimal")
    if not math.isfinite(number):
        raise ValueError("decimal")
    return number


def _date(raw: object) -> date:
    if isinstance(raw, date) and not isinstance(raw, datetime):
        return raw
    if isinstance(raw, str):
        text = raw.strip()
        norwegian = re.fullmatch(r"(\d{1,2})\.(\d{1,2})\.(\d{4})", text)
        try:
            if norwegian:
                day, month, year = map(int, norwegian.groups())
                return date(year, month, day)
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                return date.fromisoformat(text)
        except ValueError:
            pass
    raise ValueError("date")


def _datetime(raw: object) -> datetime:
    moment: datetime | None = raw if isinstance(raw, datetime) else None
    if isinstance(raw, str) and re.fullmatch(
        r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?", raw.strip()
    ):
        try:
            moment = datetime.fromisoformat(raw.strip())
        except ValueError:
            moment = None
    # Times on the ward are local clock times: a zone would make them incomparable.
    if moment is None or moment.tzinfo is not None:
        raise ValueError("datetime")
    return moment


def _time(raw: object) -> time:
    if isinstance(raw, time):
        return raw
    if isinstance(raw, str) and re.fullmatch(r"\d{2}:\d{2}(:\d{2})?", raw.strip()):
        try:
            return time.fromisoformat(raw.strip())
        except ValueError:
            pass
    raise ValueError("time")


def _code(raw: object, number_codes: bool) -> int | float | str:
    """A choice code: a number when the variable's codes are numbers, as the logic reads it."""
    if isinstance(raw, bool):
        raw = int(raw)
    text = str(raw).strip()
    if isinstance(raw, float) and raw.is_integer():
        text = str(int(raw))
    if not number_codes:
        return text
    if not is_number_code(text):
        raise ValueError("code")
    number = float(text)
    return int(number) if number.is_integer() else number


def _field_issues(
    variable: Variable, value: object | None, allowed: frozenset[object] | None
) -> list[Issue]:
    """The built-in checks of one value; `allowed` are the codes of a choice variable."""
    name = variable.name
    if value is None:
        return [_issue(name, "required")] if variable.required else []
    found: list[Issue] = []
    if allowed is not None:
        given = value if isinstance(value, list) else [value]
        found += [_issue(name, "choice", value=v) for v in given if v not in allowed]
    elif variable.type == "yesno" and value not in (0, 1):
        found.append(_issue(name, "choice", value=value))
    try:
        if variable.minimum is not None and value < variable.minimum:  # type: ignore[operator]
            found.append(_issue(name, "minimum", bound=_json_value(variable.minimum)))
        if variable.maximum is not None and value > variable.maximum:  # type: ignore[operator]
            found.append(_issue(name, "maximum", bound=_json_value(variable.maximum)))
    except TypeError:  # a calculation of another type than its bounds: the loader's concern
        pass
    if variable.pattern is not None and not re.fullmatch(variable.pattern, str(value)):
        found.append(_issue(name, "pattern"))
    return found


def _issue(name: str, kind: str, *, blocks_draft: bool = False, **values: object) -> Issue:
    template = _MESSAGES[kind]
    what = _WHAT.get(str(values.pop("what", "")), None)
    nb = {**values, "what": what.nb if what else ""}
    en = {**values, "what": what.en if what else ""}
    message = Text(template.nb.format(**nb), template.en.format(**en))
    return Issue(name, f"{name}:{kind}", "error", message, blocks_draft)


def _json_value(value: object) -> object:
    if isinstance(value, date | datetime | time):
        return value.isoformat()
    return value


__all__ = [
    "ACKNOWLEDGED_KEY",
    "SKIPPED_KEY",
    "Issue",
    "RecordCheck",
    "RecordRules",
    "TargetStatus",
    "check_values",
    "convert",
    "dependency_order",
    "read_document",
    "skipped_of",
]
