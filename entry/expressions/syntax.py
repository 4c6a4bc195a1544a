"""Reading the text of an expression into its tree: a tokenizer and a precedence-climbing parser.

The text is never handed to Python (`eval`, `ast`): only the tokens below exist, so a form
field or an indicator file cannot run code. Every error is an `ExpressionError` with the
position of the offending character, including for random text (a property test holds us to
that). Nesting is bounded so that deep input fails with a message, not a RecursionError.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal

from entry.expressions.errors import ExpressionError
from entry.expressions.nodes import (
    Binary,
    BinaryOperator,
    BooleanLiteral,
    Call,
    Membership,
    Node,
    NumberLiteral,
    TextLiteral,
    Unary,
    Variable,
    depth,
)

MAX_NESTING = 50
"""Parentheses, function calls and prefix operators inside each other."""
MAX_DEPTH = 100
"""Levels of the finished tree (long chains of `and` count too)."""
LARGEST_INTEGER = 2**63 - 1
"""Whole numbers must fit the 64-bit integers of the engine's columns."""

KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false"})
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_OPERATORS = ("<=", ">=", "<>", "!=", "=", "<", ">", "+", "-", "*", "/", "(", ")", ",")
_HINTS = {
    "==": "equality is written with a single '='",
    "[": "square brackets are REDCap syntax: write the variable name without them",
    "]": "square brackets are REDCap syntax: write the variable name without them",
    "&": "write 'and' instead of '&'",
    "|": "write 'or' instead of '|'",
    "!": "'not equal' is written '<>' or '!=', negation 'not'",
}

# Binding strength, weakest first; comparisons (and `in`) do not chain.
_OR, _AND, _NOT, _COMPARE, _ADD, _MULTIPLY = 1, 2, 3, 4, 5, 6
_LEVELS: dict[str, int] = {
    "or": _OR,
    "and": _AND,
    **dict.fromkeys(("=", "<>", "!=", "<", "<=", ">", ">="), _COMPARE),
    "+": _ADD,
    "-": _ADD,
    "*": _MULTIPLY,
    "/": _MULTIPLY,
}
_BINARY: dict[str, BinaryOperator] = {
    "or": "or",
    "and": "and",
    "=": "=",
    "<>": "<>",
    "!=": "<>",
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
    "+": "+",
    "-": "-",
    "*": "*",
    "/": "/",
}

TokenKind = Literal["number", "text", "name", "keyword", "operator", "end"]


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    text: str
    position: int
    value: int | float | str | None = None

    def describe(self) -> str:
        return "the end of the expression" if self.kind == "end" else repr(self.text)


def tokenize(text: str) -> list[Token]:
    """Split the text into tokens, ending with an `end` token at `len(text)`."""
    tokens: list[Token] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char.isspace():
            index += 1
            continue
        if char in "'\"":
            token = _read_text(text, index)
        elif match := _NUMBER.match(text, index):
            token = _number_token(match.group(), index, text)
        elif match := _NAME.match(text, index):
            word = match.group()
            if word.lower() in KEYWORDS:
                token = Token("keyword", word, index, word.lower())
            else:
                token = Token("name", word, index, word)
        else:
            token = _operator_token(text, index)
        tokens.append(token)
        index += len(token.text)
    tokens.append(Token("end", "", len(text)))
    return tokens


def _read_text(text: str, start: int) -> Token:
    """A quoted text; the quote character is written twice to include it ('it''s')."""
    quote = text[start]
    index = start + 1
    pieces: list[str] = []
    while True:
        end = text.find(quote, index)
        if end < 0:
            raise ExpressionError("unterminated text: the closing quote is missing", start, text)
        pieces.append(text[index:end])
        if text.startswith(quote, end + 1):
            pieces.append(quote)
            index = end + 2
            continue
        return Token("text", text[start : end + 1], start, "".join(pieces))


def _number_token(digits: str, position: int, text: str) -> Token:
    value: int | float
    if "." in digits:
        value = float(digits)
        too_large = value == float("inf")
    else:
        value = int(digits)
        too_large = value > LARGEST_INTEGER
    if too_large:
        raise ExpressionError("number too large", position, text)
    return Token("number", digits, position, value)


def _operator_token(text: str, index: int) -> Token:
    two = text[index : index + 2]
    if two in _HINTS:
        raise ExpressionError(f"unexpected '{two}': {_HINTS[two]}", index, text)
    for operator in _OPERATORS:
        if text.startswith(operator, index):
            return Token("operator", operator, index, operator)
    char = text[index]
    hint = f": {_HINTS[char]}" if char in _HINTS else ""
    raise ExpressionError(f"unexpected character {char!r}{hint}", index, text)


def parse(text: str) -> Node:
    """Parse an expression; the root node carries `text` for error messages."""
    parser = _Parser(text, tokenize(text))
    if parser.peek().kind == "end":
        raise ExpressionError("the expression is empty", 0, text)
    node = parser.expression(_OR)
    extra = parser.peek()
    if extra.kind != "end":
        raise ExpressionError(
            f"unexpected {extra.describe()} after the end of the expression", extra.position, text
        )
    if depth(node) > MAX_DEPTH:
        raise ExpressionError(f"the expression is deeper than {MAX_DEPTH} levels", 0, text)
    return replace(node, source=text)


