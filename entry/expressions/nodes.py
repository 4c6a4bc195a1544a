"""The parsed tree of an expression: small frozen dataclasses, shared by every evaluator.

Every node knows where it starts in the text (`position`, a 0-based character offset), so
the type checker and the evaluators can point at the culprit. The root also carries the
whole text (`source`, left out of equality) for the caret line of an error message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

BinaryOperator = Literal["or", "and", "=", "<>", "<", "<=", ">", ">=", "+", "-", "*", "/"]
COMPARISONS: frozenset[str] = frozenset({"=", "<>", "<", "<=", ">", ">="})
ARITHMETIC: frozenset[str] = frozenset({"+", "-", "*", "/"})
LOGICAL: frozenset[str] = frozenset({"and", "or"})


@dataclass(frozen=True)
class Node:
    """Any node; `position` is where its text starts."""

    position: int
    source: str = field(default="", compare=False, repr=False, kw_only=True)


@dataclass(frozen=True)
class NumberLiteral(Node):
    value: int | float


@dataclass(frozen=True)
class TextLiteral(Node):
    value: str


@dataclass(frozen=True)
class BooleanLiteral(Node):
    value: bool


@dataclass(frozen=True)
class Variable(Node):
    name: str


@dataclass(frozen=True)
class Unary(Node):
    """`not x` or `-x`; a minus directly before a number is folded into the literal."""

    operator: Literal["not", "-"]
    operand: Node


@dataclass(frozen=True)
class Binary(Node):
    """`left operator right`; `position` is the left side's start, `operator_position` the
    operator's, where a type mismatch between the two sides is reported."""

    operator: BinaryOperator
    left: Node
    right: Node
    operator_position: int


@dataclass(frozen=True)
class Membership(Node):
    """`operand in (items)` or `operand not in (items)`."""

    operand: Node
    items: tuple[Node, ...]
    negated: bool
    operator_position: int


@dataclass(frozen=True)
class Call(Node):
    name: str
    arguments: tuple[Node, ...]


def children(node: Node) -> tuple[Node, ...]:
    """The direct subexpressions of a node, in text order."""
    if isinstance(node, Unary):
        return (node.operand,)
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, Membership):
        return (node.operand, *node.items)
    if isinstance(node, Call):
        return node.arguments
    return ()


def variables_of(node: Node) -> frozenset[str]:
    """Every variable name the expression reads, e.g. to list which indicators use a field."""
    names: set[str] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, Variable):
            names.add(current.name)
        stack.extend(children(current))
    return frozenset(names)


def depth(node: Node) -> int:
    """The number of levels of the tree, counted without recursion (for the parser's limit)."""
    deepest = 0
    stack = [(node, 1)]
    while stack:
        current, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children(current))
    return deepest
