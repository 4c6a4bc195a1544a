"""The data dictionary loads strictly: the stroke dictionary is clean, and every kind of
problem in a broken one is reported with its row, column and reason, all at once."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import pytest

from entry.dictionary import (
    COLUMNS,
    LAYOUT_COLUMNS,
    DictionaryError,
    Problem,
    load_dictionary,
    parse_dictionary,
    variable_types,
)

STROKE = Path(__file__).resolve().parents[2] / "registries" / "stroke" / "dictionary.csv"


def row(variable: str, type_: str, **cells: str) -> dict[str, str]:
    return {
        "variable": variable,
        "form": "admission",
        "type": type_,
        "label_nb": f"Etikett {variable}",
        "label_en": f"Label {variable}",
        **cells,
    }


def choices(nb: str, en: str) -> dict[str, str]:
    return {"choices_nb": nb, "choices_en": en}


def rule(expression: str, severity: str = "error") -> dict[str, str]:
    return {
        "validation": expression,
        "severity": severity,
        "message_nb": "Feil",
        "message_en": "Wrong",
    }


# Header is line 1, so the rows below are on lines 2 to 11.
BASE: list[dict[str, str]] = [
    row("admission_date", "date", required="yes"),  # 2
    row("age", "integer", min="0", max="120"),  # 3
    row("sex", "single", **choices("1, Mann | 2, Kvinne", "1, Male | 2, Female")),  # 4
    row("symptoms", "multiple", **choices("1, Lammelse | 2, Tale", "1, Paresis | 2, Speech")),  # 5
    row("treated", "yesno"),  # 6
    row(  # 7
        "treatment_date",
        "date",
        show_if="treated = 1",
        **rule("treatment_date >= admission_date"),
    ),
    row(  # 8
        "days_to_treatment",
        "calculated",
        calculation="datediff(admission_date, treatment_date, 'days')",
    ),
    row("comment", "notes"),  # 9
    row("intro", "descriptive"),  # 10
    row("followup_done", "yesno", form="followup"),  # 11
]


def dictionary_text(rows: list[dict[str, str]], columns: tuple[str, ...] = COLUMNS) -> str:
    output = io.StringIO()
    writer = csv.writer(output, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([r.get(column, "") for column in columns] for r in rows)
    return output.getvalue()


def changed(line: int, **cells: str) -> list[dict[str, str]]:
    """BASE with the cells of the row on CSV line `line` changed."""
    rows = [dict(r) for r in BASE]
    rows[line - 2].update(cells)
    return rows


def problems_of(text: str) -> list[Problem]:
    with pytest.raises(DictionaryError) as error:
        parse_dictionary(text)
    return error.value.problems


# --- the shipped dictionary ----------------------------------------------------------------


def test_the_stroke_dictionary_loads_without_problems() -> None:
    dictionary = load_dictionary(STROKE)
    assert dictionary.forms == ("admission", "discharge", "followup_3m")
    assert len(dictionary.variables) == 60
    sex = dictionary.variable("sex")
    assert [(c.code, c.label.nb, c.label.en) for c in sex.choices] == [
        ("1", "Mann", "Male"),
        ("2", "Kvinne", "Female"),
    ]
    age = dictionary.variable("age")
    assert (age.minimum, age.maximum, age.required) == (18, 110, True)
    assert age.validations[0].severity == "warning"
    assert age.validations[0].message.en.startswith("Age over 100")
    thrombolysis = dictionary.variable("thrombolysis")
    assert thrombolysis.show_if is not None and thrombolysis.show_if_text == "stroke_type = 1"
    assert thrombolysis.section is not None and thrombolysis.section.en == "Acute treatment"
    assert dictionary.variable("glucose_admission").unit == "mmol/L"
    assert dictionary.variable("death_date").annotation is not None
    assert [v.name for v in dictionary.in_form("followup_3m")][:2] == [
        "followup_done",
        "followup_date",
    ]


def test_stroke_variable_types() -> None:
    types = variable_types(load_dictionary(STROKE))
    assert len(types) == 60
    assert types["admission_date"] == "date"
    assert types["arrival_datetime"] == "datetime"
    assert types["age"] == types["glucose_admission"] == types["thrombolysis"] == "number"
    assert types["sex"] == types["stroke_type"] == "number"
    assert types["door_to_needle_minutes"] == "number"  # a calculation giving a number
    assert types["alive_30_days"] == "number"  # a true/false calculation is stored as 1/0


def test_type_mapping_for_every_type() -> None:
    rows = [
        row("t_text", "text"),
        row("t_notes", "notes"),
        row("t_integer", "integer"),
        row("t_decimal", "decimal"),
        row("t_date", "date"),
        row("t_datetime", "datetime"),
        row("t_time", "time"),
        row("t_yesno", "yesno"),
        row("t_single", "single", **choices("1, En | 2, To", "1, One | 2, Two")),
        row("t_letters", "single", **choices("a, En | b, To", "a, One | b, Two")),
        row("t_multiple", "multiple", **choices("1, En", "1, One")),
        row("t_descriptive", "descriptive"),
        row("t_number", "calculated", calculation="t_integer * 2"),
        row("t_condition", "calculated", calculation="t_yesno = 1 and checked(t_multiple, 1)"),
        row("t_latest", "calculated", calculation="max(t_date, t_date)"),
        row("t_chain", "calculated", calculation="t_number + t_condition"),
    ]
    assert variable_types(parse_dictionary(dictionary_text(rows))) == {
        "t_text": "text",
        "t_notes": "text",
        "t_integer": "number",
        "t_decimal": "number",
        "t_date": "date",
        "t_datetime": "datetime",
        "t_time": "time",
        "t_yesno": "number",
        "t_single": "number",
        "t_letters": "text",
        "t_multiple": "codes",
        "t_number": "number",
        "t_condition": "number",
        "t_latest": "date",
        "t_chain": "number",
    }


def test_the_base_of_the_broken_cases_is_valid() -> None:
    dictionary = parse_dictionary(dictionary_text(BASE))
    assert dictionary.forms == ("admission", "followup")
    assert dictionary.variable("admission_date").required


# --- one broken dictionary per kind of problem ---------------------------------------------

CASES: list[tuple[str, list[dict[str, str]], int, str, str, int | None]] = [
    ("unknown type", changed(3, type="number"), 3, "type", "unknown type 'number'", None),
    (
        "duplicate name",
        changed(4, variable="age"),
        4,
        "variable",
        "duplicate name 'age' (first on row 3)",
        None,
    ),
    ("bad name", changed(3, variable="Age"), 3, "variable", "bad variable name 'Age'", None),
    ("keyword as name", changed(3, variable="not"), 3, "variable", "bad variable name", None),
    ("bad form name", changed(3, form="Admission form"), 3, "form", "bad form name", None),
    (
        "unknown variable in logic",
        changed(7, show_if="treated = 1 and agee > 18"),
        7,
        "show_if",
        "unknown variable 'agee'; did you mean 'age'?",
        16,
    ),
    (
        "logic type error",
        changed(7, show_if="treated = 'yes'"),
        7,
        "show_if",
        "cannot compare a number with text",
        8,
    ),
    ("logic syntax error", changed(7, show_if="treated = "), 7, "show_if", "ends too early", 9),
    (
        "show_if not a condition",
        changed(7, show_if="age + 1"),
        7,
        "show_if",
        "expected a condition",
        0,
    ),
    (
        "validation type error",
        changed(7, validation="treatment_date >= age"),
        7,
        "validation",
        "cannot compare a date with a number",
        15,
    ),
    (
        "calculation type error",
        changed(8, calculation="admission_date + 1"),
        8,
        "calculation",
        "'+' needs numbers",
        0,
    ),
    (
        "today() in a calculation",
        changed(8, calculation="datediff(admission_date, today(), 'days')"),
        8,
        "calculation",
        "today() is not allowed here",
        25,
    ),
    (
        "descriptive text in logic",
        changed(7, show_if="treated = 1 and intro = 1"),
        7,
        "show_if",
        "intro is descriptive text and has no value",
        16,
    ),
    (
        "unparseable choice list",
        changed(4, choices_nb="1 Mann | 2, Kvinne"),
        4,
        "choices_nb",
        "choice 1 '1 Mann' is not 'code, label'",
        None,
    ),
    (
        "duplicate choice codes",
        changed(4, choices_nb="1, Mann | 1, Kvinne"),
        4,
        "choices_nb",
        "duplicate codes: 1",
        None,
    ),
    (
        "choice codes differ between languages",
        changed(4, choices_en="1, Male | 3, Female"),
        4,
        "choices_en",
        "the codes differ from those of choices_nb",
        None,
    ),
    (
        "choices on a non-choice type",
        changed(3, choices_nb="1, Ung"),
        3,
        "choices_nb",
        "integer variables have no choices",
        None,
    ),
    (
        "choice type without choices",
        changed(4, choices_en=""),
        4,
        "choices_en",
        "single variables need choices",
        None,
    ),
    ("min above max", changed(3, min="120", max="0"), 3, "min", "min 120 is above max 0", None),
    (
        "min not of the type",
        changed(3, min="ten"),
        3,
        "min",
        "min 'ten' is not a whole number",
        None,
    ),
    (
        "max not a date",
        changed(2, max="2020-13-01"),
        2,
        "max",
        "max '2020-13-01' is not a date (YYYY-MM-DD)",
        None,
    ),
    (
        "bounds on a type without them",
        changed(9, min="1"),
        9,
        "min",
        "min does not apply to a notes variable",
        None,
    ),
    (
        "bad regular expression",
        changed(9, pattern="[0-9"),
        9,
        "pattern",
        "bad regular expression",
        0,
    ),
    (
        "pattern on a non-text type",
        changed(3, pattern="[0-9]+"),
        3,
        "pattern",
        "a pattern applies to text and notes, not integer",
        None,
    ),
    (
        "unknown severity",
        changed(7, severity="fatal"),
        7,
        "severity",
        "unknown severity 'fatal'",
        None,
    ),
    (
        "message missing for a validation",
        changed(7, message_en=""),
        7,
        "message_en",
        "message_en missing (1 rule(s))",
        None,
    ),
    (
        "severity without a rule",
        changed(6, severity="warning"),
        6,
        "severity",
        "severity given without a rule",
        None,
    ),
    (
        "calculation depending on itself",
        changed(8, calculation="days_to_treatment + 1"),
        8,
        "calculation",
        "days_to_treatment depends on itself: days_to_treatment → days_to_treatment",
        None,
    ),
    (
        "show_if on itself",
        changed(6, show_if="treated = 1"),
        6,
        "show_if",
        "treated depends on itself",
        None,
    ),
    (
        "required on a calculated variable",
        changed(8, required="yes"),
        8,
        "required",
        "a calculated variable cannot be required",
        None,
    ),
    (
        "required on descriptive text",
        changed(10, required="yes"),
        10,
        "required",
        "a descriptive variable cannot be required",
        None,
    ),
    ("required not yes", changed(3, required="y"), 3, "required", "expected 'yes' or blank", None),
    ("label missing in English", changed(3, label_en=""), 3, "label_en", "in English", None),
    ("label missing in bokmål", changed(3, label_nb=""), 3, "label_nb", "in bokmål", None),
    ("help in one language", changed(3, help_nb="Hjelp"), 3, "help_en", "help missing", None),
    (
        "calculated without a calculation",
        changed(8, calculation=""),
        8,
        "calculation",
        "a calculated variable needs a calculation",
        None,
    ),
    (
        "calculation on another type",
        changed(3, calculation="1 + 1"),
        3,
        "calculation",
        "only calculated variables have one, not integer",
        None,
    ),
]


@pytest.mark.parametrize(
    ("rows", "line", "column", "reason", "position"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_each_problem_is_reported_with_row_column_and_reason(
    rows: list[dict[str, str]], line: int, column: str, reason: str, position: int | None
) -> None:
    problems = problems_of(dictionary_text(rows))
    assert len(problems) == 1, problems
    (problem,) = problems
    assert (problem.row, problem.column) == (line, column)
    assert reason in problem.reason
    assert problem.position == position
    assert str(problem).startswith(f"row {line}, column {column}")


def test_a_cycle_through_two_variables_is_one_problem() -> None:
    rows = [
        row("score", "calculated", calculation="extra + 1"),
        row("extra", "integer", show_if="score > 2"),
        row("uses_score", "yesno", show_if="score > 1"),
    ]
    problems = problems_of(dictionary_text(rows))
    assert problems == [Problem(2, "calculation", "score depends on itself: score → extra → score")]


def test_show_if_may_name_a_variable_of_a_later_form() -> None:
    rows = changed(6, show_if="isblank(followup_done)")
    assert parse_dictionary(dictionary_text(rows)).variable("treated").show_if is not None


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ((*COLUMNS, "colour"), "unknown column (cell 25)"),
        (COLUMNS[:-2], "required column(s) missing: identifier, annotation"),
        ((*COLUMNS, "variable"), "column given more than once"),
    ],
)
def test_header_problems(header: tuple[str, ...], reason: str) -> None:
    problems = problems_of(dictionary_text(BASE, header))
    assert [(p.row, reason in p.reason) for p in problems] == [(1, True)]


def test_a_row_with_the_wrong_number_of_cells() -> None:
    text = dictionary_text(BASE) + "extra,admission,,\n"
    assert problems_of(text) == [Problem(12, "", "expected 24 cells, found 4")]


def test_rows_count_csv_lines_when_a_cell_spans_lines() -> None:
    rows = changed(3, help_nb="Første linje\nandre linje", help_en="First line\nsecond line")
    rows[2].update(type="number")  # line 6: the row on line 3 takes three lines
    problems = problems_of(dictionary_text(rows))
    assert [(p.row, p.column) for p in problems] == [(6, "type")]


def test_every_problem_of_a_file_is_reported_at_once() -> None:
    rows = [dict(r) for r in BASE]
    rows[1].update(min="120", max="0", label_en="")  # line 3
    rows[2].update(choices_en="1, Male | 3, Female")  # line 4
    rows[5].update(show_if="treatd = 1", severity="fatal")  # line 7
    rows[6].update(calculation="days_to_treatment + 1", required="yes")  # line 8
    rows[8].update(type="descriptive text")  # line 10
    with pytest.raises(DictionaryError) as error:
        parse_dictionary(dictionary_text(rows), source="broken.csv")
    found = [(p.row, p.column) for p in error.value.problems]
    assert found == [
        (3, "label_en"),
        (3, "min"),
        (4, "choices_en"),
        (7, "show_if"),
        (7, "severity"),
        (8, "required"),
        (8, "calculation"),
        (10, "type"),
    ]
    message = str(error.value)
    assert message.startswith("broken.csv: 8 problem(s)")
    assert "row 7, column show_if at position 0: unknown variable 'treatd'" in message


def test_several_validation_rules_one_per_line() -> None:
    rows = changed(
        3,
        validation="age >= 18\nage <= 100",
        severity="error\nwarning",
        message_nb="Voksen\nSjekk alder",
        message_en="Adult\nCheck age",
    )
    age = parse_dictionary(dictionary_text(rows)).variable("age")
    assert [(r.text, r.severity, r.message.en) for r in age.validations] == [
        ("age >= 18", "error", "Adult"),
        ("age <= 100", "warning", "Check age"),
    ]
    rows[1].update(validation="age >= 18\nage <= 'x'")
    (problem,) = problems_of(dictionary_text(rows))
    assert (problem.row, problem.column, problem.position) == (3, "validation", 4)
    assert problem.reason.startswith("rule 2: cannot compare")


def test_bounds_are_read_as_their_type() -> None:
    rows = [
        row("d", "date", min="2020-01-01"),
        row("x", "decimal", min="0.5", max="1e3"),
        row("t", "time", min="08:00", max="16:30"),
    ]
    dictionary = parse_dictionary(dictionary_text(rows))
    assert dictionary.variable("d").minimum == date(2020, 1, 1)
    assert (dictionary.variable("x").minimum, dictionary.variable("x").maximum) == (0.5, 1000.0)
    assert str(dictionary.variable("t").maximum) == "16:30:00"


@pytest.mark.parametrize(
    ("cells", "column", "reason"),
    [
        ({"alignment": "middle"}, "alignment", "expected LV, LH, RV or RH"),
        ({"redcap_type": "checkbox"}, "redcap_type", "REDCap's slider, text, not 'checkbox'"),
        ({"matrix_ranking": "y"}, "matrix_ranking", "expected 'yes' or blank"),
        ({"redcap_validation": "Date YMD"}, "redcap_validation", "bad REDCap validation name"),
    ],
)
def test_layout_columns(cells: dict[str, str], column: str, reason: str) -> None:
    columns = COLUMNS + LAYOUT_COLUMNS
    good = changed(3, redcap_type="slider", alignment="RH", question_number="1a")
    layout = parse_dictionary(dictionary_text(good, columns)).variable("age").layout
    assert (layout.redcap_type, layout.alignment, layout.question_number) == ("slider", "RH", "1a")
    (problem,) = problems_of(dictionary_text(changed(3, **cells), columns))
    assert (problem.row, problem.column) == (3, column)
    assert reason in problem.reason


def test_an_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(DictionaryError, match="cannot read the file"):
        load_dictionary(tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DictionaryError, match="the file is empty"):
        load_dictionary(tmp_path / "empty.csv")
