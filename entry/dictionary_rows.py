"""One row of the data dictionary read into a `Variable`, with a `Problem` per bad cell.

A row is read completely even when a cell is wrong, so a registry author sees every problem
of the file at once instead of fixing them one start-up at a time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import cast, get_args

from entry.dictionary_model import (
    CHOICE_TYPES,
    REDCAP_FIELD_TYPES,
    VARIABLE_TYPES,
    Bound,
    Choice,
    Layout,
    Problem,
    Severity,
    Text,
    ValidationRule,
    Variable,
    VariableType,
)
from entry.expressions import ExpressionError, Node, parse

NAME = re.compile(r"[a-z][a-z0-9_]*")
CODE = re.compile(r"-?[A-Za-z0-9_.]+")
KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false"})


@dataclass(frozen=True)
class _Common:
    """The cells of a row whose checks do not depend on its type."""

    label: Text | None
    section: Text | None
    help: Text | None
    show_if: Node | None
    calculation: Node | None
    validations: tuple[ValidationRule, ...]
    identifier: bool
    required: bool


class RowReader:
    """Reads one row into a `Variable`, adding a `Problem` for each bad cell instead of stopping."""

    def __init__(self, line: int, cells: dict[str, str], problems: list[Problem]) -> None:
        self.line = line
        self.cells = {key: value.strip() for key, value in cells.items()}
        self.problems = problems

    def problem(self, column: str, reason: str, position: int | None = None) -> None:
        self.problems.append(Problem(self.line, column, reason, position))

    def get(self, column: str) -> str | None:
        return self.cells.get(column) or None

    def read(self) -> Variable | None:
        """The row's variable, or None when its name or type is unusable (after checking the
        cells that do not depend on them, so every problem of the row is still reported)."""
        name, form, kind = self.cells["variable"], self.cells["form"], self.cells["type"]
        usable = True
        if not NAME.fullmatch(name) or name in KEYWORDS:
            self.problem(
                "variable",
                f"bad variable name {name!r}: use lowercase letters, digits and _, "
                "starting with a letter, and not a word of the expression language",
            )
            usable = False
        if not NAME.fullmatch(form):
            self.problem("form", f"bad form name {form!r}")
        common = _Common(
            label=self.text("label", required=True),
            section=self.text("section"),
            help=self.text("help"),
            show_if=self.expression("show_if"),
            calculation=self.expression("calculation"),
            validations=self.validations(),
            identifier=self.flag("identifier"),
            required=self.flag("required"),
        )
        if kind not in VARIABLE_TYPES:
            known = ", ".join(VARIABLE_TYPES)
            self.problem("type", f"unknown type {kind!r}; expected one of {known}")
            return None
        type_: VariableType = kind
        variable = self.typed(name, form, type_, common)
        return variable if usable else None

    def typed(self, name: str, form: str, type_: VariableType, common: _Common) -> Variable:
        """The checks that depend on the type, and the variable itself."""
        minimum, maximum = self.bound("min", type_), self.bound("max", type_)
        if minimum is not None and maximum is not None and _above(minimum, maximum):
            self.problem("min", f"min {self.cells['min']} is above max {self.cells['max']}")
        if type_ == "calculated" and not self.get("calculation"):
            self.problem("calculation", "a calculated variable needs a calculation")
        if type_ != "calculated" and self.get("calculation"):
            self.problem("calculation", f"only calculated variables have one, not {type_}")
        if common.required and type_ in ("descriptive", "calculated"):
            self.problem("required", f"a {type_} variable cannot be required")
        return Variable(
            name=name,
            form=form,
            row=self.line,
            type=type_,
            label=common.label or Text(name, name),
            section=common.section,
            help=common.help,
            unit=self.get("unit"),
            choices=self.choices(type_),
            minimum=minimum,
            maximum=maximum,
            pattern=self.pattern(type_),
            required=common.required,
            show_if=common.show_if,
            show_if_text=self.get("show_if"),
            calculation=common.calculation,
            calculation_text=self.get("calculation"),
            validations=common.validations,
            identifier=common.identifier,
            annotation=self.get("annotation"),
            layout=self.layout(type_),
        )

    def text(self, stem: str, required: bool = False) -> Text | None:
        """Bokmål and English (both or neither), and nynorsk where the optional column has it."""
        nb, en, nn = self.get(f"{stem}_nb"), self.get(f"{stem}_en"), self.get(f"{stem}_nn")
        if nb and en:
            return Text(nb, en, nn)
        for language, value in (("nb", nb), ("en", en)):
            if not value and (required or nb or en or nn):
                self.problem(f"{stem}_{language}", f"{stem} missing in {_LANGUAGE[language]}")
        return None

    def flag(self, column: str) -> bool:
        value = self.cells.get(column, "")
        if value not in ("", "yes"):
            self.problem(column, f"expected 'yes' or blank, found {value!r}")
        return value == "yes"

    def bound(self, column: str, type_: VariableType) -> Bound | None:
        raw = self.get(column)
        if raw is None:
            return None
        reader = _BOUND_READERS.get(type_)
        if reader is None:
            self.problem(column, f"{column} does not apply to a {type_} variable")
            return None
        try:
            return reader(raw)
        except ValueError:
            self.problem(column, f"{column} {raw!r} is not a {_BOUND_NAMES[type_]}")
            return None

    def expression(self, column: str, text: str | None = None, prefix: str = "") -> Node | None:
        """Parse a logic cell (or one line of it); positions count from the line's start."""
        source = self.get(column) if text is None else text
        if source is None:
            return None
        try:
            return parse(source)
        except ExpressionError as error:
            self.problem(column, prefix + error.message, error.position)
            return None

    def choices(self, type_: VariableType) -> tuple[Choice, ...]:
        """The choices in bokmål and English, and nynorsk when `choices_nn` is given; every
        language lists the same codes in the same order."""
        cells = {c: self.get(c) for c in ("choices_nb", "choices_en", "choices_nn")}
        if type_ not in CHOICE_TYPES:
            for column, value in cells.items():
                if value:
                    self.problem(column, f"{type_} variables have no choices")
            return ()
        lists = {}
        for column, value in cells.items():
            if value:
                lists[column] = self.choice_list(column, value)
            elif column != "choices_nn":
                self.problem(column, f"{type_} variables need choices")
        if "choices_nb" not in lists or "choices_en" not in lists or None in lists.values():
            return ()
        codes = [code for code, _ in lists["choices_nb"] or []]
        for column in ("choices_en", "choices_nn"):
            if column in lists and [code for code, _ in lists[column] or []] != codes:
                self.problem(column, "the codes differ from those of choices_nb")
                return ()
        labels = {column: [label for _, label in items or []] for column, items in lists.items()}
        nynorsk: list[str | None] = [*labels.get("choices_nn", [None] * len(codes))]
        return tuple(
            Choice(code, Text(nb, en, nn))
            for code, nb, en, nn in zip(
                codes, labels["choices_nb"], labels["choices_en"], nynorsk, strict=True
            )
        )

    def choice_list(self, column: str, value: str) -> list[tuple[str, str]] | None:
        items: list[tuple[str, str]] = []
        for number, item in enumerate(value.split("|"), start=1):
            code, comma, label = item.partition(",")
            code, label = code.strip(), label.strip()
            if not comma or not label or not CODE.fullmatch(code):
                self.problem(column, f"choice {number} {item.strip()!r} is not 'code, label'")
                return None
            items.append((code, label))
        codes = [code for code, _ in items]
        duplicates = sorted({code for code in codes if codes.count(code) > 1})
        if duplicates:
            self.problem(column, f"duplicate codes: {', '.join(duplicates)}")
            return None
        return items

    def pattern(self, type_: VariableType) -> str | None:
        pattern = self.get("pattern")
        if pattern is None:
            return None
        if type_ not in ("text", "notes"):
            self.problem("pattern", f"a pattern applies to text and notes, not {type_}")
        try:
            re.compile(pattern)
        except re.error as error:
            self.problem("pattern", f"bad regular expression: {error}", error.pos)
        return pattern

    def validations(self) -> tuple[ValidationRule, ...]:
        """One rule per line: line i of `validation`, `severity` and the messages go together
        (`message_nn` too when given: it is optional, so it may also be left blank)."""
        columns = ("validation", "severity", "message_nb", "message_en", "message_nn")
        lines = {c: self.cells.get(c, "").splitlines() for c in columns}
        rules = lines["validation"]
        for column in columns[1:]:
            if len(lines[column]) != len(rules) and (column != "message_nn" or lines[column]):
                what = "missing" if len(lines[column]) < len(rules) else "given without a rule"
                self.problem(column, f"{column} {what} ({len(rules)} rule(s))")
        result: list[ValidationRule] = []
        for index, rule in enumerate(rules):
            prefix = f"rule {index + 1}: " if len(rules) > 1 else ""
            node = self.expression("validation", rule.strip(), prefix) if rule.strip() else None
            severity, nb, en, nn = (
                lines[c][index].strip() if index < len(lines[c]) else "" for c in columns[1:]
            )
            if severity and severity not in get_args(Severity):
                self.problem(
                    "severity", f"{prefix}unknown severity {severity!r}; use error or warning"
                )
            elif node is not None and severity and nb and en:
                rule_severity = cast(Severity, severity)
                message = Text(nb, en, nn or None)
                result.append(ValidationRule(rule.strip(), node, rule_severity, message))
        return tuple(result)

    def layout(self, type_: VariableType) -> Layout:
        alignment = self.get("alignment")
        if alignment is not None and alignment not in ("LV", "LH", "RV", "RH"):
            self.problem("alignment", f"expected LV, LH, RV or RH, found {alignment!r}")
        redcap_type = self.get("redcap_type")
        if redcap_type is not None and redcap_type not in REDCAP_FIELD_TYPES[type_]:
            allowed = ", ".join(sorted(REDCAP_FIELD_TYPES[type_]))
            self.problem(
                "redcap_type",
                f"a {type_} variable stands for REDCap's {allowed}, not {redcap_type!r}",
            )
        validation = self.get("redcap_validation")
        if validation is not None and not NAME.fullmatch(validation):
            self.problem("redcap_validation", f"bad REDCap validation name {validation!r}")
        return Layout(
            alignment=alignment,
            question_number=self.get("question_number"),
            matrix_group=self.get("matrix_group"),
            matrix_ranking=self.flag("matrix_ranking") if "matrix_ranking" in self.cells else False,
            redcap_type=redcap_type,
            redcap_validation=validation,
            redcap_choices=self.get("redcap_choices"),
        )


_LANGUAGE = {"nb": "bokmål", "en": "English"}
_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")


def _decimal(raw: str) -> float:
    if not _DECIMAL.fullmatch(raw):
        raise ValueError(raw)
    return float(raw)


def _integer(raw: str) -> int:
    if not _INTEGER.fullmatch(raw):
        raise ValueError(raw)
    return int(raw)


_BOUND_READERS: Mapping[str, Callable[[str], Bound]] = {
    "integer": _integer,
    "decimal": _decimal,
    "date": date.fromisoformat,
    "datetime": datetime.fromisoformat,
    "time": time.fromisoformat,
}
_BOUND_NAMES = {
    "integer": "whole number",
    "decimal": "number",
    "date": "date (YYYY-MM-DD)",
    "datetime": "date and time (YYYY-MM-DD HH:MM)",
    "time": "time (HH:MM)",
}


def _above(minimum: Bound, maximum: Bound) -> bool:
    try:
        return bool(minimum > maximum)  # type: ignore[operator]
    except TypeError:
        return False
