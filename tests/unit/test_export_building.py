"""The pure parts of an export: its columns, the flat table, the codebook, the request check."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from entry.dictionary import Choice, Text, Variable
from entry.dictionary_model import Dictionary
from entry.export_columns import CORE_COLUMNS, export_columns, flat_frame, variables_in_forms
from entry.registry_folder import read_registry_folder
from portal.export_formats import codebook, csv_chunks
from portal.export_request import RequestProblems, export_query_string, parse_export, subtree
from portal.settings import PROJECT_ROOT

STROKE = read_registry_folder(PROJECT_ROOT / "registries" / "stroke")
UNITS = pl.DataFrame(
    {"unit_id": [1, 2, 3, 4, 5], "parent_id": [None, 1, 2, 2, 1]},
    schema={"unit_id": pl.Int64, "parent_id": pl.Int64},
)
CORE = [name for name, _ in CORE_COLUMNS]


def _choices(*pairs: tuple[str, str]) -> tuple[Choice, ...]:
    return tuple(Choice(code, Text(nb, nb.upper())) for code, nb in pairs)


TINY = Dictionary(
    variables=(
        Variable("score", "visit", 2, "integer", Text("Poeng", "Score")),
        Variable("note", "visit", 3, "descriptive", Text("Merknad", "Note")),
        Variable(
            "symptoms",
            "visit",
            4,
            "multiple",
            Text("Symptomer", "Symptoms"),
            choices=_choices(("1", "hodepine"), ("2", "kvalme")),
        ),
        Variable("smoker", "visit", 5, "yesno", Text("Røyker", "Smoker")),
    ),
    forms=("visit",),
)


def test_columns_put_the_registration_first_and_follow_the_dictionary() -> None:
    columns = export_columns(STROKE.dictionary, ["sex", "age", "admission_date"])
    assert [c.name for c in columns] == [*CORE, "admission_date", "age", "sex"]
    sex = columns[-1]
    assert sex.kind == "code" and [code for code, _ in sex.choices] == [1, 2]
    assert export_columns(STROKE.dictionary, ["thrombolysis"])[-1].yes_no


def test_a_multiple_choice_variable_becomes_one_ticked_column_per_choice() -> None:
    columns = export_columns(TINY, ["symptoms", "score"])
    assert [c.name for c in columns] == [*CORE, "score", "symptoms___1", "symptoms___2"]
    typed = pl.DataFrame(
        {
            "registration_id": [1, 2, 3],
            "pseudonym": ["a", "b", "c"],
            "birth_year": [1950, 1960, 1970],
            "unit_id": [10, 10, 11],
            "event_date": [date(2025, 1, 1)] * 3,
            "status": ["complete"] * 3,
            "score": [3, None, 5],
            "symptoms": [[1], None, [1, 2]],
        },
        schema_overrides={"symptoms": pl.List(pl.Int64)},
    )
    flat = flat_frame(typed, columns)
    assert flat["symptoms___1"].to_list() == [1, None, 1]
    assert flat["symptoms___2"].to_list() == [0, None, 1]
    assert_frame_equal(flat.select(*CORE, "score"), typed.select(*CORE, "score"))


@pytest.mark.parametrize(
    ("names", "reason"),
    [(["nonsense"], "not variables"), (["note"], "not variables")],
)
def test_unknown_and_descriptive_variables_are_refused(names: list[str], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        export_columns(TINY, names)


def test_codebook_labels_in_the_readers_language() -> None:
    entries = codebook(export_columns(TINY, ["symptoms", "smoker"]), "en")
    by_name = {e.name: e for e in entries}
    assert by_name["pseudonym"].label == "Patient pseudonym"
    assert by_name["smoker"].label == "Smoker"
    assert by_name["smoker"].value_labels == ((1, "Yes"), (0, "No"))
    assert by_name["symptoms___2"].label == "Symptoms: KVALME"
    assert codebook(export_columns(TINY, ["smoker"]), "nb")[-1].value_labels == (
        (1, "Ja"),
        (0, "Nei"),
    )


def test_csv_has_one_header_across_batches() -> None:
    first = pl.DataFrame({"a": [1], "d": [date(2025, 3, 1)]})
    text = b"".join(csv_chunks([first, first])).decode()
    assert text == "a,d\n1,2025-03-01\n1,2025-03-01\n"


def test_a_request_parses_into_a_query() -> None:
    fmt, query = parse_export(
        STROKE.dictionary,
        UNITS,
        "sav",
        {
            "variables": "age,sex",
            "units": "2",
            "status": "complete,locked",
            "from": "01.01.2024",
            "to": "2024-12-31",
            "where": "age >= 18 and thrombolysis = 1",
        },
    )
    assert fmt == "sav"
    assert query.variables == ("age", "sex")  # dictionary order
    assert query.unit_ids == {2, 3, 4}  # a unit covers the units below it
    assert query.statuses == {"complete", "locked"}
    assert (query.first_day, query.last_day) == (date(2024, 1, 1), date(2024, 12, 31))
    assert query.where == "age >= 18 and thrombolysis = 1"


@pytest.mark.parametrize(
    ("fmt", "values", "problems"),
    [
        ("csv", {}, {"variables": "export.error.no_variables"}),
        ("csv", {"variables": "age,ghost"}, {"variables": "export.error.unknown_variables"}),
        ("pdf", {"variables": "age"}, {"format": "export.error.bad_format"}),
        ("csv", {"variables": "age", "from": "31.02.2024"}, {"from": "export.error.bad_date"}),
        (
            "csv",
            {"variables": "age", "from": "2024-05-01", "to": "2024-04-01"},
            {"to": "export.error.bad_period"},
        ),
        ("csv", {"variables": "age", "units": "1;DROP"}, {"units": "export.error.bad_units"}),
        ("csv", {"variables": "age", "status": "deleted"}, {"status": "export.error.bad_status"}),
        ("csv", {"variables": "age", "where": "age + 1"}, {"where": "export.error.where"}),
        ("csv", {"variables": ["age"], "where": 17}, {"where": "export.error.where"}),
    ],
)
def test_every_wrong_field_is_named(
    fmt: str, values: dict[str, object], problems: dict[str, str]
) -> None:
    with pytest.raises(RequestProblems) as refused:
        parse_export(STROKE.dictionary, UNITS, fmt, values)
    assert {name: p.key for name, p in refused.value.problems.items()} == problems


def test_an_expression_error_carries_its_position() -> None:
    with pytest.raises(RequestProblems) as refused:
        parse_export(STROKE.dictionary, UNITS, "csv", {"variables": "age", "where": "age >= x"})
    problem = refused.value.problems["where"]
    assert problem.position == 7
    assert problem.values["position"] == 8  # counted from 1 for the reader


def test_the_query_string_round_trips() -> None:
    query = export_query_string(["age", "sex"], [2], ["complete"], "2024-01-01", None, " age > 1 ")
    assert query == {
        "variables": "age,sex",
        "units": "2",
        "status": "complete",
        "from": "2024-01-01",
        "where": "age > 1",
    }
    _fmt, parsed = parse_export(STROKE.dictionary, UNITS, "csv", query)
    assert parsed.variables == ("age", "sex") and parsed.unit_ids == {2, 3, 4}


def test_subtrees() -> None:
    assert subtree(UNITS, [1]) == {1, 2, 3, 4, 5}
    assert subtree(UNITS, [5, 3]) == {3, 5}
    assert subtree(UNITS, [99]) == frozenset()


def test_select_all_means_every_variable_of_the_form_that_holds_a_value() -> None:
    assert variables_in_forms(TINY, "visit") == ("score", "symptoms", "smoker")


def test_documents_decode_alike_on_the_fast_and_the_lenient_path() -> None:
    from data_access.snapshot import column_types, typed_values

    names = ("age", "admission_date", "arrival_datetime", "glucose_admission")
    types = {n: t for n, t in column_types(STROKE.dictionary).items() if n in names}
    documents = [
        '{"age": 70, "admission_date": "2025-01-02", "arrival_datetime": "2025-01-02T03:04"}',
        '{"glucose_admission": 5, "_skipped": ["sex"], "_acknowledged": {"x": 1}}',
        "{}",
    ]
    lenient = [*documents, '{"age": 2.0}']  # a float for an integer: the fast reader refuses

    def typed(values: list[str]) -> pl.DataFrame:
        raw = pl.DataFrame(
            {
                "id": range(len(values)),
                "unit_id": 1,
                "event_date": date(2025, 1, 1),
                "status": "complete",
                "values": values,
            }
        )
        return typed_values(raw, types).select(names)

    expected = pl.DataFrame(
        {
            "admission_date": [date(2025, 1, 2), None, None],
            "arrival_datetime": [datetime(2025, 1, 2, 3, 4), None, None],
            "age": [70, None, None],
            "glucose_admission": [None, 5.0, None],
        },
        schema={
            n: types[n] for n in ("admission_date", "arrival_datetime", "age", "glucose_admission")
        },
    ).select(names)
    assert_frame_equal(typed(documents), expected)
    assert_frame_equal(typed(lenient).head(3), expected)
    assert typed(lenient)["age"].to_list()[-1] == 2
