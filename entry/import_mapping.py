"""Reading an import file and its column mapping: from a hospital system's export to raw rows.

A mapping says which column of the file holds which dictionary variable, where the
patient's national id, the unit and the row's own key in the source system are, and names
the source (the outside system). It is written as YAML::

    source: dips-nord            # names the outside system; letters, digits, - and _
    columns:                     # file column: dictionary variable
      Innleggelsesdato: admission_date
      Alder: age
    national_id: Fødselsnummer   # column with the national id
    unit: ReshId                 # column with the unit id, or a fixed unit id (100001)
    source_key: Episode          # column with the row's key in the source system

Nothing here writes or checks values: a row comes out as raw text (or the cell's own date
or number in a spreadsheet), and `entry.record_rules.check_values` judges it exactly as it
judges a form. Rows are numbered as a spreadsheet shows them: the header is row 1.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Final

import polars as pl
import yaml

from entry.dictionary_model import Dictionary
from entry.record_rules import INPUT_FREE_TYPES

SOURCE_NAME: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
"""Source names are file names too (a saved mapping per source), so they are kept plain."""
EXCEL_SUFFIXES: Final = frozenset({".xlsx", ".xlsm"})
MAPPING_KEYS: Final = frozenset({"source", "columns", "national_id", "unit", "source_key"})


class ImportFileError(ValueError):
    """The mapping or the file cannot be used at all; `problems` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)


@dataclass(frozen=True)
class ImportMapping:
    source: str
    columns: Mapping[str, str]
    """File column → dictionary variable."""
    national_id_column: str
    source_key_column: str
    unit_column: str | None = None
    unit_id: int | None = None
    """A fixed unit for every row, when the file has no unit column."""

    def as_mapping(self) -> dict[str, object]:
        """The YAML form (see the module docstring), for saving the mapping per source."""
        return {
            "source": self.source,
            "columns": dict(self.columns),
            "national_id": self.national_id_column,
            "unit": self.unit_column if self.unit_column is not None else self.unit_id,
            "source_key": self.source_key_column,
        }

    def column_of(self, field: str) -> str | None:
        """The file column a row problem's field was read from: a variable's or a key's
        column; None for a fixed unit or a field no column holds (a record's status)."""
        keys = {
            "national_id": self.national_id_column,
            "source_key": self.source_key_column,
            "unit": self.unit_column,
        }
        if field in keys:
            return keys[field]
        return next((column for column, name in self.columns.items() if name == field), None)


@dataclass(frozen=True)
class SourceRow:
    """One data row of the file, mapped: `values` by variable, raw as read."""

    row: int
    source_key: str
    national_id: str
    unit: str
    values: Mapping[str, object]


def parse_mapping(data: object, dictionary: Dictionary) -> ImportMapping:
    """A mapping read from YAML, checked against the dictionary; every problem is named."""
    if not isinstance(data, Mapping):
        raise ImportFileError(["the mapping must be a YAML mapping (key: value lines)"])
    problems = [f"unknown key {key!r} in the mapping" for key in data if key not in MAPPING_KEYS]
    source = str(data.get("source") or "")
    if not SOURCE_NAME.fullmatch(source):
        problems.append("source: a name of lower-case letters, digits, - and _ is needed")
    columns = data.get("columns")
    if not isinstance(columns, Mapping) or not columns:
        problems.append("columns: a mapping of file column to dictionary variable is needed")
        columns = {}
    mapped: dict[str, str] = {}
    for column, variable in columns.items():
        name = str(variable)
        try:
            kind = dictionary.variable(name).type
        except KeyError:
            problems.append(f"columns: {column!r} maps to unknown variable {name!r}")
            continue
        if kind in INPUT_FREE_TYPES:
            problems.append(f"columns: {column!r} maps to {name!r}, which takes no input")
        if name in mapped.values():
            problems.append(f"columns: variable {name!r} is mapped twice")
        mapped[str(column)] = name
    names = {}
    for key in ("national_id", "source_key"):
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{key}: the name of a column is needed")
        names[key] = str(value or "")
    unit = data.get("unit")
    unit_column, unit_id = None, None
    if isinstance(unit, int) and not isinstance(unit, bool):
        unit_id = unit
    elif isinstance(unit, str) and unit.strip():
        unit_column = unit
    else:
        problems.append("unit: a column name or a fixed unit id is needed")
    if problems:
        raise ImportFileError(problems)
    return ImportMapping(
        source=source,
        columns=mapped,
        national_id_column=names["national_id"],
        source_key_column=names["source_key"],
        unit_column=unit_column,
        unit_id=unit_id,
    )


def read_mapping(text: str, dictionary: Dictionary) -> ImportMapping:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ImportFileError([f"the mapping is not valid YAML: {error}"]) from None
    return parse_mapping(data, dictionary)


def mapping_yaml(mapping: ImportMapping) -> str:
    return yaml.safe_dump(mapping.as_mapping(), allow_unicode=True, sort_keys=False)


