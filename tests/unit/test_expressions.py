"""The expression language: parsing, precedence, errors with positions, the type check, and
both evaluators on the same cases (issue 4, point 3); also every expression of the stroke
registry's dictionary and indicators. Random cases are in test_expressions_properties.py.
"""

from __future__ import annotations

import csv
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from entry.expressions import (
    Compiled,
    ExpressionError,
    Node,
    ValueType,
    check,
    compile_expression,
    evaluate,
    parse,
    to_polars,
    types_from_schema,
    variables_of,
)
from entry.expressions.nodes import (
    Binary,
    BooleanLiteral,
    Call,
    Membership,
    NumberLiteral,
    TextLiteral,
    Unary,
    Variable,
)

STROKE = Path(__file__).resolve().parents[2] / "registries" / "stroke"

SCHEMA = pl.Schema(
    {
        "age": pl.Int64(),
        "thrombolysis": pl.Int64(),
        "stroke_type": pl.Int64(),
        "glucose": pl.Float64(),
        "admission_date": pl.Date(),
        "discharge_date": pl.Date(),
        "arrival": pl.Datetime("us"),
        "needle": pl.Datetime("us"),
        "clock": pl.Time(),
        "name": pl.String(),
        "flag": pl.Boolean(),
        "alert": pl.Boolean(),
        "symptoms": pl.List(pl.Int64()),
    }
)
TYPES: dict[str, ValueType] = types_from_schema(SCHEMA)


def show(node: Node) -> str:
    """A fully parenthesised form of the tree, to state precedence in one line."""
    if isinstance(node, NumberLiteral | BooleanLiteral):
        return str(node.value).lower()
    if isinstance(node, TextLiteral):
        return repr(node.value)
    if isinstance(node, Variable):
        return node.name
    if isinstance(node, Unary):
        return f"({node.operator} {show(node.operand)})"
    if isinstance(node, Binary):
        return f"({node.operator} {show(node.left)} {show(node.right)})"
    if isinstance(node, Membership):
        word = "not-in" if node.negated else "in"
        return f"({word} {' '.join(show(n) for n in (node.operand, *node.items))})"
    assert isinstance(node, Call)
    return f"({' '.join([node.name, *(show(a) for a in node.arguments)])})"


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("a or b and c", "(or a (and b c))"),
        ("a and b or c", "(or (and a b) c)"),
        ("not a and b", "(and (not a) b)"),
        ("not a = 1", "(not (= a 1))"),
        ("not not a", "(not (not a))"),
        ("a = 1 or b = 2 and c = 3", "(or (= a 1) (and (= b 2) (= c 3)))"),
        ("1 + 2 * 3", "(+ 1 (* 2 3))"),
        ("(1 + 2) * 3", "(* (+ 1 2) 3)"),
        ("10 - 4 - 3", "(- (- 10 4) 3)"),
        ("8 / 4 / 2", "(/ (/ 8 4) 2)"),
        ("8 / 4 * 2", "(* (/ 8 4) 2)"),
        ("-x * 2", "(* (- x) 2)"),
        ("-2 * 3", "(* -2 3)"),
        ("- -2", "2"),
        ("a - -b", "(- a (- b))"),
        ("a + b >= c * 2", "(>= (+ a b) (* c 2))"),
        ("x in (1, 2, 3)", "(in x 1 2 3)"),
        ("x not in (1)", "(not-in x 1)"),
        ("not x in (1)", "(not (in x 1))"),
        ("x in (1, 2) and y", "(and (in x 1 2) y)"),
        ("x != 1", "(<> x 1)"),
        ("x <> 1", "(<> x 1)"),
        ("A AND B Or NOT c", "(or (and A B) (not c))"),
        ("true and False", "(and true false)"),
        ("'it''s'", '"it\'s"'),
        ('"say ""hi"""', "'say \"hi\"'"),
        ("'æøå \"x\"'", "'æøå \"x\"'"),
        ("datediff(a, b, 'days')", "(datediff a b 'days')"),
        ("today()", "(today)"),
        ("min(a, b + 1, 3)", "(min a (+ b 1) 3)"),
        ("2.50", "2.5"),
        ("((a))", "a"),
        ("a\n  and\tb", "(and a b)"),
        ("(a = b) = c", "(= (= a b) c)"),
    ],
)
def test_parse_and_precedence(text: str, tree: str) -> None:
    assert show(parse(text)) == tree


