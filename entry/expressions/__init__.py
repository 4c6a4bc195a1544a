"""One expression language for show-if logic, validation rules and indicators (DESIGN.md).

Parsed into a tree, never `eval`ed; checked against the dictionary's types; evaluated on one
record (`evaluate`, forms) or compiled to polars (`to_polars`, the engine), with the same
answer on every row, blanks included. The grammar is documented in docs/expressions.md.
"""

from __future__ import annotations

from entry.expressions.errors import ExpressionError
from entry.expressions.frame import Compiled, compile_expression, to_polars
from entry.expressions.nodes import Node, variables_of
from entry.expressions.record import evaluate
from entry.expressions.syntax import parse
from entry.expressions.types import ValueType, check, types_from_schema

__all__ = [
    "Compiled",
    "ExpressionError",
    "Node",
    "ValueType",
    "check",
    "compile_expression",
    "evaluate",
    "parse",
    "to_polars",
    "types_from_schema",
    "variables_of",
]
