"""REDCap data dictionaries: import into our format and export back to REDCap's 18 columns.

Many Norwegian registries and research groups keep their forms in REDCap, so a dictionary
must move both ways without losing a field. REDCap has one language: an import puts its
texts in both bokmål and English. Field types without a counterpart here (file, sql, slider)
become the nearest of ours, with what REDCap needs to recreate them kept in the optional
`redcap_*` columns, so REDCap → ours → REDCap gives back every field (docs/dictionary.md
lists the mapping and what each direction cannot carry). Logic is translated by
`entry.redcap_logic`; what cannot be translated stops the import with its row and reason.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time

from entry.dictionary import (
    COLUMNS,
    LAYOUT_COLUMNS,
    Bound,
    Dictionary,
    DictionaryError,
    Problem,
    Variable,
    csv_records,
    parse_dictionary,
)
from entry.dictionary_logic import BASE_TYPES, is_number_code
from entry.expressions import Node
from entry.redcap_fields import (
    ALIGNMENT,
    ANNOTATION,
    CANONICAL_VALIDATIONS,
    CHOICES,
    FIELD_TYPE,
    FIELDS_OF_TYPES,
    FORM,
    IDENTIFIER,
    LABEL,
    LOGIC,
    LOSSY_FIELDS,
    MATRIX,
    MAXIMUM,
    MINIMUM,
    NAME,
    NOTE,
    OUR_COLUMN_IN_REDCAP,
    QUESTION,
    RANKING,
    REDCAP_COLUMNS,
    REQUIRED,
    SECTION,
    TYPES_OF_FIELDS,
    VALIDATION,
    VALIDATIONS,
)
from entry.redcap_logic import LogicError, from_redcap, to_redcap

__all__ = [
    "REDCAP_COLUMNS",
    "Conversion",
    "RedcapError",
    "RedcapExportError",
    "RedcapImportError",
    "export_redcap",
    "import_redcap",
    "read_redcap",
]


class RedcapError(ValueError):
    """A REDCap dictionary that cannot be converted; `problems` lists every row and reason."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(map(str, problems)))


class RedcapImportError(RedcapError):
    """Rows and columns are those of the REDCap file."""


class RedcapExportError(RedcapError):
    """Rows and columns are those of our dictionary file."""


@dataclass(frozen=True)
class Conversion:
    """A converted dictionary as CSV text, with what the other format could not carry."""

    text: str
    notes: tuple[str, ...]


def read_redcap(text: str) -> list[tuple[int, dict[str, str]]]:
    """The rows of a REDCap dictionary with their CSV line numbers; the header must be REDCap's."""
    records = list(csv_records(text))
    if not records:
        raise RedcapImportError([Problem(1, "", "the file is empty")])
    header = tuple(cell.strip() for cell in records[0][1])
    if header != REDCAP_COLUMNS:
        missing = [c for c in REDCAP_COLUMNS if c not in header]
        reason = f"not REDCap's 18 columns (missing: {', '.join(missing) or 'none'}; order matters)"
        raise RedcapImportError([Problem(1, "", reason)])
    problems = [
        Problem(line, "", f"expected 18 cells, found {len(cells)}")
        for line, cells in records[1:]
        if len(cells) != len(REDCAP_COLUMNS)
    ]
    if problems:
        raise RedcapImportError(problems)
    return [(line, dict(zip(REDCAP_COLUMNS, cells, strict=True))) for line, cells in records[1:]]


def import_redcap(text: str) -> Conversion:
    """Our dictionary (CSV text, every optional column) from a REDCap data dictionary."""
    rows = read_redcap(text)
    kinds = {row[NAME].strip(): _kind(row) for _, row in rows}
    problems: list[Problem] = []
    ours = [_our_row(line, row, kinds, problems) for line, row in rows]
    if problems:
        raise RedcapImportError(problems)
    output = io.StringIO()
    writer = csv.writer(output, lineterminator="\n")
    writer.writerow(COLUMNS + LAYOUT_COLUMNS)
    writer.writerows([row.get(column, "") for column in COLUMNS + LAYOUT_COLUMNS] for row in ours)
    result = output.getvalue()
    try:
        parse_dictionary(result, source="imported REDCap dictionary")
    except DictionaryError as error:
        ours_lines = [line for line, _ in csv_records(result)][1:]
        where = dict(zip(ours_lines, (line for line, _ in rows), strict=True))
        raise RedcapImportError([_in_redcap_terms(p, where) for p in error.problems]) from None
    return Conversion(result, _import_notes([row for _, row in rows]))