def test_nodes_know_their_positions_and_source() -> None:
    node = parse("thrombolysis = 1 and age >= 18")
    assert isinstance(node, Binary)
    assert (node.position, node.operator_position) == (0, 17)
    assert isinstance(node.right, Binary)
    assert (node.right.position, node.right.operator_position) == (21, 25)
    assert node.source == "thrombolysis = 1 and age >= 18"
    assert node == parse("thrombolysis = 1 and age >= 18")
    assert variables_of(node) == {"thrombolysis", "age"}
    assert variables_of(parse("x in (y, 1) or isblank(z)")) == {"x", "y", "z"}


DEEP = "(" * 60 + "x" + ")" * 60
LONG = " or ".join(["x"] * 150)


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        ("", "the expression is empty", 0),
        ("   ", "the expression is empty", 0),
        ("age >=", "the expression ends too early", 6),
        ("'abc", "unterminated text", 0),
        ("age = 'abc", "unterminated text", 6),
        ("name = \"it's", "unterminated text", 7),
        ("age 18", "unexpected '18' after the end of the expression", 4),
        ("age >= 18 og sex = 1", "unexpected 'og' after the end", 10),
        ("age = 1)", "unexpected ')' after the end", 7),
        ("(age = 1", "expected ')' to close the '(' at position 0", 8),
        ("age = = 1", "unexpected '='", 6),
        ("and x", "unexpected 'and'", 0),
        ("[age] = 1", "square brackets are REDCap syntax", 0),
        ("age == 1", "equality is written with a single '='", 4),
        ("age ! 1", "'not equal' is written '<>' or '!='", 4),
        ("age # 1", "unexpected character '#'", 4),
        ("a & b", "write 'and'", 2),
        ("a || b", "write 'or'", 2),
        ("a < b < c", "comparisons cannot be chained", 6),
        ("a = b in (1)", "comparisons cannot be chained", 6),
        ("x in 1", "expected '(' after 'in'", 5),
        ("x in ()", "expected at least one value", 6),
        ("x not 1", "unexpected 'not' after the end", 2),
        ("f(1,, 2)", "unexpected ','", 4),
        ("f(1 2)", "expected ',' or ')' to close the '(' at position 1", 4),
        ("1 + not x", "put 'not ...' in parentheses", 4),
        ("x.5", "unexpected character '.'", 1),
        ("99999999999999999999", "number too large", 0),
        ("alder_år > 1", "unexpected character 'å'", 6),
        (DEEP, "nested more than 50 levels", 50),
        (LONG, "deeper than 100 levels", 0),
    ],
)
def test_parse_errors_have_message_and_position(text: str, message: str, position: int) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse(text)
    assert message in caught.value.message
    assert caught.value.position == position
    assert caught.value.text == text
    assert isinstance(caught.value, ValueError)


def test_error_text_shows_a_caret_under_the_position() -> None:
    with pytest.raises(ExpressionError) as caught:
        parse("age >= 18 og sex = 1")
    assert str(caught.value) == (
        "unexpected 'og' after the end of the expression (at position 10)\n"
        "    age >= 18 og sex = 1\n"
        "              ^"
    )
    with pytest.raises(ExpressionError) as caught:
        check(parse("stroke_type = 1\nand\tagee > 1"), TYPES)
    assert str(caught.value).splitlines()[1:] == ["    and agee > 1", "        ^"]


