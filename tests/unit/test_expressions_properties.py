"""Property tests of the expression language (issue 4, point 3).

1. Random well-typed expressions over a small typed variable set, on random records with
   blanks: `evaluate` on each record equals the polars result on that record's row.
2. Random text and random token soup: the parser (and the checker and both evaluators
   behind it) only ever raise `ExpressionError`.

Derandomized with no example database, so CI sees the same examples on every run.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date, datetime

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from entry.expressions import (
    ExpressionError,
    ValueType,
    check,
    evaluate,
    parse,
    to_polars,
    types_from_schema,
)

SCHEMA = pl.Schema(
    {
        "n": pl.Int64(),
        "x": pl.Float64(),
        "b": pl.Boolean(),
        "s": pl.String(),
        "d": pl.Date(),
        "e": pl.Date(),
        "t": pl.Datetime("us"),
        "clock": pl.Time(),
        "codes": pl.List(pl.Int64()),
    }
)
VARIABLES: dict[str, ValueType] = types_from_schema(SCHEMA)
REPRODUCIBLE = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Values stay small and decimals have three places, so no chain of operations reaches
# infinity or NaN, where IEEE arithmetic and polars' NaN ordering part ways.
_decimals = st.floats(-100, 100, allow_nan=False).map(lambda v: round(v, 3))
_VALUES: dict[str, st.SearchStrategy[object]] = {
    "n": st.integers(-3, 3),
    "x": st.one_of(st.sampled_from([0.0, -0.0, 0.5, 2.0, -1.25]), _decimals),
    "b": st.booleans(),
    "s": st.sampled_from(["", "a", "b", "ab", "Å"]),
    "d": st.dates(date(2019, 1, 1), date(2021, 12, 31)),
    "e": st.dates(date(2019, 12, 25), date(2020, 3, 5)),
    "t": st.datetimes(datetime(2019, 1, 1), datetime(2021, 12, 31)),
    "clock": st.times(),
    "codes": st.lists(st.integers(1, 4), max_size=3),
}
records = st.fixed_dictionaries(
    {name: st.one_of(st.none(), values, values) for name, values in _VALUES.items()}
)

_LEAVES: dict[str, st.SearchStrategy[str]] = {
    "number": st.one_of(
        st.sampled_from(["n", "x", "0", "0.5", "2.25", "10"]), st.integers(-5, 5).map(str)
    ),
    "boolean": st.sampled_from(["b", "true", "false"]),
    "text": st.sampled_from(["s", "'a'", "''", "'b'", "'Å'"]),
    "date": st.sampled_from(["d", "e"]),
    "datetime": st.just("t"),
    "time": st.just("clock"),
    "codes": st.just("codes"),
}
Draw = st.DrawFn


@st.composite
def expressions(draw: Draw, kind: str, depth: int) -> str:
    """Text of a random expression of type `kind`, every compound part in parentheses."""
    if depth == 0 or kind not in _BUILDERS or draw(st.integers(0, 3)) == 0:
        return str(draw(_LEAVES[kind]))
    build = draw(st.sampled_from(_BUILDERS[kind]))
    return str(build(draw, depth - 1))


def _sub(draw: Draw, kind: str, depth: int) -> str:
    return str(draw(expressions(kind, depth)))


def _moment(draw: Draw, depth: int) -> str:
    kind = str(draw(st.sampled_from(["date", "datetime"])))
    return _sub(draw, kind, depth if draw(st.integers(0, 3)) == 0 else 0)


def _arithmetic(draw: Draw, depth: int) -> str:
    operator = draw(st.sampled_from(["+", "-", "*", "/"]))
    return f"({_sub(draw, 'number', depth)} {operator} {_sub(draw, 'number', depth)})"


def _datediff(draw: Draw, depth: int) -> str:
    unit = draw(st.sampled_from(["minutes", "hours", "days", "years"]))
    return f"datediff({_moment(draw, depth)}, {_moment(draw, depth)}, '{unit}')"


def _extreme(kind: str) -> Callable[[Draw, int], str]:
    def build(draw: Draw, depth: int) -> str:
        count = draw(st.integers(1, 3))
        name = draw(st.sampled_from(["min", "max"]))
        return f"{name}({', '.join(_sub(draw, kind, depth) for _ in range(count))})"

    return build


def _round(draw: Draw, depth: int) -> str:
    if draw(st.booleans()):
        return f"round({_sub(draw, 'number', depth)})"
    return f"round({_sub(draw, 'number', depth)}, {draw(st.integers(-2, 3))})"


def _comparison(draw: Draw, depth: int) -> str:
    kind = draw(st.sampled_from(["number", "text", "moment", "time", "boolean"]))
    operators = ["=", "<>", "!="] if kind == "boolean" else ["=", "<>", "!=", "<", "<=", ">", ">="]
    operator = draw(st.sampled_from(operators))
    if kind == "moment":
        return f"({_moment(draw, depth)} {operator} {_moment(draw, depth)})"
    return f"({_sub(draw, kind, depth)} {operator} {_sub(draw, kind, depth)})"


def _logic(draw: Draw, depth: int) -> str:
    operator = draw(st.sampled_from(["and", "or", "AND"]))
    return f"({_sub(draw, 'boolean', depth)} {operator} {_sub(draw, 'boolean', depth)})"


def _membership(draw: Draw, depth: int) -> str:
    kind = draw(st.sampled_from(["number", "text"]))
    items = ", ".join(_sub(draw, kind, 0) for _ in range(draw(st.integers(1, 3))))
    negation = "not " if draw(st.booleans()) else ""
    return f"({_sub(draw, kind, depth)} {negation}in ({items}))"


def _isblank(draw: Draw, depth: int) -> str:
    kind = draw(st.sampled_from(sorted(_LEAVES)))
    return f"isblank({_sub(draw, kind, depth)})"


_BUILDERS: dict[str, list[Callable[[Draw, int], str]]] = {
    "number": [
        _arithmetic,
        _arithmetic,
        _arithmetic,
        _datediff,
        _datediff,
        lambda draw, depth: f"(-{_sub(draw, 'number', depth)})",
        _datediff,
        lambda draw, depth: f"{draw(st.sampled_from(['year', 'month']))}({_moment(draw, depth)})",
        _extreme("number"),
        _round,
    ],
    "boolean": [
        _comparison,
        _comparison,
        _logic,
        _logic,
        lambda draw, depth: f"(not {_sub(draw, 'boolean', depth)})",
        _isblank,
        lambda draw, depth: f"checked(codes, {draw(st.integers(0, 5))})",
        _membership,
    ],
    "date": [_extreme("date")],
    "datetime": [_extreme("datetime")],
    "time": [_extreme("time")],
}
_KINDS = ["boolean"] * 5 + ["number"] * 4 + ["text", "date", "datetime", "time"]


def _same(expected: object, found: object) -> bool:
    if expected is None or found is None:
        return expected is None and found is None
    if isinstance(expected, bool) or isinstance(found, bool):
        return expected is found
    if isinstance(expected, int | float) and isinstance(found, int | float):
        return math.isclose(expected, found, rel_tol=1e-12, abs_tol=1e-12)
    return type(expected) is type(found) and expected == found


@st.composite
def typed_expressions(draw: Draw) -> tuple[str, str]:
    kind = str(draw(st.sampled_from(_KINDS)))
    if kind not in _BUILDERS:
        return kind, str(draw(_LEAVES[kind]))
    build = draw(st.sampled_from(_BUILDERS[kind]))
    return kind, str(build(draw, 3))


@REPRODUCIBLE
@given(case=typed_expressions(), rows=st.lists(records, min_size=1, max_size=8))
def test_record_and_polars_agree_on_every_row(
    case: tuple[str, str], rows: list[dict[str, object]]
) -> None:
    kind, text = case
    node = parse(text)
    assert check(node, VARIABLES) == kind
    frame = pl.DataFrame(rows, schema=SCHEMA)
    found = frame.with_columns(to_polars(node).alias("result"))["result"].to_list()
    for row, value in zip(rows, found, strict=True):
        expected = evaluate(node, row)
        assert _same(expected, value), f"{text} on {row}: record {expected!r}, polars {value!r}"


_SOUP = [
    *VARIABLES,
    "isblank", "datediff", "today", "checked", "year", "month", "min", "max", "round", "foo",
    "and", "or", "not", "in", "true", "false", "AND", "Not",
    "=", "<>", "!=", "<", "<=", ">", ">=", "==", "!", "+", "-", "*", "/", "(", ")", ",",
    "'", '"', "'a'", "'days'", "'years'", "''", "[", "]", ".", "&", "|", "#",
    "0", "1", "2.5", "99999999999999999999", "1e5", "\n", "\t", "æ",
]  # fmt: skip


def _parse_and_use(text: str) -> None:
    """Whatever the text, only `ExpressionError` may come out of the whole pipeline."""
    try:
        node = parse(text)
        check(node, VARIABLES)
    except ExpressionError as error:
        assert 0 <= error.position <= len(text)
        assert str(error)
        return
    evaluate(node, dict.fromkeys(VARIABLES))
    to_polars(node)


@REPRODUCIBLE
@given(text=st.text())
def test_random_text_raises_only_expression_errors(text: str) -> None:
    _parse_and_use(text)


@REPRODUCIBLE
@given(
    tokens=st.lists(st.sampled_from(_SOUP), max_size=25),
    separator=st.sampled_from([" ", ""]),
)
def test_token_soup_raises_only_expression_errors(tokens: list[str], separator: str) -> None:
    _parse_and_use(separator.join(tokens))
