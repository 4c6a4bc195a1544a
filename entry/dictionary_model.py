"""The data dictionary's objects: what one row of `dictionary.csv` becomes once it is checked.

Forms, validation, the engine's typed columns and the codebook read these frozen objects,
never the CSV. `entry.dictionary` reads a file into them; docs/dictionary.md documents every
column.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Literal, get_args

from entry.expressions import Node, ValueType

COLUMNS: tuple[str, ...] = (
    "variable", "form", "section_nb", "section_en", "type", "label_nb", "label_en",
    "help_nb", "help_en", "unit", "choices_nb", "choices_en", "min", "max", "pattern",
    "required", "show_if", "calculation", "validation", "severity", "message_nb",
    "message_en", "identifier", "annotation",
)  # fmt: skip
"""The columns every dictionary has, in this order."""

LAYOUT_COLUMNS: tuple[str, ...] = (
    "alignment", "question_number", "matrix_group", "matrix_ranking",
    "redcap_type", "redcap_validation", "redcap_choices",
)  # fmt: skip
"""Optional columns after the others: REDCap's layout and what keeps a REDCap round trip whole."""

NYNORSK_COLUMNS: tuple[str, ...] = (
    "section_nn", "label_nn", "help_nn", "choices_nn", "message_nn",
)  # fmt: skip
"""Optional nynorsk twins of the bokmål text columns. Registry dictionaries may leave them out
(readers then see bokmål); a patient questionnaire needs them, since patients choose nynorsk."""

VariableType = Literal[
    "text", "integer", "decimal", "date", "datetime", "time", "yesno", "single", "multiple",
    "calculated", "notes", "descriptive",
]  # fmt: skip
VARIABLE_TYPES: tuple[VariableType, ...] = get_args(VariableType)
CHOICE_TYPES = frozenset({"single", "multiple"})
Severity = Literal["error", "warning"]
Bound = int | float | date | datetime | time

REDCAP_FIELD_TYPES: Mapping[str, frozenset[str]] = {
    "text": frozenset({"text", "file", "sql"}),
    "notes": frozenset({"notes"}),
    "integer": frozenset({"text", "slider"}),
    "decimal": frozenset({"text"}),
    "date": frozenset({"text"}),
    "datetime": frozenset({"text"}),
    "time": frozenset({"text"}),
    "yesno": frozenset({"yesno", "truefalse"}),
    "single": frozenset({"radio", "dropdown"}),
    "multiple": frozenset({"checkbox"}),
    "calculated": frozenset({"calc"}),
    "descriptive": frozenset({"descriptive"}),
}
"""The REDCap field types that each of our types can stand for (`redcap_type`)."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a dictionary: CSV line (header = 1), column and reason."""

    row: int
    column: str
    reason: str
    position: int | None = None
    """0-based character offset in the cell, for logic."""

    def __str__(self) -> str:
        where = f" at position {self.position}" if self.position is not None else ""
        return f"row {self.row}, column {self.column or '-'}{where}: {self.reason}"


class DictionaryError(ValueError):
    """A dictionary that cannot be used; `problems` lists every problem of the file."""

    def __init__(self, problems: list[Problem], source: str = "dictionary") -> None:
        self.problems = problems
        self.source = source
        super().__init__(f"{source}: {len(problems)} problem(s)\n" + "\n".join(map(str, problems)))


@dataclass(frozen=True)
class Text:
    """A user-facing text in bokmål and English, and optionally nynorsk (bokmål stands in)."""

    nb: str
    en: str
    nn: str | None = None

    def in_language(self, language: str) -> str:
        if language == "en":
            return self.en
        if language == "nn" and self.nn is not None:
            return self.nn
        return self.nb


@dataclass(frozen=True)
class Choice:
    code: str
    label: Text


@dataclass(frozen=True)
class ValidationRule:
    """A rule a value must satisfy: an error blocks completion, a warning must be acknowledged."""

    text: str
    expression: Node
    severity: Severity
    message: Text


@dataclass(frozen=True)
class Layout:
    """REDCap's layout columns and the REDCap spellings our types cannot carry themselves."""

    alignment: str | None = None
    question_number: str | None = None
    matrix_group: str | None = None
    matrix_ranking: bool = False
    redcap_type: str | None = None
    redcap_validation: str | None = None
    redcap_choices: str | None = None


@dataclass(frozen=True)
class Variable:
    """One field of the dictionary (variabel). `value_type` is None only for descriptive text."""

    name: str
    form: str
    row: int
    type: VariableType
    label: Text
    section: Text | None = None
    help: Text | None = None
    unit: str | None = None
    choices: tuple[Choice, ...] = ()
    minimum: Bound | None = None
    maximum: Bound | None = None
    pattern: str | None = None
    required: bool = False
    show_if: Node | None = None
    show_if_text: str | None = None
    calculation: Node | None = None
    calculation_text: str | None = None
    validations: tuple[ValidationRule, ...] = ()
    identifier: bool = False
    annotation: str | None = None
    layout: Layout = field(default_factory=Layout)
    value_type: ValueType | None = None


@dataclass(frozen=True)
class Dictionary:
    variables: tuple[Variable, ...]
    forms: tuple[str, ...]
    """Form keys in the order their first variable appears."""
    columns: tuple[str, ...] = COLUMNS

    def variable(self, name: str) -> Variable:
        for variable in self.variables:
            if variable.name == name:
                return variable
        raise KeyError(name)

    def in_form(self, form: str) -> tuple[Variable, ...]:
        return tuple(v for v in self.variables if v.form == form)


def variable_types(dictionary: Dictionary) -> dict[str, ValueType]:
    """The expression-language type of every variable that holds a value."""
    return {v.name: v.value_type for v in dictionary.variables if v.value_type is not None}