@pytest.mark.parametrize(
    ("text", "value_type"),
    [
        ("thrombolysis = 1 and age >= 18", "boolean"),
        ("glucose / 2 + age", "number"),
        ("glucose >= 7", "boolean"),
        ("admission_date <= discharge_date", "boolean"),
        ("admission_date <= needle", "boolean"),
        ("datediff(admission_date, needle, 'minutes')", "number"),
        ("datediff(arrival, needle, 'hours') < 1", "boolean"),
        ("min(admission_date, discharge_date)", "date"),
        ("max(needle)", "datetime"),
        ("min(clock, clock)", "time"),
        ("year(needle) + month(admission_date)", "number"),
        ("isblank(symptoms) or checked(symptoms, 2)", "boolean"),
        ("name in ('a', 'b')", "boolean"),
        ("name < 'b'", "boolean"),
        ("flag = true", "boolean"),
        ("flag <> (age > 3)", "boolean"),
        ("clock < clock", "boolean"),
        ("round(glucose)", "number"),
        ("round(glucose, -2)", "number"),
        ("'a'", "text"),
        ("clock", "time"),
        ("symptoms", "codes"),
    ],
)
def test_type_check_accepts(text: str, value_type: ValueType) -> None:
    assert check(parse(text), TYPES) == value_type


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        ("agee > 1", "unknown variable 'agee'; did you mean 'age'?", 0),
        ("age > 1 and zzz", "unknown variable 'zzz'", 12),
        ("foo(age)", "unknown function 'foo'", 0),
        ("Datediff(arrival, needle, 'days')", "did you mean 'datediff'?", 0),
        ("isblank()", "isblank() takes 1 argument, got 0", 0),
        ("age > 1 and isblank(age, name)", "isblank() takes 1 argument, got 2", 12),
        ("datediff(admission_date, discharge_date)", "takes 3 arguments, got 2", 0),
        ("today(1)", "takes 0 arguments, got 1", 0),
        ("min()", "takes 1 or more arguments, got 0", 0),
        ("round(1, 2, 3)", "takes 1 to 2 arguments, got 3", 0),
        ("admission_date = 1", "cannot compare a date with a number ('=')", 15),
        ("name > 1", "cannot compare text with a number", 5),
        ("age in (1, 'a')", "cannot compare a number with text ('in')", 4),
        ("flag < alert", "'<' cannot order a condition", 5),
        ("symptoms = 1", "cannot compare a multiple-choice field with a number", 9),
        ("symptoms = symptoms", "tested with checked(field, code)", 9),
        ("clock = admission_date", "cannot compare a time of day with a date", 6),
        ("age and thrombolysis", "'and' needs a condition (true/false), not a number", 0),
        ("flag or age", "'or' needs a condition (true/false), not a number", 8),
        ("not age", "'not' needs a condition", 4),
        ("-flag", "'-' needs a number, not a condition", 1),
        ("name + 1", "'+' needs numbers, not text", 0),
        ("discharge_date - admission_date", "use datediff() for time between dates", 0),
        ("datediff(age, discharge_date, 'days')", "datediff() needs a date or a date and time", 9),
        ("datediff(arrival, clock, 'days')", "not a time of day", 18),
        ("datediff(arrival, needle, 'weeks')", "the unit of datediff() must be one of", 26),
        ("datediff(arrival, needle, name)", "the unit of datediff() must be one of", 26),
        ("checked(age, 1)", "checked() needs a multiple-choice field", 8),
        ("checked(symptoms, 1.5)", "must be a whole number", 18),
        ("checked(symptoms, age)", "must be a whole number", 18),
        ("year(age)", "year() needs a date or a date and time, not a number", 5),
        ("month(name)", "month() needs a date", 6),
        ("min(age, admission_date)", "min() of a number needs a number, not a date", 9),
        ("max(name)", "max() needs", 4),
        ("min(admission_date, needle)", "not a date and time", 20),
        ("round(glucose, 1.5)", "digits of round()", 15),
        ("round(glucose, 11)", "from -10 to 10", 15),
        ("round(name)", "round() needs a number", 6),
        ("today() > admission_date", "today() is not allowed here", 0),
    ],
)
def test_type_errors_have_message_and_position(text: str, message: str, position: int) -> None:
    with pytest.raises(ExpressionError) as caught:
        check(parse(text), TYPES)
    assert message in caught.value.message
    assert caught.value.position == position
    assert caught.value.text == text


def test_check_can_demand_a_result_type_and_admit_today() -> None:
    with pytest.raises(ExpressionError, match="expected a condition") as caught:
        check(parse("  age + 1"), TYPES, expect="boolean")
    assert caught.value.position == 2
    assert check(parse("age > 1"), TYPES, expect="boolean") == "boolean"
    assert check(parse("datediff(admission_date, today(), 'days')"), TYPES, allow_today=True)


BLANK: dict[str, Any] = dict.fromkeys(SCHEMA)
D = date
T = datetime