def read_table(content: bytes, filename: str, sheet: str | None = None) -> pl.DataFrame:
    """The file as a frame: CSV (UTF-8, `,` or `;`) as text, Excel with its cells' own types.

    CSV is read as text throughout, so "007" stays "007" and the rules read each value by the
    variable's type. Excel needs openpyxl (a runtime requirement).
    """
    suffix = Path(filename).suffix.lower()
    try:
        if suffix in EXCEL_SUFFIXES:
            return pl.read_excel(
                io.BytesIO(content),
                sheet_name=sheet,
                engine="openpyxl",
            )
        text = content.decode("utf-8-sig")
        first_line = text.split("\n", 1)[0]
        separator = ";" if first_line.count(";") > first_line.count(",") else ","
        return pl.read_csv(
            io.StringIO(text),
            separator=separator,
            infer_schema=False,
        )
    except UnicodeDecodeError:
        raise ImportFileError(["the CSV file is not UTF-8 text"]) from None
    # An .xlsx is a zip of XML parts: a damaged one fails in zipfile or with a missing part.
    except (pl.exceptions.PolarsError, ValueError, OSError, zipfile.BadZipFile, KeyError) as error:
        raise ImportFileError([f"the file cannot be read: {error}"]) from None


def mapped_rows(
    frame: pl.DataFrame, mapping: ImportMapping, dictionary: Dictionary
) -> list[SourceRow]:
    """Each data row with its values under variable names; missing columns are refused."""
    needed = [*mapping.columns, mapping.national_id_column, mapping.source_key_column]
    if mapping.unit_column is not None:
        needed.append(mapping.unit_column)
    missing = [column for column in dict.fromkeys(needed) if column not in frame.columns]
    if missing:
        raise ImportFileError([f"the file has no column {column!r}" for column in missing])
    kinds = {column: dictionary.variable(name).type for column, name in mapping.columns.items()}
    rows = []
    for index, record in enumerate(frame.iter_rows(named=True)):
        unit = (
            str(mapping.unit_id)
            if mapping.unit_column is None
            else _text(record[mapping.unit_column])
        )
        rows.append(
            SourceRow(
                row=index + 2,
                source_key=_text(record[mapping.source_key_column]),
                national_id=_national_id(record[mapping.national_id_column]),
                unit=unit,
                values={
                    variable: _cell(record[column], kinds[column])
                    for column, variable in mapping.columns.items()
                },
            )
        )
    return rows


def _cell(value: object, kind: str = "text") -> object:
    """A spreadsheet's cell as the rules read input; text cells pass through untouched.

    Spreadsheets type dates as date-times and whole numbers as floats, so a date at
    midnight becomes a date for a date variable, a date a midnight for a date-time
    variable, a whole float an int, and any date or time is ISO text for a text variable.
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, date | time):
        return value
    if kind in ("text", "notes"):
        return value.isoformat(" ") if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, datetime):
        return value.date() if kind == "date" and value.time() == time() else value
    if isinstance(value, date) and kind == "datetime":
        return datetime.combine(value, time())
    return value


def _text(value: object) -> str:
    """Key columns as text; a spreadsheet's number 100001.0 is the id 100001."""
    cell = _cell(value)
    return "" if cell is None else str(cell).strip()


def _national_id(value: object) -> str:
    """A spreadsheet may hold the id as a number and drop its leading zero: put it back."""
    cell = _cell(value)
    return f"{cell:011d}" if isinstance(cell, int) and not isinstance(cell, bool) else _text(cell)


def mapping_path(directory: Path, registry_key: str, source: str) -> Path:
    """Where a source's mapping is kept: `<directory>/<registry>/<source>.yaml`."""
    if not SOURCE_NAME.fullmatch(source) or not SOURCE_NAME.fullmatch(registry_key):
        raise ImportFileError([f"{source!r} is not a source name"])
    return directory / registry_key / f"{source}.yaml"


def save_mapping(directory: Path, registry_key: str, mapping: ImportMapping) -> Path:
    """Keep the mapping for its source, so the next import of that source needs only its name."""
    path = mapping_path(directory, registry_key, mapping.source)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(mapping_yaml(mapping), encoding="utf-8")
    return path


def saved_sources(directory: Path, registry_key: str) -> list[str]:
    """The sources that have a saved mapping in the registry, by name."""
    if not SOURCE_NAME.fullmatch(registry_key):
        return []
    found = (directory / registry_key).glob("*.yaml")
    return sorted(path.stem for path in found if SOURCE_NAME.fullmatch(path.stem))


def saved_mapping(
    directory: Path, registry_key: str, source: str, dictionary: Dictionary
) -> ImportMapping:
    path = mapping_path(directory, registry_key, source)
    if not path.exists():
        raise ImportFileError([f"no saved mapping for source {source!r} (give --mapping once)"])
    return read_mapping(path.read_text(encoding="utf-8"), dictionary)