class _Parser:
    """Precedence climbing over the token list; one instance per parse."""

    def __init__(self, text: str, tokens: list[Token]) -> None:
        self.text = text
        self.tokens = tokens
        self.index = 0
        self.nesting = 0

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.peek()
        self.index += 1
        return token

    def error(self, message: str, position: int) -> ExpressionError:
        return ExpressionError(message, position, self.text)

    def unexpected(self, token: Token) -> ExpressionError:
        if token.kind == "end":
            return self.error("the expression ends too early", token.position)
        return self.error(f"unexpected {token.describe()}", token.position)

    def expect(self, operator: str, context: str) -> Token:
        token = self.peek()
        if token.kind != "operator" or token.text != operator:
            raise self.error(
                f"expected '{operator}' {context}, found {token.describe()}", token.position
            )
        return self.advance()

    def enter(self, position: int) -> None:
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise self.error(f"the expression is nested more than {MAX_NESTING} levels", position)

    def binary_level(self) -> int | None:
        token = self.peek()
        if token.kind == "keyword" and token.value == "in":
            return _COMPARE
        if token.kind == "keyword" and token.value == "not" and self._is_in(self.peek(1)):
            return _COMPARE
        if token.kind in ("keyword", "operator") and isinstance(token.value, str):
            return _LEVELS.get(token.value)
        return None

    @staticmethod
    def _is_in(token: Token) -> bool:
        return token.kind == "keyword" and token.value == "in"

    def expression(self, min_level: int) -> Node:
        left = self.prefix(min_level)
        while (level := self.binary_level()) is not None and level >= min_level:
            operator = self.advance()
            if level == _COMPARE:
                left = self.comparison(left, operator)
                following = self.peek()
                if self.binary_level() == _COMPARE:
                    raise self.error(
                        "comparisons cannot be chained: join them with 'and'", following.position
                    )
            else:
                right = self.expression(level + 1)
                name = _BINARY[operator.text.lower()]
                left = Binary(left.position, name, left, right, operator.position)
        return left

    def comparison(self, left: Node, operator: Token) -> Node:
        if operator.value == "not" or operator.value == "in":
            negated = operator.value == "not"
            if negated:
                self.advance()
            return Membership(left.position, left, self.item_list(), negated, operator.position)
        right = self.expression(_ADD)
        name = _BINARY[operator.text]
        return Binary(left.position, name, left, right, operator.position)

    def item_list(self) -> tuple[Node, ...]:
        opening = self.expect("(", "after 'in', as in x in (1, 2)")
        self.enter(opening.position)
        items = self.arguments(opening, allow_empty=False)
        self.nesting -= 1
        return items

    def arguments(self, opening: Token, *, allow_empty: bool) -> tuple[Node, ...]:
        """A comma-separated list up to the ')' that closes `opening`."""
        items: list[Node] = []
        if self.peek().text == ")" and self.peek().kind == "operator":
            if not allow_empty:
                raise self.error("expected at least one value in the list", self.peek().position)
            self.advance()
            return ()
        while True:
            items.append(self.expression(_OR))
            token = self.peek()
            if token.kind == "operator" and token.text == ",":
                self.advance()
                continue
            if token.kind == "operator" and token.text == ")":
                self.advance()
                return tuple(items)
            raise self.error(
                f"expected ',' or ')' to close the '(' at position {opening.position}, "
                f"found {token.describe()}",
                token.position,
            )

    def prefix(self, min_level: int) -> Node:
        token = self.peek()
        if token.kind == "keyword" and token.value == "not":
            if min_level > _NOT:
                raise self.error("put 'not ...' in parentheses here", token.position)
            self.advance()
            self.enter(token.position)
            following = self.peek()
            if following.kind == "keyword" and following.value == "not":
                operand = self.prefix(_NOT)
            else:
                operand = self.expression(_COMPARE)
            self.nesting -= 1
            return Unary(token.position, "not", operand)
        if token.kind == "operator" and token.text == "-":
            self.advance()
            self.enter(token.position)
            operand = self.prefix(_MULTIPLY + 1)
            self.nesting -= 1
            if isinstance(operand, NumberLiteral):
                return NumberLiteral(token.position, -operand.value)
            return Unary(token.position, "-", operand)
        return self.primary()

    def primary(self) -> Node:
        token = self.advance()
        if token.kind == "number":
            assert isinstance(token.value, int | float)
            return NumberLiteral(token.position, token.value)
        if token.kind == "text":
            return TextLiteral(token.position, str(token.value))
        if token.kind == "keyword" and token.value in ("true", "false"):
            return BooleanLiteral(token.position, token.value == "true")
        if token.kind == "name":
            following = self.peek()
            if following.kind == "operator" and following.text == "(":
                self.advance()
                self.enter(following.position)
                arguments = self.arguments(following, allow_empty=True)
                self.nesting -= 1
                return Call(token.position, token.text, arguments)
            return Variable(token.position, token.text)
        if token.kind == "operator" and token.text == "(":
            self.enter(token.position)
            inner = self.expression(_OR)
            self.expect(")", f"to close the '(' at position {token.position}")
            self.nesting -= 1
            return inner
        raise self.unexpected(token)