# (expression, record values other than blank, expected value on both evaluators)
EVALUATION_CASES: list[tuple[str, dict[str, Any], object]] = [
    ("thrombolysis = 1", {"thrombolysis": 1}, True),
    ("thrombolysis = 1", {"thrombolysis": 0}, False),
    ("thrombolysis = 1", {}, None),
    ("thrombolysis <> 1", {}, None),
    ("age >= 18 and age <= 80", {"age": 80}, True),
    ("age >= 17.5", {"age": 18}, True),
    ("glucose = 7", {"glucose": 7.0}, True),
    ("glucose < age", {"glucose": 6.5, "age": 7}, True),
    # Kleene logic: false and blank is false; true or blank is true; not blank is blank.
    ("flag and alert", {"flag": True, "alert": True}, True),
    ("flag and alert", {"flag": False}, False),
    ("flag and alert", {"alert": False}, False),
    ("flag and alert", {"flag": True}, None),
    ("flag and alert", {}, None),
    ("flag or alert", {"flag": True}, True),
    ("flag or alert", {"alert": True}, True),
    ("flag or alert", {"flag": False}, None),
    ("flag or alert", {"flag": False, "alert": False}, False),
    ("not flag", {"flag": False}, True),
    ("not flag", {}, None),
    ("stroke_type = 1 and thrombolysis = 0", {"stroke_type": 2}, False),
    ("flag = true", {"flag": True}, True),
    ("flag = (age > 1)", {"flag": False, "age": 0}, True),
    # isblank is never unknown
    ("isblank(age)", {}, True),
    ("isblank(age)", {"age": 0}, False),
    ("not isblank(name)", {"name": ""}, True),
    ("isblank(symptoms)", {"symptoms": []}, False),
    ("isblank(age / 0)", {"age": 3}, True),
    # arithmetic, in floating point; division by zero is blank
    ("age + 1", {"age": 41}, 42.0),
    ("age * glucose - 1", {"age": 2, "glucose": 1.5}, 2.0),
    ("-age", {"age": 3}, -3.0),
    ("age / 4", {"age": 10}, 2.5),
    ("age / 0", {"age": 10}, None),
    ("age / (glucose - 2)", {"age": 10, "glucose": 2.0}, None),
    ("age / 0 > 1", {"age": 10}, None),
    ("age + 1", {}, None),
    # membership
    ("stroke_type in (1, 2)", {"stroke_type": 2}, True),
    ("stroke_type in (1, 2)", {"stroke_type": 3}, False),
    ("stroke_type in (1, 2)", {}, None),
    ("stroke_type not in (1, 2)", {"stroke_type": 3}, True),
    ("stroke_type not in (1, 2)", {}, None),
    ("stroke_type in (1, age)", {"stroke_type": 1}, True),
    ("stroke_type in (1, age)", {"stroke_type": 2}, None),
    ("name in ('a', 'Åse')", {"name": "Åse"}, True),
    # text compares with text only; ordering is by character code
    ("name = 'a'", {"name": "a"}, True),
    ("name < 'b'", {"name": "a"}, True),
    ("name < 'B'", {"name": "a"}, False),
    ("name <> ''", {"name": ""}, False),
    # dates and datetimes; a date is midnight
    (
        "discharge_date >= admission_date",
        {"admission_date": D(2024, 1, 2), "discharge_date": D(2024, 1, 1)},
        False,
    ),
    ("discharge_date >= admission_date", {"admission_date": D(2024, 1, 2)}, None),
    (
        "admission_date < needle",
        {"admission_date": D(2024, 1, 1), "needle": T(2024, 1, 1, 0, 0, 1)},
        True,
    ),
    ("admission_date = needle", {"admission_date": D(2024, 1, 1), "needle": T(2024, 1, 1)}, True),
    ("clock < clock", {"clock": time(10, 30)}, False),
    # datediff: second minus first, whole units truncated toward zero
    (
        "datediff(admission_date, discharge_date, 'days')",
        {"admission_date": D(2024, 1, 1), "discharge_date": D(2024, 1, 11)},
        10,
    ),
    (
        "datediff(discharge_date, admission_date, 'days')",
        {"admission_date": D(2024, 1, 1), "discharge_date": D(2024, 1, 11)},
        -10,
    ),
    (
        "datediff(arrival, needle, 'minutes')",
        {"arrival": T(2024, 1, 1, 10), "needle": T(2024, 1, 1, 10, 39, 59)},
        39,
    ),
    (
        "datediff(needle, arrival, 'minutes')",
        {"arrival": T(2024, 1, 1, 10), "needle": T(2024, 1, 1, 10, 39, 59)},
        -39,
    ),
    (
        "datediff(arrival, needle, 'hours')",
        {"arrival": T(2024, 3, 30, 23), "needle": T(2024, 3, 31, 1, 30)},
        2,
    ),
    (
        "datediff(admission_date, needle, 'hours')",
        {"admission_date": D(2024, 1, 1), "needle": T(2024, 1, 1, 5, 30)},
        5,
    ),
    (
        "datediff(admission_date, needle, 'days')",
        {"admission_date": D(2024, 1, 2), "needle": T(2024, 1, 1, 5, 30)},
        0,
    ),
    (
        "datediff(admission_date, discharge_date, 'years')",
        {"admission_date": D(2000, 2, 29), "discharge_date": D(2001, 2, 28)},
        0,
    ),
    (
        "datediff(admission_date, discharge_date, 'years')",
        {"admission_date": D(2000, 2, 29), "discharge_date": D(2001, 3, 1)},
        1,
    ),
    (
        "datediff(admission_date, discharge_date, 'years')",
        {"admission_date": D(2020, 6, 15), "discharge_date": D(2024, 6, 14)},
        3,
    ),
    (
        "datediff(admission_date, discharge_date, 'years')",
        {"admission_date": D(2020, 6, 15), "discharge_date": D(2024, 6, 15)},
        4,
    ),
    (
        "datediff(discharge_date, admission_date, 'years')",
        {"admission_date": D(2020, 6, 15), "discharge_date": D(2024, 6, 14)},
        -3,
    ),
    (
        "datediff(admission_date, needle, 'years')",
        {"admission_date": D(2020, 6, 15), "needle": T(2021, 6, 15, 0, 0, 1)},
        1,
    ),
    ("datediff(admission_date, discharge_date, 'days')", {"admission_date": D(2024, 1, 1)}, None),
    # other functions
    ("year(admission_date)", {"admission_date": D(2024, 5, 17)}, 2024),
    ("month(needle)", {"needle": T(2024, 5, 17, 8)}, 5),
    ("month(needle)", {}, None),
    ("min(age, glucose)", {"glucose": 4.5}, 4.5),
    ("min(age, glucose)", {"age": 3, "glucose": 4.5}, 3),
    ("max(age, glucose, 10)", {"age": 3}, 10),
    ("min(age, glucose)", {}, None),
    (
        "max(admission_date, discharge_date)",
        {"admission_date": D(2024, 1, 1), "discharge_date": D(2023, 1, 1)},
        D(2024, 1, 1),
    ),
    ("round(glucose)", {"glucose": 2.5}, 3.0),
    ("round(glucose)", {"glucose": -2.5}, -3.0),
    ("round(glucose, 2)", {"glucose": 1.2345}, 1.23),
    ("round(age, -2)", {"age": 1250}, 1300.0),
    ("round(glucose, 1)", {}, None),
    ("checked(symptoms, 2)", {"symptoms": [1, 2]}, True),
    ("checked(symptoms, 3)", {"symptoms": [1, 2]}, False),
    ("checked(symptoms, 2)", {"symptoms": []}, False),
    ("checked(symptoms, 2)", {}, None),
    ("'literal'", {}, "literal"),
]