def _in_redcap_terms(problem: Problem, where: Mapping[int, int]) -> Problem:
    """A problem of the converted dictionary, placed at the REDCap row and column it came from."""
    ours = f"our column {problem.column}"
    if problem.position is not None:
        ours += f", position {problem.position} of our spelling"
    return Problem(
        where.get(problem.row, problem.row),
        OUR_COLUMN_IN_REDCAP.get(problem.column, problem.column),
        f"{problem.reason} ({ours})",
    )


def _import_notes(rows: list[dict[str, str]]) -> tuple[str, ...]:
    """What the import could not carry fully, for the operator to read."""
    notes = ["REDCap has one language: its texts are copied into both bokmål and English"]
    for row in rows:
        name, field_type, validation = row[NAME], row[FIELD_TYPE], row[VALIDATION]
        if field_type in LOSSY_FIELDS:
            notes.append(f"{name}: {LOSSY_FIELDS[field_type]}")
        if field_type != "text" or not validation:
            continue
        if validation not in VALIDATIONS:
            notes.append(f"{name}: validation {validation} is kept but not checked")
        elif VALIDATIONS[validation][1]:
            notes.append(f"{name}: validation {validation} is checked by an approximate pattern")
        elif "dp" in validation:
            notes.append(f"{name}: validation {validation}: the decimals are not enforced")
    if any(row[ANNOTATION].lstrip().startswith("@") for row in rows):
        notes.append("action tags (@...) in Field Annotation are kept but have no effect here")
    return tuple(notes)


def _kind(row: Mapping[str, str]) -> str:
    """The value type a REDCap field has in logic, before anything is translated."""
    field_type, validation = row[FIELD_TYPE].strip(), row[VALIDATION].strip()
    if field_type in ("dropdown", "radio"):
        codes = [item.partition(",")[0].strip() for item in row[CHOICES].split("|")]
        return "number" if all(map(is_number_code, codes)) else "text"
    if field_type == "calc":
        return "number"
    if field_type == "text":
        return BASE_TYPES[VALIDATIONS.get(validation, ("text", None))[0]]
    return BASE_TYPES.get(TYPES_OF_FIELDS.get(field_type, ""), "none")


def _our_row(
    line: int, row: Mapping[str, str], kinds: Mapping[str, str], problems: list[Problem]
) -> dict[str, str]:
    cell = {column: value.strip() for column, value in row.items()}
    field_type, validation = cell[FIELD_TYPE], cell[VALIDATION]
    if field_type == "text":
        our_type, pattern = VALIDATIONS.get(validation, ("text", None))
        kept_validation = (
            validation if validation != CANONICAL_VALIDATIONS.get(our_type, "") else ""
        )
    elif field_type in TYPES_OF_FIELDS:
        our_type, pattern, kept_validation = TYPES_OF_FIELDS[field_type], None, validation
    else:
        problems.append(Problem(line, FIELD_TYPE, f"unknown REDCap field type {field_type!r}"))
        return {}
    ours = {
        "variable": cell[NAME],
        "form": cell[FORM],
        "section_nb": cell[SECTION],
        "section_en": cell[SECTION],
        "type": our_type,
        "label_nb": cell[LABEL],
        "label_en": cell[LABEL],
        "help_nb": cell[NOTE],
        "help_en": cell[NOTE],
        "min": cell[MINIMUM],
        "max": cell[MAXIMUM],
        "pattern": pattern or "",
        "identifier": _flag(line, IDENTIFIER, cell[IDENTIFIER], problems),
        "required": _flag(line, REQUIRED, cell[REQUIRED], problems),
        "annotation": cell[ANNOTATION],
        "alignment": cell[ALIGNMENT],
        "question_number": cell[QUESTION],
        "matrix_group": cell[MATRIX],
        "matrix_ranking": _flag(line, RANKING, cell[RANKING], problems),
        "redcap_type": field_type if FIELDS_OF_TYPES[our_type] != field_type else "",
        "redcap_validation": kept_validation,
    }
    if our_type in ("single", "multiple"):
        ours["choices_nb"] = ours["choices_en"] = _choices(cell[CHOICES])
    elif our_type == "calculated":
        ours["calculation"] = _translate(line, CHOICES, cell[CHOICES], kinds, problems)
    else:
        ours["redcap_choices"] = cell[CHOICES]
    if cell[LOGIC]:
        ours["show_if"] = _translate(line, LOGIC, cell[LOGIC], kinds, problems)
    return ours


def _translate(
    line: int, column: str, text: str, kinds: Mapping[str, str], problems: list[Problem]
) -> str:
    try:
        return from_redcap(text, kinds)
    except LogicError as error:
        problems.append(Problem(line, column, error.message, error.position))
        return ""


def _flag(line: int, column: str, value: str, problems: list[Problem]) -> str:
    if value.lower() not in ("", "y"):
        problems.append(Problem(line, column, f"expected y or blank, found {value!r}"))
    return "yes" if value.lower() == "y" else ""


