"""REDCap data dictionaries: every reference file imports, round-trips field by field, and
logic is translated both ways or refused with its row and reason."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from entry.dictionary import COLUMNS, Dictionary, load_dictionary, parse_dictionary
from entry.expressions import parse
from entry.redcap import (
    REDCAP_COLUMNS,
    RedcapExportError,
    RedcapImportError,
    export_redcap,
    import_redcap,
    read_redcap,
)
from entry.redcap_fields import CHOICES, LOGIC
from entry.redcap_logic import LogicError, from_redcap, to_redcap

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT.parent / "shared" / "reference" / "redcap"
FILES = sorted(REFERENCE.glob("*.csv"))
STROKE = ROOT / "registries" / "stroke" / "dictionary.csv"

# Cells that come back spelt differently (but equal after normalisation), by file.
EXACT_DIFFERENCES: dict[str, list[tuple[str, str]]] = {
    "checkboxes-1.csv": [("check_one", CHOICES), ("check_two", CHOICES)],
    "clinical-trial-1.csv": [],
    "potentially-problematic-dictionary.csv": [],
    "simple.csv": [("bmi", CHOICES)],
    "survey.csv": [],
    "validation-types-1.csv": [("f_calculated", CHOICES)],
}


def reference(path: Path) -> str:
    return path.read_text(encoding="utf-8-sig")


def imported(text: str) -> Dictionary:
    return parse_dictionary(import_redcap(text).text)


def redcap_text(*rows: dict[str, str]) -> str:
    """A REDCap dictionary with a record_id row first (line 2), then `rows` (lines 3, …)."""
    output = io.StringIO()
    writer = csv.writer(output, lineterminator="\n")
    writer.writerow(REDCAP_COLUMNS)
    first = {
        "Variable / Field Name": "record_id",
        "Form Name": "form_1",
        "Field Type": "text",
        "Field Label": "ID",
    }
    for cells in (first, *rows):
        writer.writerow([cells.get(column, "") for column in REDCAP_COLUMNS])
    return output.getvalue()


def field(name: str, field_type: str, **cells: str) -> dict[str, str]:
    return {
        "Variable / Field Name": name,
        "Form Name": "form_1",
        "Field Type": field_type,
        "Field Label": name.title(),
        **{REDCAP_NAMES[key]: value for key, value in cells.items()},
    }


REDCAP_NAMES = {
    "choices": CHOICES,
    "validation": "Text Validation Type OR Show Slider Number",
    "minimum": "Text Validation Min",
    "maximum": "Text Validation Max",
    "logic": LOGIC,
    "annotation": "Field Annotation",
}

KINDS = {
    "sex": "number",
    "age": "number",
    "name": "text",
    "cb": "codes",
    "dob": "date",
    "visit": "date",
    "weight": "number",
    "height": "number",
}
TYPES = {
    "sex": "single",
    "age": "integer",
    "name": "text",
    "cb": "multiple",
    "dob": "date",
    "visit": "date",
    "weight": "integer",
    "height": "decimal",
}


def normalised(column: str, value: str, kinds: dict[str, str]) -> str:
    """The stated normalisation: trimmed cells, choice lists item by item, logic by meaning."""
    value = value.strip()
    if column == LOGIC and value:
        return from_redcap(value, kinds)
    if column == CHOICES and "," in value and "|" in value:
        items = (item.partition(",") for item in value.split("|"))
        return " | ".join(f"{code.strip()}, {label.strip()}" for code, _, label in items)
    if column == CHOICES and value:
        try:
            return from_redcap(value, kinds)  # a calculation
        except LogicError:
            return value
    return value


# --- import -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_reference_dictionary_imports(path: Path) -> None:
    rows = read_redcap(reference(path))
    dictionary = imported(reference(path))
    assert [v.name for v in dictionary.variables] == [r["Variable / Field Name"] for _, r in rows]
    for variable, (_, cells) in zip(dictionary.variables, rows, strict=True):
        assert variable.label.nb == variable.label.en == cells["Field Label"].strip()
        assert variable.form == cells["Form Name"]


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_round_trip_keeps_every_field(path: Path) -> None:
    before = read_redcap(reference(path))
    dictionary = imported(reference(path))
    after = read_redcap(export_redcap(dictionary, "en").text)
    kinds = {
        v.name: ("codes" if v.type == "multiple" else v.value_type or "none")
        for v in dictionary.variables
    }
    assert len(after) == len(before)
    exact: list[tuple[str, str]] = []
    for (_, old), (_, new) in zip(before, after, strict=True):
        for column in REDCAP_COLUMNS:
            assert normalised(column, old[column], kinds) == normalised(column, new[column], kinds)
            if old[column] != new[column]:
                exact.append((old["Variable / Field Name"], column))
    assert exact == EXACT_DIFFERENCES[path.name]


def test_our_format_keeps_what_redcap_needs() -> None:
    dictionary = imported(reference(REFERENCE / "validation-types-1.csv"))
    slider = dictionary.variable("f_slider")
    assert (slider.type, slider.minimum, slider.maximum) == ("integer", -1, 101)
    assert (slider.layout.redcap_type, slider.layout.redcap_choices) == ("slider", "-1 | 50 | 101")
    assert slider.layout.alignment == "RH"
    sql = dictionary.variable("f_sql")
    assert (sql.type, sql.layout.redcap_choices) == ("text", "SELECT 1 as one;")
    signature = dictionary.variable("f_signature")
    assert (signature.layout.redcap_type, signature.layout.redcap_validation) == (
        "file",
        "signature",
    )
    assert dictionary.variable("f_true_false").layout.redcap_type == "truefalse"
    assert dictionary.variable("f_dropdown").layout.redcap_type == "dropdown"
    assert dictionary.variable("f_radio").layout.redcap_type is None  # radio is the default
    assert dictionary.variable("f_calculated").calculation_text == "3 + 4"
    email = dictionary.variable("v_email")
    assert email.pattern is not None and re.fullmatch(email.pattern, "ola@example.no")
    assert not re.fullmatch(email.pattern, "ola at example")


@pytest.mark.parametrize(
    ("validation", "our_type", "kept"),
    [
        ("", "text", None),
        ("integer", "integer", None),
        ("number", "decimal", None),
        ("number_2dp_comma_decimal", "decimal", "number_2dp_comma_decimal"),
        ("date_ymd", "date", None),
        ("date_dmy", "date", "date_dmy"),
        ("datetime_seconds_mdy", "datetime", "datetime_seconds_mdy"),
        ("time", "time", None),
        ("time_hh_mm_ss", "time", "time_hh_mm_ss"),
        ("time_mm_ss", "text", "time_mm_ss"),
        ("email", "text", "email"),
        ("zipcode", "text", "zipcode"),
        ("a_custom_one", "text", "a_custom_one"),
    ],
)
def test_text_validations_become_our_types(validation: str, our_type: str, kept: str) -> None:
    text = redcap_text(field("value", "text", validation=validation))
    variable = imported(text).variable("value")
    assert (variable.type, variable.layout.redcap_validation) == (our_type, kept)


def test_bounds_and_flags() -> None:
    text = redcap_text(
        field("dob", "text", validation="date_ymd", minimum="1900-01-01", maximum="2029-12-31"),
        {**field("name", "text"), "Identifier?": "y", "Required Field?": "y"},
    )
    dictionary = imported(text)
    assert str(dictionary.variable("dob").minimum) == "1900-01-01"
    assert dictionary.variable("name").identifier and dictionary.variable("name").required


# --- logic --------------------------------------------------------------------------------

TRANSLATIONS = [
    ("[sex] = '1'", "sex = 1"),
    ('[sex] = "2"', "sex = 2"),
    ("[age] >= '18'", "age >= 18"),
    ("[name] = 1", "name = '1'"),
    ("[name] = 'Ola'", "name = 'Ola'"),
    ("[cb(2)] = '1'", "checked(cb, 2)"),
    ("[cb(2)] = '0'", "not checked(cb, 2)"),
    ("[cb(2)] <> '1'", "not checked(cb, 2)"),
    ("'1' = [cb(3)]", "checked(cb, 3)"),
    ("[sex] <> '1'", "sex <> 1"),
    ("[sex] != '1'", "sex <> 1"),
    ("[sex] == '1'", "sex = 1"),
    ("[sex] = '1' AND [age] > 17", "sex = 1 and age > 17"),
    ("[sex] = '1' Or [age] > 17", "sex = 1 or age > 17"),
    ("([sex] = '1' or [sex] = '2') and [age] < 80", "(sex = 1 or sex = 2) and age < 80"),
    ("[name] = ''", "isblank(name)"),
    ("[name] <> ''", "not isblank(name)"),
    ("'' <> [age]", "not isblank(age)"),
    ('datediff([dob],[visit],"d") > 30', "datediff(dob, visit, 'days') > 30"),
    ("datediff([dob], 'today', 'y') >= 18", "datediff(dob, today(), 'years') >= 18"),
    ('datediff([dob],[visit],"h","ymd",true) < 1', "datediff(dob, visit, 'hours') < 1"),
    ("datediff([dob],[visit],'m') < 90", "datediff(dob, visit, 'minutes') < 90"),
    ("round(([weight]*10000)/(([height])^(2)),1)", "round(weight * 10000 / (height * height), 1)"),
    ("3+4", "3 + 4"),
    ("[age] - ([age] - 1)", "age - (age - 1)"),
    ("-[age] * 2", "-age * 2"),
    ("[height] > .5", "height > 0.5"),
    ("max([age], 3) + min([weight], 2)", "max(age, 3) + min(weight, 2)"),
]


@pytest.mark.parametrize(("redcap", "ours"), TRANSLATIONS)
def test_logic_translation(redcap: str, ours: str) -> None:
    assert from_redcap(redcap, KINDS) == ours
    parse(ours)  # our language reads what the translation writes
    assert from_redcap(to_redcap(parse(ours), TYPES), KINDS) == ours


@pytest.mark.parametrize(
    ("ours", "redcap"),
    [
        ("sex = 1 and age >= 18", "[sex] = '1' and [age] >= 18"),
        ("checked(cb, 2) and not checked(cb, 3)", "[cb(2)] = '1' and [cb(3)] = '0'"),
        ("not (sex = 1 or age < 18)", "[sex] <> '1' and [age] >= 18"),
        ("not (isblank(name) and age > 1)", "[name] <> '' or [age] <= 1"),
        ("sex in (1, 2)", "[sex] = '1' or [sex] = '2'"),
        ("age > 1 and sex not in (1, 2)", "[age] > 1 and [sex] <> '1' and [sex] <> '2'"),
        ("(sex = 1 or sex = 2) and age > 1", "([sex] = '1' or [sex] = '2') and [age] > 1"),
        ("datediff(dob, today(), 'years') >= 18", "datediff([dob], 'today', 'y') >= 18"),
        ("age - (age - 1) / 2", "[age] - ([age] - 1) / 2"),
        ("name = 'it''s'", '[name] = "it\'s"'),
    ],
)
def test_export_writes_redcap_spelling(ours: str, redcap: str) -> None:
    assert to_redcap(parse(ours), TYPES) == redcap


@pytest.mark.parametrize(
    ("logic", "reason", "position"),
    [
        ("[event_1_arm_1][sex] = '1'", "event and instance references", 0),
        ("[record-name] = '1'", "smart variables", 0),
        ("[sex:value] = 'Male'", "piping modifiers", 0),
        ("if([sex] = '1', 1, 0) = 1", "REDCap's if() has no counterpart", 0),
        ("sum([age], [weight]) > 3", "REDCap's sum() has no counterpart", 0),
        ("datediff([dob], [visit], 'M') > 3", "unit 'M' has no counterpart", 0),
        ("[cb] = '1'", "[cb] is a checkbox", 0),
        ("[cb(a)] = '1'", "checkbox code 'a' is not a whole number", 0),
        ("[cb(1)] = '2'", "can only be compared with '1' or '0'", 8),
        ("[age] > ''", "can only be tested with = or <>", 6),
        ("[nobody] = 1", "unknown field [nobody]", 0),
        ("[age] ^ 0.5 > 1", "only whole powers", 6),
        ("[age] = 1 && [sex] = 1", "unexpected character '&'", 10),
        ("[age] = ", "unexpected the end", 7),
    ],
)
def test_untranslatable_logic_stops_the_import_with_its_row(
    logic: str, reason: str, position: int
) -> None:
    text = redcap_text(
        field("sex", "radio", choices="1, Male | 2, Female"),
        field("age", "text", validation="integer"),
        field("weight", "text", validation="integer"),
        field("dob", "text", validation="date_ymd"),
        field("visit", "text", validation="date_ymd"),
        field("cb", "checkbox", choices="1, A | 2, B"),
        field("shown", "yesno", logic=logic),  # line 9
    )
    with pytest.raises(RedcapImportError) as error:
        import_redcap(text)
    (problem,) = error.value.problems
    assert (problem.row, problem.column, problem.position) == (9, LOGIC, position)
    assert reason in problem.reason


def test_translated_logic_that_fails_our_check_names_the_redcap_row() -> None:
    text = redcap_text(
        field("dob", "text", validation="date_ymd"),
        field("shown", "yesno", logic="[dob] > '2000-01-01'"),
    )
    with pytest.raises(RedcapImportError) as error:
        import_redcap(text)
    (problem,) = error.value.problems
    assert (problem.row, problem.column) == (4, LOGIC)
    assert "cannot compare a date with text" in problem.reason


def test_rows_are_those_of_the_redcap_file_when_a_label_spans_lines() -> None:
    text = redcap_text(
        {**field("dob", "text", validation="date_ymd"), "Field Label": "Date\nof birth"},
        field("shown", "yesno", logic="[dob] > 1"),  # line 5: the label above takes two lines
    )
    with pytest.raises(RedcapImportError) as error:
        import_redcap(text)
    assert [(p.row, p.column) for p in error.value.problems] == [(5, LOGIC)]
    assert "position 4 of our spelling" in error.value.problems[0].reason


def test_every_row_problem_is_reported() -> None:
    text = redcap_text(
        field("a", "signature"),
        {**field("b", "yesno"), "Required Field?": "maybe"},
        field("c", "yesno", logic="[zz] = 1"),
    )
    with pytest.raises(RedcapImportError) as error:
        import_redcap(text)
    assert [(p.row, p.column) for p in error.value.problems] == [
        (3, "Field Type"),
        (4, "Required Field?"),
        (5, LOGIC),
    ]


def test_a_file_that_is_not_a_redcap_dictionary() -> None:
    with pytest.raises(RedcapImportError, match="not REDCap's 18 columns"):
        import_redcap(STROKE.read_text(encoding="utf-8"))
    with pytest.raises(RedcapImportError, match="row 3, column -: expected 18 cells"):
        import_redcap(redcap_text() + "x,form_1,,text\n")


# --- export -------------------------------------------------------------------------------


def test_the_stroke_dictionary_exports_and_comes_back() -> None:
    ours = load_dictionary(STROKE)
    exported = export_redcap(ours, "nb")
    assert any("units left out for 4 variable(s)" in note for note in exported.notes)
    assert any("validation rules" in note for note in exported.notes)
    rows = read_redcap(exported.text)
    by_name = {cells["Variable / Field Name"]: cells for _, cells in rows}
    assert by_name["thrombolysis"][LOGIC] == "[stroke_type] = '1'"
    assert by_name["sex"][CHOICES] == "1, Mann | 2, Kvinne"
    assert by_name["age"]["Text Validation Type OR Show Slider Number"] == "integer"
    assert by_name["alive_30_days"][CHOICES] == (
        "[death_date] = '' or datediff([admission_date], [death_date], 'd') > 30"
    )
    back = imported(exported.text)
    for old, new in zip(ours.variables, back.variables, strict=True):
        assert (new.name, new.type, new.label.nb) == (old.name, old.type, old.label.nb)
        assert (new.show_if_text, new.calculation_text) == (old.show_if_text, old.calculation_text)
        assert (new.minimum, new.maximum, new.required) == (old.minimum, old.maximum, old.required)


@pytest.mark.parametrize(
    ("cells", "column", "reason"),
    [
        ({"show_if": "x = 1 or true"}, "show_if", "true and false have no REDCap spelling"),
        ({"redcap_validation": "email"}, "redcap_validation", "email does not fit a integer"),
    ],
)
def test_export_refuses_what_redcap_cannot_say(
    cells: dict[str, str], column: str, reason: str
) -> None:
    columns = [*COLUMNS, "redcap_validation"]
    x = {"variable": "x", "form": "f", "type": "integer", "label_nb": "X", "label_en": "X"}
    y = {**x, "variable": "y", **cells}
    output = io.StringIO()
    writer = csv.writer(output, lineterminator="\n")
    writer.writerows([columns, *([r.get(c, "") for c in columns] for r in (x, y))])
    with pytest.raises(RedcapExportError) as error:
        export_redcap(parse_dictionary(output.getvalue()))
    (problem,) = error.value.problems
    assert (problem.row, problem.column) == (3, column)
    assert reason in problem.reason


_SOUP = [
    "[sex]", "[age]", "[name]", "[cb(2)]", "[dob]", "[visit]", "[x:value]", "[e][age]",
    "'1'", "'0'", "''", '"d"', "'today'", "'y'", "1", "2.5", ".5", "true",
    "=", "<>", "!=", "<", ">=", "+", "-", "*", "/", "^", "and", "OR", "(", ")", ",",
    "datediff(", "round(", "max(", "if(", "&",
]  # fmt: skip


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(tokens=st.lists(st.sampled_from(_SOUP), max_size=20), separator=st.sampled_from([" ", ""]))
def test_token_soup_is_translated_or_refused(tokens: list[str], separator: str) -> None:
    """Any REDCap text either becomes valid text of our language or raises LogicError, and
    what is translated comes back the same through REDCap's spelling."""
    try:
        ours = from_redcap(separator.join(tokens), KINDS)
    except LogicError:
        return
    node = parse(ours)
    assert from_redcap(to_redcap(node, TYPES), KINDS) == ours