@pytest.mark.parametrize(("text", "values", "expected"), EVALUATION_CASES)
def test_evaluate_on_one_record(text: str, values: dict[str, Any], expected: object) -> None:
    node = parse(text)
    check(node, TYPES)
    found = evaluate(node, {**BLANK, **values})
    assert found == expected
    assert type(found) is type(expected)


@pytest.mark.parametrize(("text", "values", "expected"), EVALUATION_CASES)
def test_polars_gives_the_same_on_one_row(
    text: str, values: dict[str, Any], expected: object
) -> None:
    frame = pl.DataFrame([{**BLANK, **values}], schema=SCHEMA)
    found = frame.select(to_polars(parse(text)).alias("result")).item()
    assert found == expected
    # Numbers may come back as int or float (polars widens min(int, float)); nothing else may.
    numbers = (int, float)
    if not (type(found) in numbers and type(expected) in numbers):
        assert type(found) is type(expected)


def test_a_missing_name_is_blank_on_a_record() -> None:
    assert evaluate(parse("isblank(age) and not isblank(name)"), {"name": "x"}) is True


def test_polars_decides_membership_on_a_frame() -> None:
    frame = pl.DataFrame(
        {
            "stroke_type": [1, 1, 2, None, 1],
            "age": [70, 85, 60, 50, None],
            "thrombolysis": [1, 0, 0, 1, 1],
        }
    ).lazy()
    compiled = compile_expression("stroke_type = 1 and age <= 80", TYPES, expect="boolean")
    assert isinstance(compiled, Compiled)
    assert compiled.type == "boolean"
    result = frame.with_columns(compiled.expr.alias("eligible")).collect()
    assert result["eligible"].to_list() == [True, False, False, None, None]
    # Where a condition decides membership, unknown counts as false.
    assert result.filter(pl.col("eligible")).height == 1


