"""Evaluating an expression on one record: what a form does as the user types.

A record maps variable names to Python values: int or float for numbers (yes/no and
single-choice fields are their codes), str, bool, `date`, `datetime`, `time`, and a list of
codes for multiple choice. None, or a missing name, is a blank. A blank makes comparisons,
arithmetic and most functions unknown (None); `and`/`or`/`not` follow Kleene's three-valued
logic; `isblank()` is never unknown. `frame.py` must give the same answer on every row,
which the property tests check: arithmetic is done in floating point here exactly as polars
does it, so the two agree to the last bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from datetime import date, datetime, time, timedelta

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
from entry.expressions.types import DATEDIFF_UNITS

Value = object | None

_COMPARE: dict[str, Callable[[object, object], bool]] = {
    "=": lambda a, b: a == b,
    "<>": lambda a, b: a != b,
    "<": lambda a, b: a < b,  # type: ignore[operator]
    "<=": lambda a, b: a <= b,  # type: ignore[operator]
    ">": lambda a, b: a > b,  # type: ignore[operator]
    ">=": lambda a, b: a >= b,  # type: ignore[operator]
}
_ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
}
_MICROSECOND = timedelta(microseconds=1)


def evaluate(node: Node, record: Mapping[str, object], *, today: date | None = None) -> Value:
    """The value of a checked expression on one record; None means blank or unknown.

    `today` is the date `today()` stands for; form logic passes it, nothing else may.
    """
    try:
        return _Evaluator(record, today).value(node)
    except ExpressionError as error:
        raise error.with_text(node.source) from None


def kleene_and(left: Value, right: Value) -> bool | None:
    if left is False or right is False:
        return False
    return None if left is None or right is None else True


def kleene_or(left: Value, right: Value) -> bool | None:
    if left is True or right is True:
        return True
    return None if left is None or right is None else False


def compare(operator: str, left: Value, right: Value) -> bool | None:
    """`left operator right`, unknown with a blank; a date meets a datetime as its midnight."""
    if left is None or right is None:
        return None
    left, right = _as_moment(left, right), _as_moment(right, left)
    return _COMPARE[operator](left, right)


def _as_moment(value: object, other: object) -> object:
    if isinstance(other, datetime) and isinstance(value, date) and not isinstance(value, datetime):
        return datetime.combine(value, time())
    return value


def _midnight(value: object) -> datetime:
    if isinstance(value, datetime):
        return value
    assert isinstance(value, date)
    return datetime.combine(value, time())


def datediff(first: Value, second: Value, unit: str) -> int | None:
    """`second − first` in whole units, truncated toward zero; years are full anniversaries."""
    if first is None or second is None:
        return None
    start, end = _midnight(first), _midnight(second)
    if unit == "years":
        if end < start:
            return -_whole_years(end, start)
        return _whole_years(start, end)
    microseconds = (end - start) // _MICROSECOND
    whole = abs(microseconds) // DATEDIFF_UNITS[unit]
    return whole if microseconds >= 0 else -whole


def _whole_years(start: datetime, end: datetime) -> int:
    years = end.year - start.year
    if (end.month, end.day, end.time()) < (start.month, start.day, start.time()):
        years -= 1
    return years


def round_half_away(value: float, digits: int) -> float:
    """Round half away from zero, by the same float steps the polars compilation takes."""
    factor = 10.0**digits
    scaled = abs(value) * factor + 0.5
    floored = float(math.floor(scaled)) if math.isfinite(scaled) else scaled
    rounded = floored / factor
    return -rounded if value < 0 else rounded


class _Evaluator:
    def __init__(self, record: Mapping[str, object], today: date | None) -> None:
        self.record = record
        self.today = today

    def value(self, node: Node) -> Value:
        if isinstance(node, NumberLiteral | TextLiteral | BooleanLiteral):
            return node.value
        if isinstance(node, Variable):
            return self.record.get(node.name)
        if isinstance(node, Unary):
            operand = self.value(node.operand)
            if operand is None:
                return None
            return (not operand) if node.operator == "not" else -float(operand)  # type: ignore[arg-type]
        if isinstance(node, Binary):
            return self.binary(node)
        if isinstance(node, Membership):
            operand = self.value(node.operand)
            found: bool | None = False
            for item in node.items:
                found = kleene_or(found, compare("=", operand, self.value(item)))
            return (None if found is None else not found) if node.negated else found
        if isinstance(node, Call):
            return self.call(node)
        raise TypeError(f"not an expression node: {node!r}")

    def binary(self, node: Binary) -> Value:
        left, right = self.value(node.left), self.value(node.right)
        if node.operator == "and":
            return kleene_and(left, right)
        if node.operator == "or":
            return kleene_or(left, right)
        if node.operator in _COMPARE:
            return compare(node.operator, left, right)
        if left is None or right is None:
            return None
        first, second = float(left), float(right)  # type: ignore[arg-type]
        if node.operator == "/":
            return None if second == 0 else first / second
        return _ARITHMETIC[node.operator](first, second)

    def call(self, node: Call) -> Value:
        arguments = node.arguments
        if node.name == "today":
            if self.today is None:
                raise ExpressionError("today() needs the current date to be given", node.position)
            return self.today
        if node.name == "datediff":
            unit = arguments[2]
            assert isinstance(unit, TextLiteral)
            return datediff(self.value(arguments[0]), self.value(arguments[1]), unit.value)
        if node.name == "checked":
            return self.checked(arguments[0], arguments[1])
        values = [self.value(argument) for argument in arguments]
        if node.name == "isblank":
            return values[0] is None
        if node.name in ("min", "max"):
            present = [v for v in values if v is not None]
            pick = min if node.name == "min" else max
            return pick(present) if present else None  # type: ignore[type-var]
        if values[0] is None:
            return None
        if node.name in ("year", "month"):
            moment = values[0]
            assert isinstance(moment, date)
            return moment.year if node.name == "year" else moment.month
        if node.name == "round":
            digits = values[1] if len(values) == 2 else 0
            return round_half_away(float(values[0]), int(digits))  # type: ignore[arg-type, call-overload]
        raise ExpressionError(f"unknown function '{node.name}'", node.position)

    def checked(self, field: Node, code: Node) -> bool | None:
        codes = self.value(field)
        wanted = self.value(code)
        if codes is None or wanted is None:
            return None
        assert isinstance(codes, Collection)
        return wanted in codes
