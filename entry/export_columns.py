"""The columns of an analyst export (uttrekk), and the flat frame that every file format holds.

An export is one row per registration: the registration's own columns (its id, the patient's
pseudonym and birth year, the unit, the event date and the status), then the variables the
analyst chose, in dictionary order. CSV, Excel, SPSS and Stata cannot hold a list in a cell,
so a multiple-choice variable becomes one 0/1 column per choice, named `<variable>___<code>`
as REDCap names its checkbox columns; every format then holds the very same table, and a
file read back can be compared with the source cell by cell.

Only texts that come from the dictionary live here; the names of the registration's own
columns and the words for yes and no are the portal's (translation catalogue).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

import polars as pl

from entry.dictionary_logic import has_number_codes
from entry.dictionary_model import Dictionary, Text, Variable

ColumnKind = Literal["integer", "decimal", "date", "datetime", "time", "text", "code", "checked"]
"""How a column is written: `code` is a number with value labels (yes/no, single choice);
`checked` is a 0/1 column of one choice of a multiple-choice variable."""

CORE_COLUMNS: Final[tuple[tuple[str, ColumnKind], ...]] = (
    ("registration_id", "integer"),
    ("pseudonym", "text"),
    ("birth_year", "integer"),
    ("unit_id", "integer"),
    ("event_date", "date"),
    ("status", "text"),
)
"""The registration's own columns, first in every export. No national id, no birth date."""

CHECKBOX_SEPARATOR: Final = "___"

_KIND_OF_TYPE: Final[dict[str, ColumnKind]] = {
    "integer": "integer",
    "decimal": "decimal",
    "date": "date",
    "datetime": "datetime",
    "time": "time",
    "text": "text",
    "notes": "text",
    "yesno": "code",
}
_KIND_OF_VALUE_TYPE: Final[dict[str, ColumnKind]] = {
    "number": "decimal",
    "text": "text",
    "boolean": "integer",
    "date": "date",
    "datetime": "datetime",
    "time": "time",
}
_NOT_A_NAME = re.compile(r"[^A-Za-z0-9_]")


@dataclass(frozen=True)
class ExportColumn:
    """One column of the file.

    `variable` is the dictionary variable it comes from (None for the registration's own
    columns, whose `label` is then None too). `choices` are the coded values with their
    labels for `code` columns with choices; a yes/no variable has `yes_no` set instead.
    `choice` is the code a `checked` column stands for.
    """

    name: str
    kind: ColumnKind
    variable: str | None = None
    label: Text | None = None
    choices: tuple[tuple[int, Text], ...] = ()
    yes_no: bool = False
    choice: tuple[str, Text] | None = None


def export_columns(dictionary: Dictionary, variables: Iterable[str]) -> tuple[ExportColumn, ...]:
    """The file's columns for the chosen variables, in dictionary order.

    Unknown names and variables without a value (descriptive text) raise `ValueError`; so
    does a variable named like one of the registration's own columns, which would make two
    columns of one name.
    """
    wanted = set(variables)
    known = {v.name for v in dictionary.variables if v.type != "descriptive"}
    unknown = sorted(wanted - known)
    if unknown:
        raise ValueError(f"not variables of the dictionary: {', '.join(unknown)}")
    clashes = sorted(wanted & {name for name, _ in CORE_COLUMNS})
    if clashes:
        raise ValueError(f"variables named like the registration's own columns: {clashes}")
    columns = [ExportColumn(name, kind) for name, kind in CORE_COLUMNS]
    for variable in dictionary.variables:
        if variable.name in wanted:
            columns.extend(_columns_of(variable))
    return tuple(columns)


def _columns_of(variable: Variable) -> list[ExportColumn]:
    if variable.type == "multiple":
        return [
            ExportColumn(
                f"{variable.name}{CHECKBOX_SEPARATOR}{_NOT_A_NAME.sub('_', choice.code)}",
                "checked",
                variable.name,
                variable.label,
                choice=(choice.code, choice.label),
            )
            for choice in variable.choices
        ]
    if variable.type == "single":
        if not has_number_codes(variable):
            return [ExportColumn(variable.name, "text", variable.name, variable.label)]
        choices = tuple((int(float(c.code)), c.label) for c in variable.choices)
        return [ExportColumn(variable.name, "code", variable.name, variable.label, choices)]
    if variable.type == "calculated":
        kind = _KIND_OF_VALUE_TYPE.get(variable.value_type or "number", "decimal")
        return [ExportColumn(variable.name, kind, variable.name, variable.label)]
    kind = _KIND_OF_TYPE[variable.type]
    return [
        ExportColumn(
            variable.name, kind, variable.name, variable.label, yes_no=variable.type == "yesno"
        )
    ]


def flat_frame(typed: pl.DataFrame, columns: Sequence[ExportColumn]) -> pl.DataFrame:
    """The export's table from typed registrations (one column per variable, as the snapshot
    has them, with `registration_id`, `pseudonym` and `birth_year` beside them).

    Multiple-choice lists become 0/1 columns (blank where the question was not answered);
    true/false calculations become 1/0, as the dictionary says they are stored.
    """
    expressions: list[pl.Expr] = []
    for column in columns:
        if column.kind == "checked":
            assert column.variable is not None and column.choice is not None
            source = pl.col(column.variable)
            inner = typed.schema[column.variable]
            code = column.choice[0]
            value = (
                int(float(code))
                if isinstance(inner, pl.List) and inner.inner.is_integer()
                else code
            )
            expressions.append(
                pl.when(source.is_null())
                .then(None)
                .otherwise(source.list.contains(pl.lit(value)).cast(pl.Int64))
                .alias(column.name)
            )
        elif typed.schema[column.name] == pl.Boolean:
            expressions.append(pl.col(column.name).cast(pl.Int64))
        else:
            expressions.append(pl.col(column.name))
    return typed.select(expressions)


def variables_in_forms(dictionary: Dictionary, form: str) -> tuple[str, ...]:
    """The variables of one form that hold a value, in dictionary order (what "all" selects)."""
    return tuple(v.name for v in dictionary.in_form(form) if v.type != "descriptive")