def test_today_is_given_by_the_caller_never_read_from_a_clock() -> None:
    node = parse("datediff(admission_date, today(), 'days')")
    record = {"admission_date": D(2024, 1, 1)}
    assert evaluate(node, record, today=D(2024, 1, 31)) == 30
    with pytest.raises(ExpressionError, match="today\\(\\) needs the current date"):
        evaluate(node, record)
    with pytest.raises(ExpressionError, match="today\\(\\) needs the current date"):
        to_polars(node)
    compiled = compile_expression(node.source, TYPES, today=D(2024, 1, 31))
    frame = pl.DataFrame({"admission_date": [D(2024, 1, 1)]})
    assert frame.select(compiled.expr).item() == 30
    with pytest.raises(ExpressionError, match="not allowed"):
        compile_expression(node.source, TYPES)


def test_types_from_schema() -> None:
    schema = pl.Schema(
        {
            "a": pl.Int8(),
            "b": pl.UInt32(),
            "c": pl.Float32(),
            "d": pl.Categorical(),
            "e": pl.Datetime("ns", "Europe/Oslo"),
            "f": pl.List(pl.Int32()),
            "g": pl.List(pl.String()),
            "h": pl.Duration(),
        }
    )
    assert types_from_schema(schema) == {
        "a": "number",
        "b": "number",
        "c": "number",
        "d": "text",
        "e": "datetime",
        "f": "codes",
    }
    assert types_from_schema(SCHEMA)["flag"] == "boolean"


def test_narrow_integer_columns_do_not_overflow() -> None:
    frame = pl.DataFrame({"age": pl.Series([100], dtype=pl.Int8)})
    assert frame.select(to_polars(parse("age * age"))).item() == 10_000.0


# --- the stroke registry's own expressions -------------------------------------------------

_DICTIONARY_TYPES: dict[str, ValueType] = {
    "integer": "number",
    "decimal": "number",
    "yesno": "number",
    "single": "number",
    "calculated": "number",
    "date": "date",
    "datetime": "datetime",
    "time": "time",
    "text": "text",
    "notes": "text",
    "multiple": "codes",
}


def _dictionary_rows() -> list[dict[str, str]]:
    with (STROKE / "dictionary.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _registry_types() -> dict[str, ValueType]:
    return {
        row["variable"]: _DICTIONARY_TYPES[row["type"]]
        for row in _dictionary_rows()
        if row["type"] in _DICTIONARY_TYPES
    }


def _dictionary_expressions() -> list[tuple[str, str, str]]:
    return [
        (row["variable"], column, row[column])
        for row in _dictionary_rows()
        for column in ("show_if", "calculation", "validation")
        if row[column].strip()
    ]


def _indicator_expressions() -> list[tuple[str, str, str]]:
    entries = yaml.safe_load((STROKE / "indicators.yaml").read_text(encoding="utf-8"))
    return [
        (entry["key"], key, entry[key])
        for entry in entries
        for key in ("denominator", "numerator", "value")
        if entry.get(key)
    ]


@pytest.mark.parametrize(("variable", "column", "text"), _dictionary_expressions())
def test_stroke_dictionary_expressions_check(variable: str, column: str, text: str) -> None:
    found = check(parse(text), _registry_types())
    if column == "calculation":
        # A calculated field is a number; a condition is stored as 1/0 (alive_30_days).
        assert found in ("number", "boolean"), f"{variable}: {text}"
    else:
        assert found == "boolean", f"{variable}.{column}: {text}"


@pytest.mark.parametrize(("indicator", "key", "text"), _indicator_expressions())
def test_stroke_indicator_expressions_check(indicator: str, key: str, text: str) -> None:
    expect: ValueType = "number" if key == "value" else "boolean"
    assert check(parse(text), _registry_types(), expect=expect)


def test_stroke_expressions_are_all_found() -> None:
    assert len(_dictionary_expressions()) >= 20
    assert len(_indicator_expressions()) >= 10
