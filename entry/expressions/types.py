"""The type check: an expression against the types of the dictionary's variables.

Checking happens when a dictionary or indicator file is loaded, so a misspelt variable or a
date compared with a number stops start-up with its position, instead of silently counting
nobody. yes/no and single-choice fields are numbers (their codes), as in REDCap, so
`thrombolysis = 1` is well typed.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Literal

import polars as pl

from entry.expressions.errors import ExpressionError
from entry.expressions.nodes import (
    ARITHMETIC,
    LOGICAL,
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

ValueType = Literal["number", "text", "boolean", "date", "datetime", "time", "codes"]

DATEDIFF_UNITS: dict[str, int] = {
    "minutes": 60_000_000,
    "hours": 3_600_000_000,
    "days": 86_400_000_000,
    "years": 0,  # whole calendar years, counted by anniversaries (see record.py and frame.py)
}
"""Units of `datediff` and their length in microseconds."""

ARITY: dict[str, tuple[int, int | None]] = {
    "isblank": (1, 1),
    "datediff": (3, 3),
    "today": (0, 0),
    "checked": (2, 2),
    "year": (1, 1),
    "month": (1, 1),
    "min": (1, None),
    "max": (1, None),
    "round": (1, 2),
}
"""The functions of the language with their fewest and most arguments (None: no limit)."""

MAX_ROUND_DIGITS = 10

_WORDS: dict[str, str] = {
    "number": "a number",
    "text": "text",
    "boolean": "a condition (true/false)",
    "date": "a date",
    "datetime": "a date and time",
    "time": "a time of day",
    "codes": "a multiple-choice field",
}
_MOMENTS = frozenset({"date", "datetime"})
_ORDERED = frozenset({"number", "text", "date", "datetime", "time"})


def describe(value_type: ValueType) -> str:
    """A value type in words, for messages."""
    return _WORDS[value_type]


def check(
    node: Node,
    variables: Mapping[str, ValueType],
    *,
    expect: ValueType | None = None,
    allow_today: bool = False,
) -> ValueType:
    """The type of the expression; unknown names and type errors raise `ExpressionError`.

    `expect` demands a result type (a show-if, denominator or numerator must be a condition);
    `allow_today` admits `today()`, which only form logic may use: the engine has no clock.
    """
    try:
        result = _Checker(variables, allow_today).type_of(node)
        if expect is not None and result != expect:
            raise ExpressionError(
                f"expected {describe(expect)}, but the expression gives {describe(result)}",
                node.position,
            )
    except ExpressionError as error:
        raise error.with_text(node.source) from None
    return result


def comparable(left: ValueType, right: ValueType, operator: str) -> bool:
    """Whether `left operator right` is allowed; dates and datetimes mix (a date is midnight)."""
    if left in _MOMENTS and right in _MOMENTS:
        return True
    if left != right or left == "codes":
        return False
    return operator in ("=", "<>") or left in _ORDERED


class _Checker:
    def __init__(self, variables: Mapping[str, ValueType], allow_today: bool) -> None:
        self.variables = variables
        self.allow_today = allow_today

    def type_of(self, node: Node) -> ValueType:
        if isinstance(node, NumberLiteral):
            return "number"
        if isinstance(node, TextLiteral):
            return "text"
        if isinstance(node, BooleanLiteral):
            return "boolean"
        if isinstance(node, Variable):
            return self.variable(node)
        if isinstance(node, Unary):
            wanted: ValueType = "boolean" if node.operator == "not" else "number"
            self.require(node.operand, wanted, f"'{node.operator}'")
            return wanted
        if isinstance(node, Binary):
            return self.binary(node)
        if isinstance(node, Membership):
            operand = self.type_of(node.operand)
            for item in node.items:
                self.compare(operand, item, "=", node.operator_position, "in")
            return "boolean"
        if isinstance(node, Call):
            return self.call(node)
        raise TypeError(f"not an expression node: {node!r}")

    def variable(self, node: Variable) -> ValueType:
        found = self.variables.get(node.name)
        if found is None:
            close = difflib.get_close_matches(node.name, list(self.variables), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ExpressionError(f"unknown variable '{node.name}'{hint}", node.position)
        return found

    def require(self, node: Node, wanted: ValueType | frozenset[str], role: str) -> ValueType:
        found = self.type_of(node)
        allowed = {wanted} if isinstance(wanted, str) else wanted
        if found not in allowed:
            needs = " or ".join(describe(t) for t in sorted(allowed))  # type: ignore[arg-type]
            raise ExpressionError(f"{role} needs {needs}, not {describe(found)}", node.position)
        return found

    def binary(self, node: Binary) -> ValueType:
        if node.operator in LOGICAL:
            self.require(node.left, "boolean", f"'{node.operator}'")
            self.require(node.right, "boolean", f"'{node.operator}'")
            return "boolean"
        if node.operator in ARITHMETIC:
            hint = "; use datediff() for time between dates" if node.operator == "-" else ""
            for side in (node.left, node.right):
                found = self.type_of(side)
                if found != "number":
                    raise ExpressionError(
                        f"'{node.operator}' needs numbers, not {describe(found)}{hint}",
                        side.position,
                    )
            return "number"
        self.compare(self.type_of(node.left), node.right, node.operator, node.operator_position)
        return "boolean"

    def compare(
        self, left: ValueType, right_node: Node, operator: str, position: int, word: str = ""
    ) -> None:
        right = self.type_of(right_node)
        if comparable(left, right, operator):
            return
        shown = word or operator
        if left == right == "codes":
            reason = "a multiple-choice field is tested with checked(field, code)"
            raise ExpressionError(f"cannot use '{shown}' here: {reason}", position)
        if left == right:
            raise ExpressionError(f"'{shown}' cannot order {describe(left)}", position)
        raise ExpressionError(
            f"cannot compare {describe(left)} with {describe(right)} ('{shown}')", position
        )

    def call(self, node: Call) -> ValueType:
        if node.name not in ARITY:
            close = difflib.get_close_matches(node.name.lower(), list(ARITY), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ExpressionError(f"unknown function '{node.name}'{hint}", node.position)
        fewest, most = ARITY[node.name]
        count = len(node.arguments)
        if count < fewest or (most is not None and count > most):
            wanted = str(fewest) if fewest == most else f"{fewest} or more"
            if most is not None and most != fewest:
                wanted = f"{fewest} to {most}"
            raise ExpressionError(
                f"{node.name}() takes {wanted} argument{'s' if wanted != '1' else ''}, got {count}",
                node.position,
            )
        return getattr(self, f"call_{node.name}")(node)  # type: ignore[no-any-return]

    def call_isblank(self, node: Call) -> ValueType:
        self.type_of(node.arguments[0])
        return "boolean"

    def call_today(self, node: Call) -> ValueType:
        if not self.allow_today:
            raise ExpressionError(
                "today() is not allowed here: results and rules must not depend on the clock",
                node.position,
            )
        return "date"

    def call_datediff(self, node: Call) -> ValueType:
        first, second, unit = node.arguments
        self.require(first, _MOMENTS, "datediff()")
        self.require(second, _MOMENTS, "datediff()")
        if not isinstance(unit, TextLiteral) or unit.value not in DATEDIFF_UNITS:
            units = ", ".join(f"'{u}'" for u in DATEDIFF_UNITS)
            raise ExpressionError(f"the unit of datediff() must be one of {units}", unit.position)
        return "number"

    def call_checked(self, node: Call) -> ValueType:
        field, code = node.arguments
        self.require(field, "codes", "checked()")
        if not isinstance(code, NumberLiteral) or not isinstance(code.value, int):
            raise ExpressionError(
                "the code in checked() must be a whole number, as in checked(symptoms, 2)",
                code.position,
            )
        return "boolean"

    def call_year(self, node: Call) -> ValueType:
        self.require(node.arguments[0], _MOMENTS, f"{node.name}()")
        return "number"

    call_month = call_year

    def call_min(self, node: Call) -> ValueType:
        first = self.require(node.arguments[0], _ORDERED - {"text"}, f"{node.name}()")
        for argument in node.arguments[1:]:
            self.require(argument, first, f"{node.name}() of {describe(first)}")
        return first

    call_max = call_min

    def call_round(self, node: Call) -> ValueType:
        self.require(node.arguments[0], "number", "round()")
        if len(node.arguments) == 2:
            digits = node.arguments[1]
            if (
                not isinstance(digits, NumberLiteral)
                or not isinstance(digits.value, int)
                or abs(digits.value) > MAX_ROUND_DIGITS
            ):
                raise ExpressionError(
                    f"the digits of round() must be a whole number from -{MAX_ROUND_DIGITS} "
                    f"to {MAX_ROUND_DIGITS}",
                    digits.position,
                )
        return "number"


def types_from_schema(schema: pl.Schema | Mapping[str, pl.DataType]) -> dict[str, ValueType]:
    """Value types of a frame's columns, for checking expressions against a snapshot.

    Columns of other kinds (durations, structs, lists of text) are left out, so an
    expression that uses them fails as an unknown variable rather than deep in polars.
    """
    types: dict[str, ValueType] = {}
    for name, dtype in schema.items():
        found = _type_of_dtype(dtype)
        if found is not None:
            types[name] = found
    return types


def _type_of_dtype(dtype: pl.DataType) -> ValueType | None:
    if dtype.is_numeric():
        return "number"
    if isinstance(dtype, pl.String | pl.Categorical | pl.Enum):
        return "text"
    if isinstance(dtype, pl.Boolean):
        return "boolean"
    if isinstance(dtype, pl.Datetime):
        return "datetime"
    if isinstance(dtype, pl.Date):
        return "date"
    if isinstance(dtype, pl.Time):
        return "time"
    if isinstance(dtype, pl.List) and dtype.inner.is_integer():
        return "codes"
    return None
