"""The data dictionary (variabeloversikt): `registries/<key>/dictionary.csv` as typed objects.

One CSV row describes one variable: its form and section, type, labels and help in bokmål and
English, choices, bounds, pattern, show-if logic, calculation and validation rules. The
columns are documented in docs/dictionary.md. Loading is strict and complete: every problem
of a file is collected and reported at once, each with its CSV line, column and reason, so a
registry never starts with a dictionary that a form or an indicator would trip over later.
The objects live in `entry.dictionary_model`, the checks of one row in
`entry.dictionary_rows`, and the checks that span rows in `entry.dictionary_logic`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

from entry.dictionary_logic import check_logic
from entry.dictionary_model import (
    CHOICE_TYPES,
    COLUMNS,
    LAYOUT_COLUMNS,
    NYNORSK_COLUMNS,
    REDCAP_FIELD_TYPES,
    VARIABLE_TYPES,
    Bound,
    Choice,
    Dictionary,
    DictionaryError,
    Layout,
    Problem,
    Severity,
    Text,
    ValidationRule,
    Variable,
    VariableType,
    variable_types,
)
from entry.dictionary_rows import RowReader

__all__ = [
    "CHOICE_TYPES",
    "COLUMNS",
    "LAYOUT_COLUMNS",
    "NYNORSK_COLUMNS",
    "REDCAP_FIELD_TYPES",
    "VARIABLE_TYPES",
    "Bound",
    "Choice",
    "Dictionary",
    "DictionaryError",
    "Layout",
    "Problem",
    "Severity",
    "Text",
    "ValidationRule",
    "Variable",
    "VariableType",
    "csv_records",
    "load_dictionary",
    "parse_dictionary",
    "variable_types",
]


def load_dictionary(path: Path) -> Dictionary:
    """Read and check a dictionary file; `DictionaryError` lists every problem."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise DictionaryError(
            [Problem(0, "", f"cannot read the file: {error}")], str(path)
        ) from error
    return parse_dictionary(text, source=str(path))


def parse_dictionary(text: str, source: str = "dictionary") -> Dictionary:
    """Check a dictionary given as CSV text; pure, so tests and importers can use it directly."""
    problems: list[Problem] = []
    records = list(csv_records(text))
    if not records:
        raise DictionaryError([Problem(1, "", "the file is empty")], source)
    header = records[0][1]
    columns = _check_header(header, problems)
    if problems:
        raise DictionaryError(problems, source)
    variables: list[Variable] = []
    named: set[str] = set()
    for line, cells in records[1:]:
        if len(cells) != len(columns):
            problems.append(Problem(line, "", f"expected {len(columns)} cells, found {len(cells)}"))
            continue
        row = dict(zip(columns, cells, strict=True))
        named.add(row["variable"].strip())
        variable = RowReader(line, row, problems).read()
        if variable is not None:
            variables.append(variable)
    _check_names(variables, problems)
    checked = check_logic(variables, problems, unresolved=named - {v.name for v in variables})
    if problems:
        raise DictionaryError(sorted(problems, key=_problem_order), source)
    forms = tuple(dict.fromkeys(v.form for v in checked))
    return Dictionary(variables=tuple(checked), forms=forms, columns=columns)


def csv_records(text: str) -> Iterator[tuple[int, list[str]]]:
    """CSV records with the line each starts on; a cell may span lines. Blank lines are skipped."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    start = 1
    for record in reader:
        if record:
            yield start, record
        start = reader.line_num + 1


def _problem_order(problem: Problem) -> tuple[int, int, int]:
    column = COLUMNS.index(problem.column) if problem.column in COLUMNS else len(COLUMNS)
    return problem.row, column, problem.position or 0


def _check_header(header: list[str], problems: list[Problem]) -> tuple[str, ...]:
    names = [cell.strip() for cell in header]
    missing = [column for column in COLUMNS if column not in names]
    if missing:
        problems.append(Problem(1, "", f"required column(s) missing: {', '.join(missing)}"))
    for position, column in enumerate(names):
        if column not in (*COLUMNS, *LAYOUT_COLUMNS, *NYNORSK_COLUMNS):
            problems.append(Problem(1, column, f"unknown column (cell {position + 1})"))
        elif names.count(column) > 1 and names.index(column) == position:
            problems.append(Problem(1, column, "column given more than once"))
    return tuple(names)


def _check_names(variables: list[Variable], problems: list[Problem]) -> None:
    first_row: dict[str, int] = {}
    for variable in variables:
        if variable.name in first_row:
            problems.append(
                Problem(
                    variable.row,
                    "variable",
                    f"duplicate name {variable.name!r} (first on row {first_row[variable.name]})",
                )
            )
        else:
            first_row[variable.name] = variable.row
