"""Reading import files and their column mappings (pure: no database)."""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path

import polars as pl
import pytest

from entry.dictionary import load_dictionary
from entry.import_mapping import (
    ImportFileError,
    mapped_rows,
    mapping_path,
    read_mapping,
    read_table,
    save_mapping,
    saved_mapping,
)

DICTIONARY = load_dictionary(Path("registries/stroke/dictionary.csv"))
MAPPING = """
source: dips-nord
columns: {Innlagt: admission_date, Alder: age, Ankomst: arrival_datetime}
national_id: Fnr
unit: 100001
source_key: Episode
"""


def test_a_mapping_reads_with_a_fixed_unit_and_round_trips(tmp_path: Path) -> None:
    mapping = read_mapping(MAPPING, DICTIONARY)
    assert mapping.unit_id == 100001 and mapping.unit_column is None
    assert mapping.columns["Alder"] == "age"
    save_mapping(tmp_path, "stroke", mapping)
    assert saved_mapping(tmp_path, "stroke", "dips-nord", DICTIONARY) == mapping


def test_a_bad_mapping_names_every_problem() -> None:
    with pytest.raises(ImportFileError) as caught:
        read_mapping(
            "source: ../etc\ncolumns: {A: nope, B: age, C: age, D: bmi}\nextra: 1\n", DICTIONARY
        )
    text = "\n".join(caught.value.problems)
    for expected in ("unknown key 'extra'", "source:", "unknown variable 'nope'",
                     "'age' is mapped twice", "national_id:", "source_key:", "unit:"):  # fmt: skip
        assert expected in text


def test_source_names_cannot_leave_the_mapping_folder(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError):
        mapping_path(tmp_path, "stroke", "../../secrets")
    with pytest.raises(ImportFileError, match="no saved mapping"):
        saved_mapping(tmp_path, "stroke", "unknown", DICTIONARY)


def test_csv_is_read_as_text_with_either_separator() -> None:
    for content in (b"Fnr;Alder\n01015012345;074\n", "\ufeffFnr,Alder\n01015012345,074\n".encode()):
        frame = read_table(content, "f.csv")
        assert frame.dtypes == [pl.String, pl.String]
        assert frame.row(0) == ("01015012345", "074")


def test_an_unreadable_file_is_refused() -> None:
    with pytest.raises(ImportFileError, match="not UTF-8"):
        read_table(b"\xff\xfe\x00a", "f.csv")
    with pytest.raises(ImportFileError, match="cannot be read"):
        read_table(b"not a workbook", "f.xlsx")


def test_rows_are_numbered_as_a_spreadsheet_and_cells_typed_for_the_rules() -> None:
    mapping = read_mapping(MAPPING, DICTIONARY)
    frame = pl.DataFrame(
        {
            "Episode": [17.0, None],
            "Fnr": [1015012345, None],  # a spreadsheet dropped the leading zero
            "Innlagt": [datetime(2025, 3, 1), None],
            "Alder": [74.0, None],
            "Ankomst": [date(2025, 3, 1), None],
        }
    )
    first, second = mapped_rows(frame, mapping, DICTIONARY)
    assert (first.row, first.source_key, first.national_id, first.unit) == (
        2, "17", "01015012345", "100001",
    )  # fmt: skip
    assert first.values == {
        "admission_date": date(2025, 3, 1),
        "age": 74,
        "arrival_datetime": datetime.combine(date(2025, 3, 1), time()),
    }
    assert (second.row, second.source_key, second.national_id) == (3, "", "")
    assert second.values == {"admission_date": None, "age": None, "arrival_datetime": None}


def test_missing_columns_are_named() -> None:
    mapping = read_mapping(MAPPING, DICTIONARY)
    with pytest.raises(ImportFileError) as caught:
        mapped_rows(pl.DataFrame({"Fnr": ["x"], "Alder": ["1"]}), mapping, DICTIONARY)
    assert set(caught.value.problems) == {
        "the file has no column 'Innlagt'",
        "the file has no column 'Ankomst'",
        "the file has no column 'Episode'",
    }
