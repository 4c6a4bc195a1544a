"""REDCap's branching logic and calculations, translated to our expression language and back.

REDCap writes `[sex] = '1' and [symptoms(2)] = '1'`; we write `sex = 1 and checked(symptoms,
2)`. Importing reads REDCap's text into a small tree of its own and writes our text from it;
exporting walks our parsed tree. Anything without a faithful counterpart (events, smart
variables, functions we lack) is refused with its position rather than guessed at. The
translation table is in docs/dictionary.md, with the one known difference: REDCap's
datediff() gives |b − a| as a fraction unless told otherwise, ours gives b − a in whole units.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from entry.expressions import Node
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

UNITS = {"y": "years", "d": "days", "h": "hours", "m": "minutes"}
"""REDCap's datediff units with a counterpart; months ("M") and seconds ("s") have none."""
FUNCTIONS = frozenset({"round", "min", "max", "year", "month"})
"""Functions spelt the same in both languages."""
MAX_POWER = 10
MAX_NESTING = 50
_DATE_ORDERS = frozenset({"ymd", "dmy", "mdy", "true", "false"})

_OR, _AND, _NOT, _COMPARE, _ADD, _MULTIPLY, _ATOM = range(1, 8)
_LEVELS = {"or": _OR, "and": _AND, "+": _ADD, "-": _ADD, "*": _MULTIPLY, "/": _MULTIPLY}
_COMPARISONS = {"=": "=", "==": "=", "<>": "<>", "!=": "<>"} | {
    o: o for o in ("<", "<=", ">", ">=")
}
_NEGATED = {"=": "<>", "<>": "=", "<": ">=", ">=": "<", ">": "<=", "<=": ">"}
_TOKEN = re.compile(
    r"""\s*(?:(?P<field>\[[^\]]*\])|(?P<text>'[^']*'|"[^"]*")|(?P<number>\d+(?:\.\d+)?|\.\d+)"""
    r"""|(?P<word>[A-Za-z_][A-Za-z0-9_]*)|(?P<operator><=|>=|<>|!=|==|[=<>+\-*/^(),]))"""
)
_FIELD = re.compile(r"\[([a-z][a-z0-9_]*)(?:\(([^()]*)\))?\]")


