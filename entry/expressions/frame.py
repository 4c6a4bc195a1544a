"""Compiling an expression to a polars expression: what the indicator engine runs.

The result is a lazy `pl.Expr` over the frame's columns (one per dictionary variable), so a
million registrations are decided in one vectorised pass. Null is blank or unknown, and the
semantics are those of `record.py`, row for row: polars' `&`, `|` and `~` are already
Kleene, comparisons with null are null, and the few places where polars would differ
(division by zero, integer overflow, rounding) are spelt out below.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date

import polars as pl

from entry.expressions.errors import ExpressionError
from entry.expressions.nodes import (
    Binary,
    BooleanLiteral,
    Call,
    Membership,
    Node,
    NumberLiteral,
    TextLiteral,
    Unary,
    Variable,
)
from entry.expressions.syntax import parse
from entry.expressions.types import DATEDIFF_UNITS, ValueType, check

_COMPARE: dict[str, Callable[[pl.Expr, pl.Expr], pl.Expr]] = {
    "=": pl.Expr.eq,
    "<>": pl.Expr.ne,
    "<": pl.Expr.lt,
    "<=": pl.Expr.le,
    ">": pl.Expr.gt,
    ">=": pl.Expr.ge,
}
_MOMENT = pl.Datetime("us")


@dataclass(frozen=True)
class Compiled:
    """A checked expression, ready for both evaluators."""

    node: Node
    type: ValueType
    expr: pl.Expr


def compile_expression(
    text: str,
    variables: Mapping[str, ValueType],
    *,
    expect: ValueType | None = None,
    today: date | None = None,
) -> Compiled:
    """Parse, check and compile in one step; `today` admits `today()` (form logic only)."""
    node = parse(text)
    value_type = check(node, variables, expect=expect, allow_today=today is not None)
    return Compiled(node, value_type, to_polars(node, today=today))


def to_polars(node: Node, *, today: date | None = None) -> pl.Expr:
    """The polars expression of a checked tree; null where `evaluate` gives None."""
    try:
        return _Compiler(today).expr(node)
    except ExpressionError as error:
        raise error.with_text(node.source) from None


def _number(expr: pl.Expr) -> pl.Expr:
    # Arithmetic runs in Float64 on both sides, so narrow integer columns cannot overflow
    # and `record.py`'s Python floats give bit-identical results.
    return expr.cast(pl.Float64)


def _null_float() -> pl.Expr:
    return pl.lit(None, dtype=pl.Float64)


class _Compiler:
    def __init__(self, today: date | None) -> None:
        self.today = today

    def expr(self, node: Node) -> pl.Expr:
        if isinstance(node, NumberLiteral):
            dtype = pl.Int64 if isinstance(node.value, int) else pl.Float64
            return pl.lit(node.value, dtype=dtype)
        if isinstance(node, TextLiteral):
            return pl.lit(node.value, dtype=pl.String)
        if isinstance(node, BooleanLiteral):
            return pl.lit(node.value, dtype=pl.Boolean)
        if isinstance(node, Variable):
            return pl.col(node.name)
        if isinstance(node, Unary):
            operand = self.expr(node.operand)
            return ~operand if node.operator == "not" else -_number(operand)
        if isinstance(node, Binary):
            return self.binary(node)
        if isinstance(node, Membership):
            operand = self.expr(node.operand)
            equalities = [operand.eq(self.expr(item)) for item in node.items]
            found = pl.any_horizontal(equalities) if len(equalities) > 1 else equalities[0]
            return ~found if node.negated else found
        if isinstance(node, Call):
            return self.call(node)
        raise TypeError(f"not an expression node: {node!r}")

    def binary(self, node: Binary) -> pl.Expr:
        left, right = self.expr(node.left), self.expr(node.right)
        if node.operator == "and":
            return left & right
        if node.operator == "or":
            return left | right
        if node.operator in _COMPARE:
            return _COMPARE[node.operator](left, right)
        first, second = _number(left), _number(right)
        if node.operator == "+":
            return first + second
        if node.operator == "-":
            return first - second
        if node.operator == "*":
            return first * second
        return pl.when(second == 0).then(_null_float()).otherwise(first / second)

    def call(self, node: Call) -> pl.Expr:
        arguments = node.arguments
        if node.name == "today":
            if self.today is None:
                raise ExpressionError("today() needs the current date to be given", node.position)
            return pl.lit(self.today, dtype=pl.Date)
        if node.name == "datediff":
            unit = arguments[2]
            assert isinstance(unit, TextLiteral)
            return _datediff(self.expr(arguments[0]), self.expr(arguments[1]), unit.value)
        if node.name == "checked":
            code = arguments[1]
            assert isinstance(code, NumberLiteral)
            return self.expr(arguments[0]).list.contains(pl.lit(code.value, dtype=pl.Int64))
        values = [self.expr(argument) for argument in arguments]
        if node.name == "isblank":
            return values[0].is_null()
        if node.name == "min":
            return pl.min_horizontal(values)
        if node.name == "max":
            return pl.max_horizontal(values)
        if node.name == "year":
            return values[0].dt.year().cast(pl.Int64)
        if node.name == "month":
            return values[0].dt.month().cast(pl.Int64)
        if node.name == "round":
            digits = arguments[1] if len(arguments) == 2 else NumberLiteral(0, 0)
            assert isinstance(digits, NumberLiteral)
            return _round_half_away(_number(values[0]), int(digits.value))
        raise ExpressionError(f"unknown function '{node.name}'", node.position)


def _datediff(first: pl.Expr, second: pl.Expr, unit: str) -> pl.Expr:
    start, end = first.cast(_MOMENT), second.cast(_MOMENT)
    if unit == "years":
        forward = _whole_years(start, end)
        return pl.when(end < start).then(-_whole_years(end, start)).otherwise(forward)
    microseconds = (end - start).dt.total_microseconds()
    whole = microseconds.abs() // DATEDIFF_UNITS[unit]
    return pl.when(microseconds >= 0).then(whole).otherwise(-whole)


def _whole_years(start: pl.Expr, end: pl.Expr) -> pl.Expr:
    """Full anniversaries from `start` to `end`, as `record._whole_years` counts them."""
    years = end.dt.year().cast(pl.Int64) - start.dt.year().cast(pl.Int64)
    end_month, start_month = end.dt.month(), start.dt.month()
    end_day, start_day = end.dt.day(), start.dt.day()
    before_anniversary = (end_month < start_month) | (
        (end_month == start_month)
        & ((end_day < start_day) | ((end_day == start_day) & (end.dt.time() < start.dt.time())))
    )
    return years - before_anniversary.cast(pl.Int64)


def _round_half_away(value: pl.Expr, digits: int) -> pl.Expr:
    factor = 10.0**digits
    rounded = (value.abs() * factor + 0.5).floor() / factor
    return pl.when(value < 0).then(-rounded).otherwise(rounded)