def _choices(text: str) -> str:
    """REDCap's `1, One|2, Two` in our spelling `1, One | 2, Two`; odd lists are left as they
    are for the dictionary check to report."""
    items = [item.strip() for item in text.split("|")]
    if not all("," in item for item in items):
        return text
    parts = [item.partition(",") for item in items]
    return " | ".join(f"{code.strip()}, {label.strip()}" for code, _, label in parts)


def export_redcap(dictionary: Dictionary, language: str = "nb") -> Conversion:
    """REDCap's 18 columns for our dictionary, with its texts in one language."""
    types = {variable.name: variable.type for variable in dictionary.variables}
    problems: list[Problem] = []
    rows = [_redcap_row(variable, language, types, problems) for variable in dictionary.variables]
    if problems:
        raise RedcapExportError(problems)
    output = io.StringIO()
    writer = csv.writer(output, lineterminator="\n")
    writer.writerow(REDCAP_COLUMNS)
    writer.writerows([row[column] for column in REDCAP_COLUMNS] for row in rows)
    other = "English" if language == "nb" else "bokmål"
    notes = [f"REDCap has one language: the {other} texts are left out"]
    variables = dictionary.variables
    for what, names in (
        ("units", [v.name for v in variables if v.unit]),
        (
            "validation rules (REDCap keeps only min and max)",
            [v.name for v in variables if v.validations],
        ),
        ("patterns", [v.name for v in variables if v.pattern and _pattern_lost(v)]),
    ):
        if names:
            notes.append(f"{what} left out for {len(names)} variable(s): {', '.join(names)}")
    return Conversion(output.getvalue(), tuple(notes))


def _pattern_lost(variable: Variable) -> bool:
    validation = variable.layout.redcap_validation
    return validation is None or VALIDATIONS.get(validation, ("", None))[1] != variable.pattern


def _redcap_row(
    variable: Variable, language: str, types: Mapping[str, str], problems: list[Problem]
) -> dict[str, str]:
    layout = variable.layout
    field_type = layout.redcap_type or FIELDS_OF_TYPES[variable.type]
    validation = layout.redcap_validation or ""
    if field_type == "text" and not validation:
        validation = CANONICAL_VALIDATIONS.get(variable.type, "")
    if (
        field_type == "text"
        and validation
        and VALIDATIONS.get(validation, ("text", None))[0] != variable.type
    ):
        problems.append(
            Problem(
                variable.row,
                "redcap_validation",
                f"{validation} does not fit a {variable.type} variable",
            )
        )
    choices = layout.redcap_choices or ""
    if variable.choices:
        choices = " | ".join(f"{c.code}, {c.label.in_language(language)}" for c in variable.choices)
    if variable.calculation is not None:
        choices = _logic(variable, "calculation", variable.calculation, types, problems)
    logic = ""
    if variable.show_if is not None:
        logic = _logic(variable, "show_if", variable.show_if, types, problems)
    return {
        NAME: variable.name,
        FORM: variable.form,
        SECTION: variable.section.in_language(language) if variable.section else "",
        FIELD_TYPE: field_type,
        LABEL: variable.label.in_language(language),
        CHOICES: choices,
        NOTE: variable.help.in_language(language) if variable.help else "",
        VALIDATION: validation,
        MINIMUM: _bound_text(variable.minimum, validation),
        MAXIMUM: _bound_text(variable.maximum, validation),
        IDENTIFIER: "y" if variable.identifier else "",
        LOGIC: logic,
        REQUIRED: "y" if variable.required else "",
        ALIGNMENT: layout.alignment or "",
        QUESTION: layout.question_number or "",
        MATRIX: layout.matrix_group or "",
        RANKING: "y" if layout.matrix_ranking else "",
        ANNOTATION: variable.annotation or "",
    }


def _logic(
    variable: Variable, column: str, node: Node, types: Mapping[str, str], problems: list[Problem]
) -> str:
    try:
        return to_redcap(node, types)
    except LogicError as error:
        problems.append(Problem(variable.row, column, error.message, error.position))
        return ""


def _bound_text(bound: Bound | None, validation: str) -> str:
    """A bound as REDCap writes it: dates Y-M-D, times to the minute unless seconds are kept."""
    seconds = "seconds" in validation or validation == "time_hh_mm_ss"
    if bound is None:
        return ""
    if isinstance(bound, datetime):
        shown = bound.strftime("%Y-%m-%d %H:%M:%S" if seconds or bound.second else "%Y-%m-%d %H:%M")
        return shown
    if isinstance(bound, date):
        return bound.isoformat()
    if isinstance(bound, time):
        return bound.strftime("%H:%M:%S" if seconds or bound.second else "%H:%M")
    if isinstance(bound, float) and bound.is_integer():
        return str(int(bound))
    return str(bound)