class LogicError(ValueError):
    """Logic that cannot be translated; `position` is a 0-based offset in the source text."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message, position)
        self.message = message
        self.position = position

    def __str__(self) -> str:
        return f"{self.message} (at position {self.position})"


# --- REDCap → ours ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    position: int


@dataclass(frozen=True)
class _Out:
    """Translated text and how tightly it binds, to place parentheses only where needed."""

    text: str
    level: int
    kind: str = "value"  # "field", "number", "text", "blank", "option", "value"
    name: str = ""
    position: int = 0


def from_redcap(text: str, kinds: Mapping[str, str]) -> str:
    """Our spelling of REDCap logic; `kinds` gives each field's value type ("codes" for
    checkboxes), so '1' compared with a numeric field becomes the number 1."""
    return _Importer(text, kinds).translate()


class _Importer:
    def __init__(self, text: str, kinds: Mapping[str, str]) -> None:
        self.text = text
        self.kinds = kinds
        self.tokens = self._tokenize()
        self.index = 0
        self.nesting = 0

    def _tokenize(self) -> list[_Token]:
        tokens: list[_Token] = []
        position = 0
        while position < len(self.text):
            match = _TOKEN.match(self.text, position)
            if match is None or match.lastgroup is None:
                start = len(self.text) - len(self.text[position:].lstrip())
                if start >= len(self.text):
                    break
                raise LogicError(f"unexpected character {self.text[start]!r}", start)
            tokens.append(
                _Token(match.lastgroup, match.group(match.lastgroup), match.start(match.lastgroup))
            )
            position = match.end()
        tokens.append(_Token("end", "", len(self.text)))
        return tokens

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index = min(self.index + 1, len(self.tokens) - 1)
        return token

    def enter(self, position: int) -> None:
        """Count one level of parentheses, call or sign; deep input fails with a message."""
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise LogicError(f"the logic is nested more than {MAX_NESTING} levels", position)

    def is_word(self, *words: str) -> bool:
        token = self.peek()
        return token.kind == "word" and token.text.lower() in words

    def is_operator(self, *operators: str) -> bool:
        token = self.peek()
        return token.kind == "operator" and token.text in operators

    def translate(self) -> str:
        if self.peek().kind == "end":
            raise LogicError("the logic is empty", 0)
        result = self.logical(_OR)
        if self.peek().kind != "end":
            raise LogicError(f"unexpected {self.peek().text!r}", self.peek().position)
        return self.value(result).text

    def logical(self, level: int) -> _Out:
        left = self.comparison() if level == _AND else self.logical(_AND)
        word = "or" if level == _OR else "and"
        while self.is_word(word):
            self.advance()
            right = self.comparison() if level == _AND else self.logical(_AND)
            left = _Out(
                f"{_wrap(self.value(left), level)} {word} {_wrap(self.value(right), level)}",
                level,
                position=left.position,
            )
        return left

    def comparison(self) -> _Out:
        left = self.arithmetic(_ADD)
        if not self.is_operator(*_COMPARISONS):
            return left
        token = self.advance()
        right = self.arithmetic(_ADD)
        return self.compare(left, _COMPARISONS[token.text], right, token.position)

    def compare(self, left: _Out, operator: str, right: _Out, position: int) -> _Out:
        if right.kind in ("option", "blank") and left.kind not in ("option", "blank"):
            left, right = right, left
            operator = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}.get(operator, operator)
        if left.kind == "option":
            return self.checkbox(left, operator, right, position)
        if left.kind == "blank":
            if operator not in ("=", "<>") or right.kind == "blank":
                raise LogicError("'' (blank) can only be tested with = or <>", position)
            test = f"isblank({self.value(right).text})"
            return _Out(
                test if operator == "=" else f"not {test}", _NOT if operator != "=" else _ATOM
            )
        left, right = self.literal_for(left, right), self.literal_for(right, left)
        text = f"{_wrap(self.value(left), _ADD)} {operator} {_wrap(self.value(right), _ADD)}"
        return _Out(text, _COMPARE)

    def checkbox(self, option: _Out, operator: str, other: _Out, position: int) -> _Out:
        value = other.text.strip("'\"") if other.kind in ("text", "number") else None
        if operator not in ("=", "<>") or value not in ("0", "1"):
            raise LogicError("a checkbox option can only be compared with '1' or '0'", position)
        checked = (value == "1") == (operator == "=")
        test = f"checked({option.name}, {option.text})"
        return _Out(test, _ATOM) if checked else _Out(f"not {test}", _NOT)

    def literal_for(self, literal: _Out, other: _Out) -> _Out:
        """'1' beside a numeric field is the number 1; 1 beside a text field is '1'."""
        kind = self.kinds.get(other.name) if other.kind == "field" else None
        if literal.kind == "text" and kind == "number" and _is_number(literal.text[1:-1]):
            return _Out(_number(literal.text[1:-1]), _ATOM, "number")
        if literal.kind == "number" and kind == "text":
            return _Out(f"'{literal.text}'", _ATOM, "text")
        return literal

    def value(self, out: _Out) -> _Out:
        """A translated operand used as a value; REDCap-only operands stop here."""
        if out.kind == "blank":
            raise LogicError("'' (blank) can only be compared with = or <>", out.position)
        if out.kind == "boolean":
            raise LogicError(
                "true and false are only read as datediff()'s last argument", out.position
            )
        if out.kind == "option":
            raise LogicError(
                f"a checkbox option, [{out.name}({out.text})], must be compared with '1' or '0'",
                out.position,
            )
        if out.kind == "field" and self.kinds.get(out.name) == "codes":
            raise LogicError(
                f"[{out.name}] is a checkbox: name an option, as [{out.name}(1)]", out.position
            )
        return out

    def arithmetic(self, level: int) -> _Out:
        if level > _MULTIPLY:
            return self.power()
        left = self.arithmetic(level + 1)
        operators = ("+", "-") if level == _ADD else ("*", "/")
        while self.is_operator(*operators):
            operator = self.advance().text
            right = self.arithmetic(level + 1)
            right_text = _wrap(self.value(right), level + (operator in "-/"))
            left = _Out(f"{_wrap(self.value(left), level)} {operator} {right_text}", level)
        return left

    def power(self) -> _Out:
        base = self.unary()
        if not self.is_operator("^"):
            return base
        token = self.advance()
        exponent = self.unary()
        if (
            exponent.kind != "number"
            or not exponent.text.isdigit()
            or not 2 <= int(exponent.text) <= MAX_POWER
        ):
            raise LogicError(
                f"only whole powers from 2 to {MAX_POWER} can be translated (as repeated '*')",
                token.position,
            )
        factor = _wrap(self.value(base), _ATOM)
        return _Out(" * ".join([factor] * int(exponent.text)), _MULTIPLY)

    def unary(self) -> _Out:
        if self.is_operator("-"):
            self.enter(self.advance().position)
            operand = self.value(self.unary())
            self.nesting -= 1
            if operand.kind == "number":  # folded, as our parser folds it
                text = operand.text[1:] if operand.text.startswith("-") else f"-{operand.text}"
                return _Out(text, _ATOM, "number", position=operand.position)
            return _Out(f"-{_wrap(operand, _ATOM)}", _ATOM)
        return self.primary()

    def primary(self) -> _Out:
        token = self.advance()
        at = token.position
        if token.kind == "field":
            return self.field(token)
        if token.kind == "number":
            return _Out(_number(token.text), _ATOM, "number", position=at)
        if token.kind == "text":
            if token.text in ("''", '""'):
                return _Out("''", _ATOM, "blank", position=at)
            return _Out(_quote(token.text[1:-1], at), _ATOM, "text", position=at)
        if token.kind == "word" and self.is_operator("("):
            return self.call(token)
        if token.kind == "word" and token.text.lower() in ("true", "false"):
            return _Out(token.text.lower(), _ATOM, "boolean", position=at)
        if token.kind == "operator" and token.text == "(":
            self.enter(at)
            inner = self.logical(_OR)
            if not self.is_operator(")"):
                raise LogicError(
                    f"expected ')' to close the '(' at position {token.position}",
                    self.peek().position,
                )
            self.advance()
            self.nesting -= 1
            return inner
        found = "the end of the logic" if token.kind == "end" else repr(token.text)
        raise LogicError(f"unexpected {found}", token.position)

    def field(self, token: _Token) -> _Out:
        if self.peek().kind == "field" and self.peek().position == token.position + len(token.text):
            raise LogicError(
                "event and instance references ([event][field]) cannot be translated",
                token.position,
            )
        match = _FIELD.fullmatch(token.text)
        if match is None:
            raise LogicError(
                f"{token.text} is not a field: smart variables and piping modifiers "
                "cannot be translated",
                token.position,
            )
        name, code = match.groups()
        if name not in self.kinds:
            raise LogicError(f"unknown field [{name}]", token.position)
        if code is None:
            return _Out(name, _ATOM, "field", name, token.position)
        if self.kinds[name] != "codes":
            raise LogicError(f"[{name}] is not a checkbox, so it has no options", token.position)
        if not re.fullmatch(r"\d+", code):
            raise LogicError(
                f"checkbox code {code!r} is not a whole number, which checked() needs",
                token.position,
            )
        return _Out(str(int(code)), _ATOM, "option", name, token.position)

    def call(self, token: _Token) -> _Out:
        name = token.text.lower()
        self.enter(self.advance().position)  # (
        arguments: list[_Out] = []
        while not self.is_operator(")"):
            arguments.append(self.logical(_OR))
            if self.is_operator(","):
                self.advance()
            elif not self.is_operator(")"):
                raise LogicError(f"expected ',' or ')' in {token.text}()", self.peek().position)
        self.advance()
        self.nesting -= 1
        if name == "datediff":
            return self.datediff(arguments, token.position)
        if name not in FUNCTIONS:
            raise LogicError(f"REDCap's {token.text}() has no counterpart here", token.position)
        inner = ", ".join(self.value(argument).text for argument in arguments)
        return _Out(f"{name}({inner})", _ATOM)

    def datediff(self, arguments: list[_Out], position: int) -> _Out:
        if not 3 <= len(arguments) <= 5:
            raise LogicError("datediff() takes 3 to 5 arguments", position)
        moments = [self.moment(argument, position) for argument in arguments[:2]]
        for extra in arguments[3:]:
            if extra.kind != "boolean" and extra.text.strip("'\"") not in _DATE_ORDERS:
                raise LogicError(
                    "datediff()'s 4th and 5th arguments are a date format or true/false",
                    extra.position,
                )
        unit = arguments[2].text.strip("'\"") if arguments[2].kind == "text" else None
        if unit not in UNITS:
            raise LogicError(
                f"datediff() unit {arguments[2].text} has no counterpart (use y, d, h or m)",
                position,
            )
        return _Out(f"datediff({moments[0]}, {moments[1]}, '{UNITS[unit]}')", _ATOM)

    def moment(self, argument: _Out, position: int) -> str:
        if argument.kind == "text" and argument.text.strip("'\"").lower() == "today":
            return "today()"
        if argument.kind == "field":
            return argument.text
        raise LogicError("datediff() compares fields or 'today'", position)


def _wrap(out: _Out, level: int) -> str:
    return out.text if out.level >= level else f"({out.text})"


def _is_number(text: str) -> bool:
    return re.fullmatch(r"-?(\d+(\.\d+)?|\.\d+)", text.strip()) is not None


def _number(text: str) -> str:
    text = text.strip()
    negative = text.startswith("-")
    digits = text.removeprefix("-")
    digits = "0" + digits if digits.startswith(".") else digits
    return f"-{digits}" if negative else digits


def _quote(value: str, position: int) -> str:
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise LogicError("text with both kinds of quote cannot be translated", position)


# --- ours → REDCap ---------------------------------------------------------------------


def to_redcap(node: Node, types: Mapping[str, str]) -> str:
    """REDCap's spelling of a parsed expression. `types` gives each variable's dictionary
    type, so choice codes are quoted as REDCap writes them ('1'), numbers are not."""
    return _Exporter(types).emit(node, negate=False).text


class _Exporter:
    def __init__(self, types: Mapping[str, str]) -> None:
        self.types = types

    def emit(self, node: Node, negate: bool) -> _Out:
        if isinstance(node, Unary) and node.operator == "not":
            return self.emit(node.operand, not negate)
        if isinstance(node, Binary) and node.operator in ("and", "or"):
            operator = {"and": "or", "or": "and"}[node.operator] if negate else node.operator
            level = _LEVELS[operator]
            left, right = self.emit(node.left, negate), self.emit(node.right, negate)
            return _Out(f"{_wrap(left, level)} {operator} {_wrap(right, level)}", level)
        if isinstance(node, Binary) and node.operator in _NEGATED:
            operator = _NEGATED[node.operator] if negate else node.operator
            left, right = self.operand(node.left, node.right), self.operand(node.right, node.left)
            return _Out(f"{_wrap(left, _ADD)} {operator} {_wrap(right, _ADD)}", _COMPARE)
        if isinstance(node, Membership):
            operator = "<>" if negate != node.negated else "="
            joiner = " and " if operator == "<>" else " or "
            operand = self.operand(node.operand, node.items[0])
            parts = [
                f"{operand.text} {operator} {self.operand(item, node.operand).text}"
                for item in node.items
            ]
            return (
                _Out(joiner.join(parts), _AND if operator == "<>" else _OR)
                if len(parts) > 1
                else _Out(parts[0], _COMPARE)
            )
        if isinstance(node, Call) and node.name == "isblank":
            inner = self.value(node.arguments[0])
            return _Out(f"{_wrap(inner, _ADD)} {'<>' if negate else '='} ''", _COMPARE)
        if isinstance(node, Call) and node.name == "checked":
            field, code = node.arguments
            name = field.name if isinstance(field, Variable) else None
            if name is None or not isinstance(code, NumberLiteral):
                raise LogicError("checked() needs a field and a code", node.position)
            return _Out(f"[{name}({code.value})] = '{0 if negate else 1}'", _COMPARE)
        if negate and not isinstance(node, BooleanLiteral):
            raise LogicError("only conditions can be negated", node.position)
        return self.value(node)

    def operand(self, node: Node, other: Node) -> _Out:
        """A comparison side: a number beside a choice field is quoted, as REDCap writes codes."""
        if (
            isinstance(node, NumberLiteral)
            and isinstance(other, Variable)
            and self.types.get(other.name) in ("single", "yesno", "multiple")
        ):
            return _Out(f"'{_number_text(node.value)}'", _ATOM)
        return self.value(node)

    def value(self, node: Node) -> _Out:
        if isinstance(node, Variable):
            return _Out(f"[{node.name}]", _ATOM)
        if isinstance(node, NumberLiteral):
            return _Out(_number_text(node.value), _ATOM)
        if isinstance(node, TextLiteral):
            return _Out(_quote(node.value, node.position), _ATOM)
        if isinstance(node, BooleanLiteral):
            raise LogicError("true and false have no REDCap spelling", node.position)
        if isinstance(node, Unary):
            return _Out(f"-{_wrap(self.value(node.operand), _ATOM)}", _ATOM)
        if isinstance(node, Binary) and node.operator in _LEVELS:
            level = _LEVELS[node.operator]
            left = _wrap(self.value(node.left), level)
            right = _wrap(self.value(node.right), level + (node.operator in "-/"))
            return _Out(f"{left} {node.operator} {right}", level)
        if isinstance(node, Call):
            return self.call(node)
        return self.emit(node, negate=False)

    def call(self, node: Call) -> _Out:
        if node.name == "datediff":
            first, second, unit = node.arguments
            units = {ours: theirs for theirs, ours in UNITS.items()}
            if not isinstance(unit, TextLiteral) or unit.value not in units:
                raise LogicError(
                    "datediff() needs a unit of minutes, hours, days or years", node.position
                )
            moments = ", ".join(self.moment(argument) for argument in (first, second))
            return _Out(f"datediff({moments}, '{units[unit.value]}')", _ATOM)
        if node.name not in FUNCTIONS:
            raise LogicError(f"{node.name}() has no REDCap counterpart", node.position)
        inner = ", ".join(self.value(argument).text for argument in node.arguments)
        return _Out(f"{node.name}({inner})", _ATOM)

    def moment(self, node: Node) -> str:
        if isinstance(node, Call) and node.name == "today":
            return "'today'"
        return self.value(node).text


def _number_text(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
